"""JSON with its nesting bounded before it is parsed: for the API's parsers and for every answer a source sends.

Python's json module recurses once per level, so a document nested a few thousand levels deep raises
RecursionError, which is no ValueError: it escapes every handler written for bad JSON (a 500 in the API, a
task that dies outside the source error hierarchy). The depth is counted first, without recursion and at C
speed (byte replaces and translations, no Python loop per character) and a piece at a time (JsonDepthCounter):
the mainnet graph, about 50 MB, is checked in a fraction of its parse time and a few MB of memory.

No Django and no app imports here, so the API plumbing and the source clients share one counter.
"""

import json
from array import array
from itertools import accumulate
from typing import Any

# Deeper than anything Daznode or the sources it reads produce (a describegraph document nests 5 levels).
JSON_MAX_DEPTH = 64

ESCAPED_BACKSLASH, ESCAPED_QUOTE, QUOTE = b"\\\\", b'\\"', b'"'
NOT_A_QUOTE_OR_BRACKET = bytes(byte for byte in range(256) if byte not in b'"[]{}')
# An opening bracket steps one level in, a closing one out: as signed bytes, +1 and -1.
BRACKET_STEPS = bytes.maketrans(b"[{]}", bytes([1, 1, 0xFF, 0xFF]))


class JsonTooDeep(ValueError):
    """A ValueError, as json's own errors are, so that a caller's handler for bad JSON catches it too."""


# Counted a piece at a time, so a 50 MB document costs a few copies of one piece, never of the whole.
DEPTH_PIECE_BYTES = 1 << 20


class JsonDepthCounter:
    """json_depth over a document fed in pieces, cut anywhere: the same answer as over the whole.

    Escapes are dropped first (an escaped backslash, then an escaped quote, the order JSON pairs them in), so
    every quote left opens or closes a string and every other piece of text lies between strings. What a piece
    cannot settle alone is carried to the next: an odd trailing backslash (it escapes the next piece's first
    byte), whether it ends inside a string, and the depth it ends at.
    """

    def __init__(self) -> None:
        self.max_depth = 0
        self._depth = 0
        self._in_string = False
        self._carry = b""

    def feed(self, piece: bytes | memoryview) -> None:
        data = self._carry + bytes(piece)
        run = len(data) - len(data.rstrip(b"\\"))
        # Pairs in a trailing run of backslashes are escaped backslashes, text either way; a lone last one
        # escapes whatever comes next.
        self._carry = b"\\" if run % 2 else b""
        data = data[: len(data) - run].replace(ESCAPED_BACKSLASH, b"").replace(ESCAPED_QUOTE, b"")
        # Two adjacent quotes are an empty string or the end of one and the start of the next: dropping them
        # keeps every other quote's role, and leaves quotes only around strings that hold brackets (few, so the
        # split that follows makes few pieces).
        quotes_and_brackets = data.translate(None, NOT_A_QUOTE_OR_BRACKET).replace(QUOTE * 2, b"")
        between = quotes_and_brackets.split(QUOTE)
        outside_strings = b"".join(between[1::2] if self._in_string else between[::2])
        self._in_string ^= len(between) % 2 == 0
        steps = array("b", outside_strings.translate(BRACKET_STEPS))
        self.max_depth = max(self.max_depth, max(accumulate(steps, initial=self._depth)))
        self._depth += sum(steps)


def json_depth(data: bytes | str) -> int:
    """How deep arrays and objects nest; brackets inside strings are text, not nesting."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    counter = JsonDepthCounter()
    view = memoryview(raw)
    for start in range(0, len(view), DEPTH_PIECE_BYTES):
        counter.feed(view[start : start + DEPTH_PIECE_BYTES])
    return counter.max_depth


def json_depth_exceeds(data: bytes | str, max_depth: int) -> bool:
    return json_depth(data) > max_depth


def json_loads_bounded(data: bytes | str, *, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """json.loads for UTF-8 JSON nested at most max_depth deep: JsonTooDeep (a ValueError) when deeper,
    UnicodeDecodeError when bytes are not UTF-8, json.JSONDecodeError when malformed."""
    if json_depth_exceeds(data, max_depth):
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")
    # Decoded here rather than by json.loads, which would also guess UTF-16 and UTF-32: the depth was counted
    # on the bytes as UTF-8 (a BOM allowed), so that is the only encoding the parse may see.
    return json.loads(data.decode("utf-8-sig") if isinstance(data, bytes) else data)
