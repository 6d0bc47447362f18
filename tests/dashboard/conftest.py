"""The dashboard tests' fixtures: users of each role with known passwords; for the browser tests a real web server
on the test database, Chromium, and a page whose requests and console are watched (tests/dashboard/browser.py).

A browser test asks for `page` (signed out, at 1400 px, dark colour scheme like Umbrel) and, when it needs the
server's address or log, `web_server`. A module that needs the server in another configuration overrides
`web_server_env`, e.g. `{"DAZNODE_DECISION_MODE": "live"}`.
"""

from collections.abc import Iterator
from contextlib import suppress

import pytest
from django.core.cache import cache
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from daznode.roles import Role
from tests.dashboard.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    Account,
    PageWatch,
    WebServer,
    account_create,
    require_chromium,
    web_server_environment,
    web_server_running,
)


@pytest.fixture
def viewer_account(db) -> Account:
    return account_create(Role.VIEWER)


@pytest.fixture
def operator_account(db) -> Account:
    return account_create(Role.OPERATOR)


@pytest.fixture
def admin_account(db) -> Account:
    return account_create(Role.ADMIN)


@pytest.fixture
def no_role_account(db) -> Account:
    """Signed in, but in no role's group: every page answers 403."""
    return account_create(None)


@pytest.fixture
def web_server_env() -> dict[str, str]:
    """Extra environment for the web server (overridden by a module that needs, e.g., live mode)."""
    return {}


@pytest.fixture
def web_server(transactional_db, web_server_env, tmp_path) -> Iterator[WebServer]:
    """Gunicorn on a free 127.0.0.1 port, serving this test's database. The test's writes are committed
    (transactional_db) so that the server sees them; rate limits start empty."""
    cache.clear()
    with web_server_running(env=web_server_environment(**web_server_env), log=tmp_path / "web.log") as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for the tests of one module. Playwright's sync API runs an event loop in this thread, which makes
    Django refuse ORM calls as "async" while it lives: allowed for as long as the browser is up, and only then
    (module scope, so that the other tests a worker runs afterwards keep Django's check)."""
    require_chromium()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()


# How long a test's last page may take to finish loading (its images) before the context closes.
PAGE_SETTLE_MS = 10_000


@pytest.fixture
def page_watch(browser, web_server, transactional_db) -> Iterator[PageWatch]:
    """A fresh browser context on the web server; the test fails if a request left 127.0.0.1 or a console error
    was not expected (PageWatch.allow_console_error).

    It asks for transactional_db so that its teardown runs before the database is emptied: the page's last
    requests (a chart image still loading) finish against the test's data, not against an empty database."""
    context = browser.new_context(base_url=web_server.url, viewport=DESKTOP, color_scheme="dark")
    watch = PageWatch.attach(context)
    try:
        yield watch
    finally:
        for open_page in context.pages:
            with suppress(PlaywrightTimeoutError):  # a page still busy after that is the watch's to report
                open_page.wait_for_load_state("networkidle", timeout=PAGE_SETTLE_MS)
        context.close()
    watch.assert_clean()


@pytest.fixture
def page(page_watch) -> Page:
    return page_watch.page
