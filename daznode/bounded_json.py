"""JSON with its nesting bounded before it is parsed: for the API's parsers and for every answer a source sends.

Python's json module recurses once per level, so a document nested a few thousand levels deep raises
RecursionError, which is no ValueError: it escapes every handler written for bad JSON (a 500 in the API, a
task that dies outside the source error hierarchy). The depth is counted first, without recursion and at C
speed (byte replaces and translations, no Python loop per character): the mainnet graph, about 50 MB,
is checked in a fraction of its parse time.

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


def json_depth(data: bytes | str) -> int:
    """How deep arrays and objects nest; brackets inside strings are text, not nesting.

    Escapes are dropped first (an escaped backslash, then an escaped quote, the order JSON pairs them in), so
    every quote left opens or closes a string and every other piece of text lies between strings.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    raw = raw.replace(ESCAPED_BACKSLASH, b"").replace(ESCAPED_QUOTE, b"")
    # Two adjacent quotes are an empty string or the end of one and the start of the next: dropping them keeps
    # every other quote's role, and leaves quotes only around strings that hold brackets (few, so the split
    # that follows makes few pieces).
    quotes_and_brackets = raw.translate(None, NOT_A_QUOTE_OR_BRACKET).replace(QUOTE * 2, b"")
    outside_strings = b"".join(quotes_and_brackets.split(QUOTE)[::2])
    return max(accumulate(array("b", outside_strings.translate(BRACKET_STEPS))), default=0)


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
