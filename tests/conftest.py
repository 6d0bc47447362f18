"""Helpers shared by the whole suite: real services when configured, and child processes that share the
test database (a real worker, beat, a web server)."""

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Files the suite reads but the repository does not hold (CI copies them beside its clone).
SHARED = REPO.parent / "shared"
# Variables a child process must not inherit from the developer's shell unless a test sets them.
OUR_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
)


def skipping_forbidden() -> bool:
    """In CI (CI=true, or DAZNODE_TEST_REQUIRE_SERVICES=1 as .ci/run sets) a test that cannot run is a failure: a
    skip there would hide a test that never ran behind a green build."""
    return os.environ.get("DAZNODE_TEST_REQUIRE_SERVICES") == "1" or os.environ.get("CI", "").lower() in ("true", "1")


def skip_or_fail(message: str) -> None:
    """Skip in a developer's clone, fail in CI: the one place that decides."""
    if skipping_forbidden():
        pytest.fail(f"{message} (CI forbids skipping: CI=true or DAZNODE_TEST_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def require_service(available: bool, what: str, how: str) -> None:
    """Skip when a service is not configured, except in CI, where a skipped service test is a failure."""
    if not available:
        skip_or_fail(f"{what} is not configured: {how}")


def require_shared(path: Path) -> Path:
    """A file of ../shared (LND's swagger, the mainnet graph): CI lays it beside the clone, a user's clone may not
    have it."""
    if not path.exists():
        skip_or_fail(f"{path} is absent: these tests read ../shared beside the repository at run time")
    return path


REDIS_DATABASES = 16  # Redis' default number of logical databases


def worker_environment(index: int, *, data_dir: Path, redis_url: str) -> dict[str, str]:
    """What parallel worker `index` (pytest -n) changes in its environment so that workers never share state: its own
    data folder (SQLite, file cache, broker, keys) and, with Redis, its own logical database, because the tests'
    `cache.clear()` is a FLUSHDB and a Celery queue is a key. PostgreSQL needs nothing: pytest-django gives each
    worker its own test database. In CI (base database 0) worker N uses database N."""
    env = {"DAZNODE_DATA_DIR": str(data_dir / f"worker{index}")}
    if redis_url:
        parts = urlsplit(redis_url)
        if parts.scheme not in ("redis", "rediss"):
            raise pytest.UsageError(f"parallel tests need REDIS_URL as redis://host:port/db, not {parts.scheme}://")
        database = int(parts.path.strip("/") or 0) + index
        if database >= REDIS_DATABASES:
            raise pytest.UsageError(f"worker {index} would need Redis database {database}: lower REDIS_URL's or -n")
        env["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{database}"))
    return env


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: absent when it is not installed
def pytest_xdist_setupnodes(config: pytest.Config, specs: list) -> None:
    """Runs in the controller before the workers start, hence before their settings load (`env:` of the spec)."""
    from django.conf import settings

    for index, spec in enumerate(specs):
        spec.env.update(
            worker_environment(index, data_dir=settings.DATA_DIR, redis_url=os.environ.get("REDIS_URL", ""))
        )


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    require_service(url.startswith("redis"), "Redis", "set REDIS_URL=redis://127.0.0.1:6379/0")
    return url


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    require_service(
        url.startswith("postgres"), "PostgreSQL", "set DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test"
    )
    return url


def test_database_url() -> str:
    """The URL of the database this test runs against, for a child process to use the same one."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    credentials = quote(settings["USER"] or "") + (":" + quote(settings["PASSWORD"]) if settings["PASSWORD"] else "")
    return f"postgresql://{credentials}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def child_env(**overrides: str | None) -> dict[str, str]:
    """The environment for a child process: ours, minus Daznode's variables, plus the overrides (None unsets)."""
    env = {
        key: value for key, value in os.environ.items() if key not in OUR_VARIABLES and not key.startswith("DAZNODE_")
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(command: list[str], *, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A child process for the duration of a test; its output goes to `log`, shown when the test fails."""
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until(predicate, *, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    detail = f"\n--- process output ---\n{log.read_text()[-4000:]}" if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def secret_forms(secret: bytes | str) -> list[str]:
    """The ways a secret could leak into text: as is, hex (either case) and base64."""
    import base64

    raw = secret.encode() if isinstance(secret, str) else secret
    forms = [raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode()]
    with suppress(UnicodeDecodeError):
        forms.append(raw.decode())
    return [form for form in forms if len(form) >= 8]


def assert_not_leaked(text: str, *secrets: bytes | str) -> None:
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in text, f"a secret appears in the text (as {form[:12]}…)"


@pytest.fixture(autouse=True)
def no_known_secret_in_logs(caplog):
    """Every test, all loggers at DEBUG: the secrets the suite uses must never reach a log line."""
    from tests.auth_vault.fixtures import ADMIN_MACAROON, INFO_READ_CAVEATS_MACAROON, LNBITS_ADMIN_KEY

    caplog.set_level(logging.DEBUG)
    yield
    assert_not_leaked(caplog.text, ADMIN_MACAROON, INFO_READ_CAVEATS_MACAROON, LNBITS_ADMIN_KEY)
