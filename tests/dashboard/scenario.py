"""What the dashboard's end-to-end browser tests share (test_browser_pages.py, test_browser_actions.py).

A module starts its web server once (module scope) instead of once per test as conftest's `web_server` does: the
server only points at the test database, so each test still builds its own data (transactional_db, emptied after
each test) and signs in through the real login form (sessions live in the database).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page

from auth_vault import services
from auth_vault.models import Secret
from sources.models import GraphFetchStatus, GraphSnapshot, HealthCheck, Source
from tests.auth_vault.fixtures import ADMIN_MACAROON
from tests.dashboard.browser import (
    DESKTOP,
    SCREENSHOT_HEIGHT,
    SCREENSHOT_WIDTHS,
    PageWatch,
    WebServer,
    accessibility_violations,
    describe_violations,
    horizontal_overflow_px,
    save_screenshots,
    web_server_environment,
    web_server_running,
)
from tests.sources.graphs import star_graph

PHONE_WIDTH = min(SCREENSHOT_WIDTHS)
COLOUR_SCHEMES = ("dark", "light")


# The server of a module, and more pages on it


@contextmanager
def module_web_server(folder: Path, **env: str) -> Iterator[WebServer]:
    """Gunicorn on the test database, for a whole module (call it from a fixture that depends on django_db_setup);
    `env` overrides what web_server_environment sets (the mode, say)."""
    with web_server_running(env=web_server_environment(**env), log=folder / "web.log") as server:
        yield server


@contextmanager
def watched_page(browser: Browser, server: WebServer) -> Iterator[PageWatch]:
    """A fresh browser context (1400 px, dark like Umbrel) on `server`, as conftest's page_watch: the block fails
    if a request left 127.0.0.1 or the console showed an error the test did not allow."""
    context = browser.new_context(base_url=server.url, viewport=DESKTOP, color_scheme="dark")
    watch = PageWatch.attach(context)
    try:
        yield watch
    finally:
        context.close()
    watch.assert_clean()


# Data


def sources_scene() -> Source:
    """Our LND source, answering, with a fresh graph; a public graph source that fails its health checks."""
    now = timezone.now()
    credential = services.secret_create(
        name="umbrel-mac", kind=Secret.Kind.MACAROON, value=ADMIN_MACAROON, actor="test"
    )
    lnd = Source.objects.create(
        name="umbrel", kind=Source.Kind.LND, url="https://umbrel.local:8080", credential=credential
    )
    public = Source.objects.create(
        name="public-graph", kind=Source.Kind.PUBLIC_GRAPH, url="https://graph.example/graph.json", priority=200
    )
    HealthCheck.objects.bulk_create(
        [
            HealthCheck(source=lnd, checked_at=now - timedelta(minutes=m), ok=True, latency_ms=35 + m % 9)
            for m in range(0, 600, 15)
        ]
        + [
            HealthCheck(
                source=public, checked_at=now - timedelta(minutes=3), ok=False, error="HTTP 503 Service Unavailable"
            )
        ]
    )
    GraphFetchStatus.objects.create(source=lnd, last_success_at=now - timedelta(minutes=20))
    snapshot = GraphSnapshot.from_graph(
        source=lnd, graph=star_graph(6), ttl=timedelta(hours=12), now=now - timedelta(minutes=20)
    )
    snapshot.analysed_at = now - timedelta(minutes=19)
    snapshot.save()
    return lnd


# What a page shows


def described(scope: Locator, term: str) -> str:
    """The text of the <dd> that a <dt> reading exactly `term` describes, within `scope`."""
    return scope.locator(f"xpath=.//dt[normalize-space()='{term}']/following-sibling::dd[1]").inner_text().strip()


def messages_shown(page: Page) -> str:
    return " ".join(page.locator("main .messages").all_inner_texts())


def focused(page: Page) -> dict:
    """What has the keyboard focus: its tag, accessible text, link and where it sits."""
    return page.evaluate(
        """() => {
            const e = document.activeElement;
            return {tag: e.tagName.toLowerCase(), text: (e.innerText || e.value || '').trim(),
                    href: e.getAttribute('href') || '', main: !!e.closest('main'),
                    nav: e.closest('nav') ? e.closest('nav').getAttribute('aria-label') : ''};
        }"""
    )


def tab(page: Page) -> dict:
    page.keyboard.press("Tab")
    return focused(page)


def tab_until(page: Page, predicate, *, presses: int = 60) -> dict:
    """Press Tab until the focused element satisfies `predicate`; fails naming what was focused on the way."""
    seen = []
    for _ in range(presses):
        now = tab(page)
        if predicate(now):
            return now
        seen.append(f"{now['tag']} {now['text'][:30]!r}")
    raise AssertionError(f"Tab never reached it in {presses} presses; it went through: {', '.join(seen)}")


# The checks every page gets


def page_problems(page: Page, name: str) -> list[str]:
    """axe-core (WCAG 2 A/AA) in the dark and the light colour scheme, screenshots at 1400 px and 390 px, and no
    sideways scrolling of the whole page at 390 px: every problem, named with the page, none hidden by the first."""
    problems = []
    for scheme in COLOUR_SCHEMES:
        page.emulate_media(color_scheme=scheme)
        violations = accessibility_violations(page)
        if violations:
            report = describe_violations(violations) + contrast_details(violations)
            problems.append(f"{name} ({page.url}), {scheme} scheme, axe-core:\n{report}")
    page.emulate_media(color_scheme="dark")
    save_screenshots(page, name)
    original = page.viewport_size
    page.set_viewport_size({"width": PHONE_WIDTH, "height": SCREENSHOT_HEIGHT})
    overflow = horizontal_overflow_px(page)
    if overflow:
        wide = widest_elements(page)
        problems.append(f"{name} ({page.url}) scrolls sideways by {overflow} px at {PHONE_WIDTH} px; widest: {wide}")
    if original:
        page.set_viewport_size(original)
    return problems


def contrast_details(violations: list[dict]) -> str:
    """For color-contrast: each pair of colours that fails, its ratio and where (the fix is in the CSS)."""
    lines, seen = [], set()
    for violation in violations:
        for node in violation["nodes"] if violation["id"] == "color-contrast" else []:
            data = (node.get("any") or [{}])[0].get("data") or {}
            pair = (data.get("fgColor"), data.get("bgColor"))
            if pair not in seen:
                seen.add(pair)
                where = " ".join(map(str, node["target"]))
                lines.append(
                    f"    {pair[0]} on {pair[1]}: {data.get('contrastRatio')}:1, needs "
                    f"{data.get('expectedContrastRatio')} (first at {where})"
                )
    return "".join(f"\n{line}" for line in lines)


def widest_elements(page: Page, count: int = 3) -> str:
    """The elements that stick out furthest past the window's right edge outside a scrolling .table-wrap."""
    return page.evaluate(
        """(count) => {
            const out = [];
            for (const e of document.querySelectorAll('body *')) {
                if (e.parentElement && e.parentElement.closest('.table-wrap')) continue;
                const right = e.getBoundingClientRect().right;
                if (right > window.innerWidth + 0.5) {
                    const classes = typeof e.className === 'string' ? e.className.trim().split(/\\s+/) : [];
                    const id = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                        classes.filter(Boolean).map((name) => '.' + name).join('');
                    out.push([right - window.innerWidth, id]);
                }
            }
            out.sort((a, b) => b[0] - a[0]);
            return out.slice(0, count).map(([px, id]) => `${id} (+${Math.round(px)} px)`).join(', ') || 'none found';
        }""",
        count,
    )
