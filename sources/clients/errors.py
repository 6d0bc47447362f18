"""The one error hierarchy every source client raises. Messages never contain credentials."""


class SourceError(Exception):
    """Something went wrong talking to a source. `source` names it; `retryable` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str, *, source: str = ""):
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class AuthenticationError(SourceError):
    """The credential was refused (wrong or revoked macaroon or key, missing permission)."""


class RateLimitedError(SourceError):
    """The source said to slow down (429), or our own limit for it is used up."""


class SourceTimeout(SourceError):
    retryable = True


class SourceUnavailable(SourceError):
    """Connection refused or dropped, a 5xx, TLS failure: the source is not answering properly."""

    retryable = True


class CircuitOpenError(SourceUnavailable):
    """Too many recent failures: calls are refused without trying until the breaker's cool-down ends."""

    retryable = False


class ContractViolation(SourceError):
    """The answer is not what the source's contract promises: not JSON, truncated, a missing or mistyped field."""

    def __init__(self, message: str, *, source: str = "", field: str | None = None):
        self.field = field
        super().__init__(f"{message} (field {field})" if field else message, source=source)


class RequestRejected(SourceError):
    """The source understood the request and refused it (a 4xx other than authentication)."""


class NotSupported(SourceError):
    """This source, or this version of it, does not offer the operation."""


class PolicyUpdateFailed(SourceError):
    """LND answered 200 but listed the channel in failed_updates."""

    def __init__(self, message: str, *, source: str = "", failures: list[dict] | None = None):
        self.failures = failures or []
        super().__init__(message, source=source)
