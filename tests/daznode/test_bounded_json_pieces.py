"""The nesting counter fed in pieces (how the graph is checked without copying 50 MB): cut anywhere, it must
answer as over the whole document."""

import json
import random

from daznode.bounded_json import JsonDepthCounter, json_depth
from tests.daznode.test_bounded_json import depth_of, random_value


def depth_in_pieces(raw: bytes, piece_bytes: int) -> int:
    counter = JsonDepthCounter()
    for start in range(0, len(raw), piece_bytes):
        counter.feed(raw[start : start + piece_bytes])
    return counter.max_depth


def test_it_counts_the_same_depth_wherever_the_pieces_are_cut():
    rng = random.Random(11)
    for _ in range(300):
        value = random_value(rng, rng.randint(0, 8))
        raw = json.dumps(value, ensure_ascii=False).encode()
        for piece_bytes in (1, 2, 3, 5, 8):
            assert depth_in_pieces(raw, piece_bytes) == depth_of(value), (raw, piece_bytes)


def test_a_cut_inside_a_run_of_backslashes_keeps_the_escaped_quote_escaped():
    # '["\\\\\\"]' is a list holding one string: two escaped backslashes, then an escaped quote and a bracket.
    raw = json.dumps(['\\\\"]{']).encode()
    assert json_depth(raw) == 1
    for cut in range(1, len(raw)):
        counter = JsonDepthCounter()
        counter.feed(raw[:cut])
        counter.feed(raw[cut:])
        assert counter.max_depth == 1, cut


def test_a_string_that_spans_pieces_hides_its_brackets():
    raw = b'{"alias": "' + b"[" * 5000 + b'"}'
    assert depth_in_pieces(raw, 1000) == 1
