"""Strict readers for JSON from outside systems. A missing or mistyped field raises ContractViolation naming it
(for example `channels[3].capacity`), so a bad answer is refused as a whole instead of half-used."""

import base64
import binascii
import re
from typing import Any

from sources.clients.errors import ContractViolation

# ASCII digits only, whole text: str.isdigit() also takes "²" (int() refuses it) and other scripts' digits.
INTEGER = re.compile(r"-?[0-9]+")


class Fields:
    """Reads one JSON object, naming fields by their path for errors.

    The readers are named for the JSON type they accept (`integer`, `string`, `object_list`), not after Python's
    builtins: a method called `str` would shadow the type in every annotation below it.
    """

    def __init__(self, data: Any, path: str, source: str):
        if not isinstance(data, dict):
            raise ContractViolation(f"expected an object, got {type(data).__name__}", source=source, field=path)
        self.data, self.path, self.source = data, path, source

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise ContractViolation("missing", source=self.source, field=self._where(key))
        return self.data[key]

    def _wrong(self, key: str, expected: str) -> ContractViolation:
        return ContractViolation(
            f"expected {expected}, got {self.data[key]!r:.40}", source=self.source, field=self._where(key)
        )

    def integer(self, key: str) -> int:
        """int64 arrives as a string, int32 as a number: accept both, nothing else."""
        value = self.raw(key)
        if isinstance(value, bool):
            raise self._wrong(key, "an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and INTEGER.fullmatch(value):
            return int(value)
        raise self._wrong(key, "an integer")

    def number(self, key: str) -> float:
        value = self.raw(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise self._wrong(key, "a number")

    def string(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value

    def bytes_b64(self, key: str) -> bytes:
        try:
            return base64.b64decode(self.string(key), validate=True)
        except (binascii.Error, ValueError):
            raise self._wrong(key, "base64") from None

    def obj(self, key: str) -> "Fields":
        return Fields(self.raw(key), self._where(key), self.source)

    def optional_obj(self, key: str) -> "Fields | None":
        """A sub-message LND writes as null when unset (a channel direction with no policy yet)."""
        return None if self.raw(key) is None else self.obj(key)

    def object_list(self, key: str) -> list["Fields"]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return [Fields(item, f"{self._where(key)}[{i}]", self.source) for i, item in enumerate(value)]

    def list_raw(self, key: str) -> list:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return value
