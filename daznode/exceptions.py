"""The API's exception handler: DRF's, also for Django's own refusals of a request body."""

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework.exceptions import ParseError
from rest_framework.views import exception_handler

from daznode.parsers import BodyTooLarge, body_limit_bytes


def api_exception_handler(exc: Exception, context: dict):
    """DRF reads JSON and form bodies through request.body, where Django refuses one over its limit before any
    parser runs; without this, that refusal is an HTML 400 page instead of an answer the client can read."""
    if isinstance(exc, RequestDataTooBig):
        exc = BodyTooLarge(f"The request body is larger than {body_limit_bytes()} bytes.")
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = ParseError(str(exc))
    return exception_handler(exc, context)
