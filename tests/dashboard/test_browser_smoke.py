"""The browser harness end to end (tests/dashboard/browser.py): gunicorn on the test database, Chromium, the real
login form, axe-core, screenshots, and the watch on requests and the console, each shown able to fail."""

import struct
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from playwright.sync_api import expect

from daznode.context_processors import MODE_LABELS
from tests.dashboard import browser
from tests.dashboard.browser import (
    LOGIN_PATH,
    SCREENSHOT_WIDTHS,
    accessibility_violations,
    assert_accessible,
    horizontal_overflow_px,
    login,
    require_chromium,
    save_screenshots,
)
from tests.dashboard.scenario import sources_scene

pytestmark = pytest.mark.slow
PNG_SIZE = struct.Struct(">II")  # width and height, in the IHDR chunk at byte 16


def png_size(path) -> tuple[int, int]:
    return PNG_SIZE.unpack(path.read_bytes()[16:24])


def test_it_signs_in_a_viewer_and_shows_the_frame_the_sources_page_and_its_screenshots(
    page, page_watch, viewer_account
):
    sources_scene()
    page.goto(LOGIN_PATH)
    assert_accessible(page)
    login(page, viewer_account.username, viewer_account.password)

    page.goto("/umbrel-ui/dashboard")
    assert urlsplit(page.url).path == "/umbrel-ui/dashboard"
    expect(page.locator("h1")).to_have_count(1)
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link")).to_have_text(["Overview", "Channels", "Decisions", "Sources"])
    expect(page.locator(".topbar .badge").first).to_have_text(MODE_LABELS[settings.DAZNODE_DECISION_MODE])
    assert page_watch.status_of("/static/dashboard/dashboard.css") == 200, "static files are served"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 17, 21)", "the stylesheet applies (dark, like Umbrel)"

    navigation.get_by_role("link", name="Sources").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sources")
    assert page_watch.status_of("/static/dashboard/sources.css") == 200
    expect(page.get_by_role("row").filter(has_text="public-graph").get_by_text("HTTP 503")).to_be_visible()
    assert_accessible(page)
    page.emulate_media(color_scheme="light")
    assert_accessible(page)
    page.emulate_media(color_scheme="dark")

    paths = save_screenshots(page, "sources")
    assert [png_size(path)[0] for path in paths] == list(SCREENSHOT_WIDTHS)
    assert all(path.name == f"sources-{width}.png" for path, width in zip(paths, SCREENSHOT_WIDTHS, strict=True))
    page.set_viewport_size({"width": min(SCREENSHOT_WIDTHS), "height": 900})
    assert horizontal_overflow_px(page) == 0, "at 390 px only the tables scroll sideways, not the page"

    assert page_watch.requests and all(urlsplit(url).hostname == "127.0.0.1" for url in page_watch.requests)
    page_watch.assert_clean()


def test_it_lands_an_anonymous_visitor_on_the_login_page(page, web_server):
    page.goto("/umbrel-ui/dashboard")
    landed = urlsplit(page.url)
    assert landed.path == LOGIN_PATH and parse_qs(landed.query) == {"next": ["/umbrel-ui/dashboard"]}
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_role("navigation")).to_have_count(0)


def test_its_watch_blocks_and_reports_a_request_that_leaves_loopback_and_console_errors(page, page_watch):
    page.goto(LOGIN_PATH)
    outcome = page.evaluate("fetch('http://192.0.2.1/font.woff2').then(() => 'loaded', () => 'blocked')")
    page.evaluate("console.error('something broke')")
    assert outcome == "blocked"
    assert page_watch.outside == ["http://192.0.2.1/font.woff2"]
    assert any("something broke" in error for error in page_watch.console_errors)
    with pytest.raises(pytest.fail.Exception, match=r"request left 127\.0\.0\.1: http://192\.0\.2\.1/font\.woff2"):
        page_watch.assert_clean()

    page_watch.reset()
    page.evaluate("console.error('a refusal the test expects')")
    page_watch.allow_console_error("refusal the test expects")
    page_watch.assert_clean()


def test_its_accessibility_check_names_each_violation_and_where(page, viewer_account):
    page.goto(LOGIN_PATH)
    page.evaluate("document.querySelector('form').insertAdjacentHTML('beforeend', '<input id=unlabelled>')")
    assert "label" in {violation["id"] for violation in accessibility_violations(page)}
    with pytest.raises(pytest.fail.Exception, match=r"- label \(critical\): .*\n    on: #unlabelled"):
        assert_accessible(page)

    with pytest.raises(pytest.fail.Exception, match="signing in as viewer failed: Your username and password"):
        login(page, viewer_account.username, "not-the-password-1")


def test_it_skips_without_chromium_on_a_developers_machine_and_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DAZNODE_TEST_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        require_chromium()
