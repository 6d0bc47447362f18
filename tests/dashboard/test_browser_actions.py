"""An operator acts from the dashboard in headless Chromium, against a simulated LND that is our node: apply a fee
change live through the confirmation step and roll it back, with the keyboard too; in dry run nothing is sent
unless "apply live anyway" is ticked; a viewer sees no action and is refused (403) when posting one.

The node's policy is read back from the simulator without Daznode (tests/decisions/conftest.py's live_policy). The
web servers (one live, one dry run) reach the simulator through the Source row each test registers.
"""

import re
from itertools import takewhile

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from channels.models import Channel
from channels.services import channels_score
from channels.sync import sync_node
from daznode.actors import user_actor
from decisions.models import AuditEntry, Decision
from sources.demo import simulated_node_register
from sources.simulator import start_simulator
from tests.dashboard.browser import login
from tests.dashboard.scenario import messages_shown, module_web_server, tab, tab_until, watched_page
from tests.decisions.conftest import live_policy, make_decision, open_channels

pytestmark = pytest.mark.slow
# The smallest change worth sending (DAZNODE_FEE_MIN_CHANGE_PPM): within the step limits whatever the fee rate.
STEP_PPM = 10
HIGHEST_RAISED_PPM = 2000  # well under DAZNODE_FEE_MAX_PPM, so that a raise by STEP_PPM is within the bounds
ACTION_NAMES = re.compile(r"^(Approve|Reject|Apply|Roll back)\b")
MAIN_MENU = ["Overview", "Channels", "Decisions", "Sources"]
HEADER_STOPS = 10  # Tab presses after the skip link: more than the header holds (brand, menu, sign out)


@pytest.fixture(scope="module")
def sim():
    with start_simulator(seed=31, node_count=400) as running:
        yield running


@pytest.fixture(scope="module")
def web_server(django_db_setup, tmp_path_factory):
    """The module's server in live mode (conftest's `page` opens it)."""
    with module_web_server(tmp_path_factory.mktemp("live"), DAZNODE_DECISION_MODE="live") as server:
        yield server


@pytest.fixture(scope="module")
def dry_run_server(django_db_setup, tmp_path_factory):
    with module_web_server(tmp_path_factory.mktemp("dry-run"), DAZNODE_DECISION_MODE="dry_run") as server:
        yield server


@pytest.fixture
def node(sim, transactional_db):
    """Our node as Daznode knows it after a sync and a scoring, in this test's (committed) database."""
    cache.clear()
    sim.faults.clear()
    simulated_node_register(name="sim", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)
    sync_node()
    channels_score()
    return sim


def channel_to_raise(index: int) -> Channel:
    """An open, active channel whose fee rate can go up by STEP_PPM; a different one per test (the simulator lives
    for the whole module, so one test's change stays on its node)."""
    return [channel for channel in open_channels() if channel.fee_rate_ppm <= HIGHEST_RAISED_PPM][index]


def fee_raise(channel: Channel, **fields) -> Decision:
    return make_decision(channel, fee_rate_ppm=channel.fee_rate_ppm + STEP_PPM, **fields)


def ppm(value: int) -> str:
    return f"{value:,} ppm"


def confirm(page: Page, label: str) -> None:
    """Press the confirmation page's button and wait for the page the POST leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=label).click()


def policy_row(page: Page, field: str) -> list[str]:
    """The cells of the policy table's row for `field` ("Fee rate"): before and after."""
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile(f"^{field}")))
    return [text.strip() for text in row.get_by_role("cell").all_inner_texts()]


def csrf_post(page: Page, path: str):
    """A POST as the page's own form would send it: the session and CSRF cookies, and the token as a field."""
    token = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    return page.request.post(path, form={"csrfmiddlewaretoken": token})


def test_it_applies_a_fee_change_live_from_the_queue_and_rolls_it_back(page, node, operator_account):
    channel = channel_to_raise(0)
    old_ppm, new_ppm = channel.fee_rate_ppm, channel.fee_rate_ppm + STEP_PPM
    assert live_policy(node, channel).fee_rate_ppm == old_ppm
    decision = fee_raise(channel)
    login(page, operator_account.username, operator_account.password, next_path="/umbrel-ui/decisions")

    page.get_by_role("link", name=f"Apply decision #{decision.pk}").first.click()
    page.wait_for_url(f"**/umbrel-ui/decisions/{decision.pk}/apply")
    what = page.get_by_role("region", name="What happens")
    expect(what.locator(".diff .diff-label")).to_have_text(["Fee rate"])
    expect(what.locator(".diff .old")).to_contain_text(ppm(old_ppm))
    expect(what.locator(".diff .new")).to_contain_text(ppm(new_ppm))
    assert policy_row(page, "Fee rate") == [ppm(old_ppm), ppm(new_ppm)]
    expect(page.locator("main")).to_contain_text("Live mode")
    assert live_policy(node, channel).fee_rate_ppm == old_ppm, "the confirmation step sends nothing"

    confirm(page, f"Apply decision #{decision.pk}")
    assert page.url.endswith(f"/umbrel-ui/decisions/{decision.pk}")
    assert f"Decision {decision.pk} applied" in messages_shown(page)
    assert live_policy(node, channel).fee_rate_ppm == new_ppm
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED

    page.get_by_role("link", name="Roll back").click()
    page.wait_for_url(f"**/umbrel-ui/decisions/{decision.pk}/rollback")
    assert policy_row(page, "Fee rate") == [ppm(new_ppm), ppm(old_ppm)], "the channel now, and what is put back"
    confirm(page, f"Roll back decision #{decision.pk}")
    assert f"Channel {channel.chan_id} rolled back" in messages_shown(page)
    assert live_policy(node, channel).fee_rate_ppm == old_ppm
    decision.refresh_from_db()
    assert decision.status == Decision.Status.ROLLED_BACK

    written = AuditEntry.objects.filter(
        decision=decision, action__in=[AuditEntry.Action.POLICY_APPLIED, AuditEntry.Action.ROLLED_BACK]
    )
    actor = user_actor(operator_account.user)
    assert sorted(written.values_list("action", "actor")) == [
        (AuditEntry.Action.POLICY_APPLIED, actor),
        (AuditEntry.Action.ROLLED_BACK, actor),
    ]


def test_it_leads_the_keyboard_to_the_skip_link_the_menu_and_the_actions(page, node, operator_account):
    channel = channel_to_raise(1)
    decision = fee_raise(channel)
    decision_path = f"/umbrel-ui/decisions/{decision.pk}"
    login(page, operator_account.username, operator_account.password)
    page.goto(decision_path)

    assert tab(page)["text"] == "Skip to content", "the skip link comes first"
    header = list(takewhile(lambda stop: not stop["main"], [tab(page) for _ in range(HEADER_STOPS)]))
    assert [stop["text"] for stop in header if stop["nav"] == "Main"] == MAIN_MENU, "then the menu, before the page"

    page.goto(decision_path)
    assert tab(page)["text"] == "Skip to content"
    page.keyboard.press("Enter")
    assert tab(page)["main"], "the skip link takes the keyboard past the header"

    tab_until(page, lambda stop: stop["text"] == "Approve")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"{decision_path}/approve")
    tab_until(page, lambda stop: stop["text"] == f"Approve decision #{decision.pk}")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"Decision {decision.pk} approved" in messages_shown(page)
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPROVED

    tab_until(page, lambda stop: stop["text"] == "Apply")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_until(page, lambda stop: stop["text"] == f"Apply decision #{decision.pk}")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert live_policy(node, channel).fee_rate_ppm == channel.fee_rate_ppm + STEP_PPM
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED


def test_it_sends_nothing_in_dry_run_unless_the_operator_applies_live_anyway(
    browser, dry_run_server, node, operator_account
):
    channel = channel_to_raise(2)
    before, updates = live_policy(node, channel), len(node.node.applied_updates)
    decision = fee_raise(channel, mode=Decision.Mode.DRY_RUN)
    with watched_page(browser, dry_run_server) as watch:
        page = watch.page
        login(page, operator_account.username, operator_account.password)
        page.goto(f"/umbrel-ui/decisions/{decision.pk}/apply")
        expect(page.locator("main")).to_contain_text("Dry run mode")

        confirm(page, f"Apply decision #{decision.pk}")
        expect(page.locator("main")).to_contain_text("Daznode is in dry run mode: nothing was sent to the node")
        assert live_policy(node, channel) == before and len(node.node.applied_updates) == updates
        decision.refresh_from_db()
        assert decision.status == Decision.Status.PENDING
        assert not AuditEntry.objects.filter(decision=decision, action=AuditEntry.Action.POLICY_APPLIED).exists()

        page.get_by_label(re.compile("^Apply live anyway")).check()
        confirm(page, f"Apply decision #{decision.pk}")
        assert page.url.endswith(f"/umbrel-ui/decisions/{decision.pk}")
        assert "live anyway in dry run mode" in messages_shown(page)
    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + STEP_PPM
    applied = AuditEntry.objects.get(decision=decision, action=AuditEntry.Action.POLICY_APPLIED)
    assert applied.actor == user_actor(operator_account.user)
    assert "live anyway in dry run mode" in applied.reason


def test_it_shows_a_viewer_no_action_and_refuses_a_viewers_post(page, node, viewer_account, operator_account):
    channel = channel_to_raise(3)
    before = live_policy(node, channel)
    decision = fee_raise(channel)
    decision_path = f"/umbrel-ui/decisions/{decision.pk}"
    login(page, viewer_account.username, viewer_account.password, next_path="/umbrel-ui/decisions")

    main = page.locator("main")
    for path in ("/umbrel-ui/decisions", decision_path):
        page.goto(path)
        expect(main.locator(f'a[href="{decision_path}"], h1:has-text("Decision #{decision.pk}")').first).to_be_visible()
        expect(main.locator("form[method=post]")).to_have_count(0)
        expect(main.get_by_role("link", name=ACTION_NAMES)).to_have_count(0)
        expect(main.get_by_role("button", name=ACTION_NAMES)).to_have_count(0)

    assert page.request.get(f"{decision_path}/apply").status == 403, "not even the confirmation step"
    for action in ("approve", "apply"):
        refused = csrf_post(page, f"{decision_path}/{action}")
        assert refused.status == 403
        assert "CSRF" not in refused.text(), "refused for the role, not for the request"
    assert live_policy(node, channel) == before
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING

    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    login(page, operator_account.username, operator_account.password)
    approved = csrf_post(page, f"{decision_path}/approve")
    assert approved.ok and approved.url.endswith(decision_path), "the same request from an operator is taken"
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPROVED
