"""The nesting counter shared by the API's parsers and the source clients, against json's own reading."""

import json
import random

import pytest

from daznode.bounded_json import JSON_MAX_DEPTH, JsonTooDeep, json_depth, json_loads_bounded

# Strings that look like nesting or like the end of a string: the counter must read them as text.
TRICKY_TEXT = ["[", "]", "{", "}", '"', "\\", '\\"[', '"]}', "\\\\", "é[", "\u2028", ""]


def depth_of(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


def random_value(rng: random.Random, budget: int):
    kind = rng.choice(["list", "dict", "text", "number"] if budget else ["text", "number"])
    if kind == "list":
        return [random_value(rng, budget - 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        return {rng.choice(TRICKY_TEXT) + str(i): random_value(rng, budget - 1) for i in range(rng.randint(0, 3))}
    return "".join(rng.choices(TRICKY_TEXT, k=rng.randint(0, 4))) if kind == "text" else rng.randint(-9, 9)


def test_it_counts_what_json_nests_whatever_the_strings_hold():
    rng = random.Random(7)
    for _ in range(500):
        value = random_value(rng, rng.randint(0, 8))
        for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
            assert json_depth(text) == json_depth(text.encode()) == depth_of(value), text


def test_it_parses_up_to_the_bound_and_refuses_beyond_it_without_recursing():
    assert json_loads_bounded(b"[" * JSON_MAX_DEPTH + b"]" * JSON_MAX_DEPTH) is not None
    with pytest.raises(JsonTooDeep, match=f"deeper than {JSON_MAX_DEPTH} levels"):
        json_loads_bounded(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(JsonTooDeep):
        json_loads_bounded('{"a":' * 100_000)  # malformed too: refused for its depth before any parse


def test_its_errors_are_value_errors_as_json_s_own_are():
    for bad in (b"[" * 100_000, b"{nope}", b"\xff[]", '"unterminated [[['):
        with pytest.raises(ValueError):
            json_loads_bounded(bad)
    with pytest.raises(json.JSONDecodeError):
        json_loads_bounded("[1]".encode("utf-16-le"))  # only UTF-8: the encoding the depth was counted in
