"""Typed readers for environment variables.

Every setting comes from the environment through one of these helpers. A value that cannot be understood
stops start-up with an ImproperlyConfigured error that names the variable, so an operator never runs with a
setting silently ignored or half-parsed. Secret values are never echoed back in those errors.
"""

import os
import re
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# [0-9], not \\d: \\d also matches other scripts' digits, which int() would then accept.
DURATION_PART = re.compile(r"([0-9]+)([smhdw])")


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (or 1/0, yes/no, on/off), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")
    return number


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_duration(text: str) -> timedelta:
    """Parse "90", "90s", "15m", "12h", "7d", "2w" or combinations such as "1h30m" into a timedelta.

    A bare number is seconds. Raises ValueError on anything else, including a zero duration.
    """
    text = text.strip().lower()
    if text.isascii() and text.isdigit():
        seconds = int(text)
    elif DURATION_PART.sub("", text) == "" and text:
        seconds = sum(int(amount) * DURATION_UNITS[unit] for amount, unit in DURATION_PART.findall(text))
    else:
        raise ValueError(text)
    if seconds <= 0:
        raise ValueError(text)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(text) from None


def env_duration(name: str, default: timedelta) -> timedelta:
    value = env_str(name)
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a positive duration such as 90s, 15m, 12h, 7d or 1h30m, got {value!r}"
        ) from None


def redact_url(url: str) -> str:
    """The URL with any password replaced, so that it can appear in an error message or a log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def env_url(name: str, default: str | None = None, *, schemes: tuple[str, ...]) -> str | None:
    value = env_secret(name, default)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ImproperlyConfigured(f"{name} is not a valid URL: {redact_url(value)!r}") from None
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name} must start with one of {', '.join(s + '://' for s in schemes)}, got {redact_url(value)!r}"
        )
    if not parts.netloc and not parts.path:
        raise ImproperlyConfigured(f"{name} has no host or path: {redact_url(value)!r}")
    return value


def env_secret(name: str, default: str | None = None) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE (Docker secrets), never both."""
    file_name = f"{name}_FILE"
    value, path = env_str(name), env_str(file_name)
    if value is not None and path is not None:
        raise ImproperlyConfigured(f"Set {name} or {file_name}, not both")
    if path is None:
        return default if value is None else value
    try:
        content = Path(path).read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{file_name} names a file that cannot be read: {path} ({exc.strerror})") from None
    if not content:
        raise ImproperlyConfigured(f"{file_name} names an empty file: {path}")
    return content


RATE = re.compile(r"([0-9]+)/([0-9]*)([smhd])")


def env_rate(name: str, default: str) -> str:
    """A rate limit such as 5/m, 100/h or 30/10s (count per period), as django-ratelimit reads it."""
    value = env_str(name, default)
    match = RATE.fullmatch(value)
    if not match or int(match.group(1)) < 1 or match.group(2) == "0":
        raise ImproperlyConfigured(f"{name} must be a rate such as 5/m, 100/h or 30/10s, got {value!r}")
    return value


def env_pairs(name: str) -> dict[str, str]:
    """name=value pairs, comma-separated ("hold=0.5,close_max=0.05"), as strings: the app that uses them knows
    their names and types and checks them. Empty when unset."""
    text = env_str(name)
    if text is None:
        return {}
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        key, sep, value = item.partition("=")
        if not item:
            continue
        if not sep or not key.strip() or not value.strip():
            raise ImproperlyConfigured(f"{name} must be name=value pairs separated by commas, got {item!r}")
        if key.strip() in pairs:
            raise ImproperlyConfigured(f"{name} names {key.strip()} twice")
        pairs[key.strip()] = value.strip()
    return pairs


def file_created_once(path: Path, make_content) -> str:
    """The content of a generated secret file (a dev key), creating it with `make_content()` if absent.

    Web, worker and beat start together: each may find no file. The content is written to a private temporary
    file (mode 0600 from its creation, never readable by others even for an instant) and linked into place, which
    fails when another process got there first; every process then reads the one file that won.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w") as out:
                out.write(make_content())
            with suppress(FileExistsError):  # another process won the race: its key is the key
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return path.read_text()
