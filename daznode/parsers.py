"""The API's request parsers, bounded: a body larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413,
JSON nested deeper than DAZNODE_JSON_MAX_DEPTH with 400, before anything is parsed.

Python's json module recurses once per level, so deep nesting ended in RecursionError: a 500 that any anonymous
client could provoke at the token endpoints. DRF hands the JSON and form parsers request.body, which Django
already bounds (daznode.exceptions turns its refusal into a 413); the parsers check the size themselves as well,
so that they stay bounded whatever stream they are given. A multipart body is held to the limit by its
declared length: no endpoint takes a file.
"""

import io

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

from daznode.bounded_json import json_depth_exceeds


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


def body_limit_bytes() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _refuse_declared_size(parser_context: dict | None) -> None:
    limit = body_limit_bytes()
    request = (parser_context or {}).get("request")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
    except ValueError:
        raise ParseError("Content-Length is not a number.") from None
    if limit is not None and declared > limit:
        raise BodyTooLarge(f"The request body is larger than {limit} bytes.")


def read_bounded(stream, parser_context: dict | None) -> bytes:
    """The whole body, refused with 413 once it is known to exceed the limit (declared or as read)."""
    _refuse_declared_size(parser_context)
    limit = body_limit_bytes()
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
    return raw


class BoundedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = read_bounded(stream, parser_context)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        max_depth = settings.DAZNODE_JSON_MAX_DEPTH
        if json_depth_exceeds(raw.decode(encoding, errors="replace"), max_depth):
            raise ParseError(f"JSON parse error - nested deeper than {max_depth} levels.")
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class BoundedFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return super().parse(io.BytesIO(read_bounded(stream, parser_context)), media_type, parser_context)


class BoundedMultiPartParser(parsers.MultiPartParser):
    """Django bounds each field as it parses, but not files; no endpoint takes one, so the whole body is bounded."""

    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_declared_size(parser_context)
        return super().parse(stream, media_type, parser_context)
