"""The dashboard's browser tests: a real web server sharing the test database, Debian's Chromium through
Playwright, and what every browser test checks (no request leaves 127.0.0.1, no console error, axe-core's WCAG 2
A/AA rules) or keeps (screenshots at a desktop and a phone width). The fixtures are in tests/dashboard/conftest.py.

Playwright drives /usr/bin/chromium (the `chromium` package); `playwright install`, which downloads a browser,
is never used.
"""

import functools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, Route, WebError

from daznode.roles import Role, user_set_role
from tests.conftest import REPO, child_env, free_port, running, skip_or_fail, test_database_url, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOOPBACK = "127.0.0.1"
LOGIN_PATH = "/umbrel-ui/login"
DESKTOP = {"width": 1400, "height": 900}
SCREENSHOT_WIDTHS = (1400, 390)
SCREENSHOT_HEIGHT = 900
# axe-core's tags for the WCAG 2.0 and 2.1 success criteria of levels A and AA.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
NODES_LISTED = 8
SERVER_START_S = 60


def require_chromium() -> None:
    if not CHROMIUM.exists():
        skip_or_fail(
            f"{CHROMIUM} is absent: the browser tests drive Debian's Chromium; install it with "
            "`apt-get install chromium` (never `playwright install`)"
        )


def artifacts_dir() -> Path:
    """Where screenshots go: DAZNODE_TEST_ARTIFACTS, or .test-data/screenshots in the repository."""
    folder = Path(os.environ.get("DAZNODE_TEST_ARTIFACTS") or REPO / ".test-data" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Users


@dataclass(frozen=True)
class Account:
    """A user of the test database whose password is known, to sign in through the real login form."""

    username: str
    password: str
    role: Role | None
    user: object


PASSWORDS = {
    Role.VIEWER: "viewer-knows-the-figures-1",
    Role.OPERATOR: "operator-applies-the-fees-1",
    Role.ADMIN: "admin-holds-the-keys-1",
    None: "no-role-sees-nothing-1",
}


@functools.cache
def _password_hash(password: str) -> str:
    # A hash costs about a second of CPU: one per password for the whole session, not one per user.
    return make_password(password)


def account_create(role: Role | None, *, username: str = "") -> Account:
    username = username or (role.value if role else "norole")
    password = PASSWORDS[role]
    user = get_user_model().objects.create(username=username, password=_password_hash(password))
    user_set_role(user, role)
    return Account(username=username, password=password, role=role, user=user)


# The web server


@dataclass(frozen=True)
class WebServer:
    url: str  # http://127.0.0.1:<port>, no trailing slash
    log: Path

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def web_server_environment(**overrides: str | None) -> dict[str, str]:
    """The child's environment: this test's database, cache, keys and mode, so that what the test writes and
    what the pages show are one state. Logins are not rate limited (a test signs in more than 5 times a minute
    from one address); overrides (None unsets) come last."""
    defaults: dict[str, str | None] = {
        "DAZNODE_DATA_DIR": str(settings.DATA_DIR),
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL or None,
        "SECRET_KEY": settings.SECRET_KEY,
        "DAZNODE_VAULT_KEYS": settings.DAZNODE_VAULT_KEYS,
        "DAZNODE_DECISION_MODE": settings.DAZNODE_DECISION_MODE,
        "DEBUG": "false",
        "DAZNODE_RATE_LOGIN": "1000/m",
        "DAZNODE_WEB_WORKERS": "1",
        "DAZNODE_WEB_THREADS": "4",
    }
    return child_env(**{**defaults, **overrides})


@contextmanager
def web_server_running(*, env: dict[str, str], log: Path) -> Iterator[WebServer]:
    """Gunicorn, as in production (daznode.gunicorn_conf; static files by WhiteNoise), on a free loopback port."""
    port = free_port()
    command = ["gunicorn", "daznode.wsgi", "-c", "python:daznode.gunicorn_conf", "--bind", f"{LOOPBACK}:{port}"]
    server = WebServer(url=f"http://{LOOPBACK}:{port}", log=log)
    with running(command, env=env, log=log) as process:

        def answered() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the web server exited with {process.returncode}:\n{server.output()[-4000:]}")
            try:
                return httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answered, timeout=SERVER_START_S, what="the web server to answer /healthz", log=log)
        yield server


# What a page does


@dataclass
class PageWatch:
    """Every request the pages of a browser context make, and their console errors. A request to anywhere but
    127.0.0.1 is aborted and recorded: a page must load nothing from a CDN or any other host."""

    page: Page
    requests: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    responses: list[tuple[str, int]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    allowed_errors: list[re.Pattern] = field(default_factory=list)

    @classmethod
    def attach(cls, context: BrowserContext) -> "PageWatch":
        watch = cls(page=context.new_page())
        context.route("**/*", watch._route)
        context.on("console", watch._console)
        context.on("weberror", watch._web_error)
        context.on("response", lambda response: watch.responses.append((response.url, response.status)))
        return watch

    def _route(self, route: Route, request: Request) -> None:
        self.requests.append(request.url)
        if urlsplit(request.url).hostname == LOOPBACK:
            route.continue_()
        else:
            self.outside.append(request.url)
            route.abort("blockedbyclient")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.console_errors.append(f"{message.text} ({where}:{message.location.get('lineNumber', '?')})")

    def _web_error(self, error: WebError) -> None:
        self.console_errors.append(f"uncaught: {error.error}")

    def allow_console_error(self, pattern: str) -> None:
        """A console error the test expects (e.g. the 403 of a refused form), matched as a regular expression."""
        self.allowed_errors.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [error for error in self.console_errors if not any(p.search(error) for p in self.allowed_errors)]

    def status_of(self, path: str) -> int | None:
        """The status of the latest response whose URL path is `path`; None when none was seen."""
        statuses = [status for url, status in self.responses if urlsplit(url).path == path]
        return statuses[-1] if statuses else None

    def reset(self) -> None:
        self.requests.clear()
        self.outside.clear()
        self.responses.clear()
        self.console_errors.clear()

    def assert_clean(self) -> None:
        problems = [f"request left {LOOPBACK}: {url}" for url in self.outside]
        problems += [f"console error: {error}" for error in self.unexpected_errors()]
        if problems:
            pytest.fail("the browser saw:\n" + "\n".join(problems), pytrace=False)


# Steps and checks


def login(page: Page, username: str, password: str, *, next_path: str = "") -> None:
    """Sign in through the real login form at /umbrel-ui/login; fails with the form's message if refused."""
    page.goto(LOGIN_PATH + (f"?next={quote(next_path)}" if next_path else ""))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if urlsplit(page.url).path == LOGIN_PATH:
        said = " ".join(page.get_by_role("alert").all_inner_texts()) or "the login page came back"
        pytest.fail(f"signing in as {username} failed: {said}", pytrace=False)


def accessibility_violations(page: Page) -> list[dict]:
    """axe-core's violations of the WCAG 2 A/AA rules on the page as it is now."""
    options = {"runOnly": {"type": "tag", "values": list(WCAG_TAGS)}, "resultTypes": ["violations"]}
    return Axe().run(page, options=options).response["violations"]


def describe_violations(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
        more = f" and {len(targets) - NODES_LISTED} more" if len(targets) > NODES_LISTED else ""
        lines.append(f"    on: {'; '.join(targets[:NODES_LISTED])}{more}")
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    violations = accessibility_violations(page)
    if violations:
        where = urlsplit(page.url).path
        pytest.fail(f"axe-core (WCAG 2 A/AA) on {where}:\n{describe_violations(violations)}", pytrace=False)


def horizontal_overflow_px(page: Page) -> int:
    """How far the page is wider than the window: 0 when nothing makes the whole page scroll sideways."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def save_screenshots(page: Page, name: str) -> list[Path]:
    """Full-page PNGs at 1400 px and 390 px wide, named <name>-<width>.png; the window's size is put back."""
    folder, original = artifacts_dir(), page.viewport_size
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    paths = []
    for width in SCREENSHOT_WIDTHS:
        page.set_viewport_size({"width": width, "height": SCREENSHOT_HEIGHT})
        path = folder / f"{slug}-{width}.png"
        page.screenshot(path=path, full_page=True)
        paths.append(path)
    if original:
        page.set_viewport_size(original)
    return paths
