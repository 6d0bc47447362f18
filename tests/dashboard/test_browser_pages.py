"""The dashboard's pages in headless Chromium against gunicorn on the test database: what they show matches the
database, a channel opens from the list, and every page passes axe-core in the dark and the light colour scheme,
fits a 390 px phone and leaves its screenshots (tests/dashboard/browser.py; .test-data/screenshots by default).

Each test's node: 20 channels with a week of history (tests/dashboard/history.py), two sources, two
recommendations and a fee change waiting. One web server for the module, in dry run (the default mode).
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone
from playwright.sync_api import expect

from channels.models import Channel, ChannelActivity, ChannelScore
from daznode.roles import Role
from decisions.dashboard.days import in_last_days
from decisions.engine import RECOMMENDATIONS
from decisions.models import Decision
from tests.dashboard.browser import LOGIN_PATH, Account, account_create, login
from tests.dashboard.history import history_build
from tests.dashboard.scenario import described, module_web_server, page_problems, sources_scene
from tests.decisions.conftest import make_decision

pytestmark = pytest.mark.slow
CHANNELS = 20
RECOMMENDED = (Decision.Kind.REBALANCE, Decision.Kind.CLOSE_CHANNEL)


@dataclass(frozen=True)
class Scene:
    viewer: Account
    operator: Account
    fee_change: Decision


def recommendation(channel: Channel, kind: str) -> Decision:
    return Decision.objects.create(
        channel=channel,
        kind=kind,
        rule="test",
        reasons=[f"The channel scores low; {kind.replace('_', ' ')} it."],
        current_policy=channel.policy().to_dict(),
        status=Decision.Status.PENDING,
        mode=Decision.Mode.DRY_RUN,
    )


@pytest.fixture(scope="module")
def web_server(django_db_setup, tmp_path_factory):
    """One server for the module (conftest's starts one per test); `page` and `page_watch` open it."""
    with module_web_server(tmp_path_factory.mktemp("pages")) as server:
        yield server


@pytest.fixture
def scene(transactional_db) -> Scene:
    cache.clear()
    history_build(channels=CHANNELS, days=7, scores_per_day=4)
    sources_scene()
    channels = list(Channel.objects.order_by("chan_id")[:3])
    for channel, kind in zip(channels, RECOMMENDED, strict=False):
        recommendation(channel, kind)
    fee_change = make_decision(channels[2], mode=Decision.Mode.DRY_RUN, reasons=["The channel is drained: raise."])
    return Scene(account_create(Role.VIEWER), account_create(Role.OPERATOR), fee_change)


def overview_expected() -> dict[str, str]:
    """The overview's figures computed here from the rows: channels open, their capacity, the fees of the forwarding
    periods (UTC days) that overlap the last 7 days, the recommendations waiting."""
    now = timezone.now()
    open_channels = Channel.objects.filter(closed_at__isnull=True)
    fees_msat = ChannelActivity.objects.filter(in_last_days(now=now, days=7)).aggregate(total=Sum("fees_earned_msat"))[
        "total"
    ]
    waiting = Decision.objects.filter(status=Decision.Status.PENDING, kind__in=[k.value for k in RECOMMENDATIONS])
    return {
        "open": f"{open_channels.count():,}",
        "capacity": f"{open_channels.aggregate(total=Sum('capacity_sat'))['total']:,} sat",
        "fees_7d": f"{fees_msat // 1000:,} sat",
        "recommendations": f"{waiting.count()} recommendations wait for your approval",
    }


def test_it_signs_in_a_viewer_whose_overview_shows_the_databases_figures(page, scene):
    expected = overview_expected()
    assert expected["open"] == str(CHANNELS) and expected["fees_7d"] != "0 sat", "the scene is what the test reads"
    login(page, scene.viewer.username, scene.viewer.password)
    assert urlsplit(page.url).path == "/umbrel-ui/dashboard", "signing in lands on the overview"

    channels = page.get_by_role("region", name="Channels")
    assert described(channels, "Open").split()[0] == expected["open"]
    assert described(channels, "Capacity") == expected["capacity"]
    assert described(page.get_by_role("region", name="Last 7 days"), "Fees earned") == expected["fees_7d"]
    expect(page.get_by_role("region", name="Needs you")).to_contain_text(expected["recommendations"])


def test_it_opens_a_channel_from_the_channel_list(page, scene):
    channel = Channel.objects.select_related("peer").order_by("chan_id")[5]
    latest = ChannelScore.objects.filter(channel=channel).order_by("-computed_at").first()
    login(page, scene.viewer.username, scene.viewer.password, next_path="/umbrel-ui/channels")
    table = page.get_by_role("table")
    expect(table.locator("tbody tr")).to_have_count(CHANNELS)
    table.get_by_role("link", name=channel.peer.alias, exact=True).click()
    page.wait_for_url(f"**/umbrel-ui/channels/{channel.chan_id}")

    expect(page.get_by_role("heading", level=1)).to_contain_text(channel.peer.alias)
    glance = page.get_by_role("region", name="At a glance")
    assert described(glance, "Capacity") == f"{channel.capacity_sat:,} sat"
    assert described(glance, "Score").split()[0] == f"{latest.total_score:.2f}"


def test_it_shows_every_page_accessible_in_dark_and_light_and_fitting_a_phone(page, scene):
    """As an operator, who sees the most (action buttons, the confirmation step); the login page signed out."""
    channel = scene.fee_change.channel
    pages = {
        "overview": "/umbrel-ui/dashboard",
        "channels": "/umbrel-ui/channels",
        "channel": f"/umbrel-ui/channels/{channel.chan_id}",
        "decisions": "/umbrel-ui/decisions",
        "decision": f"/umbrel-ui/decisions/{scene.fee_change.pk}",
        "decision-confirm": f"/umbrel-ui/decisions/{scene.fee_change.pk}/apply",
        "sources": "/umbrel-ui/sources",
    }
    page.goto(LOGIN_PATH)
    problems = page_problems(page, "login")
    login(page, scene.operator.username, scene.operator.password)
    for name, path in pages.items():
        response = page.goto(path)
        assert response is not None and response.status == 200, (
            f"{name}: {path} answered {response and response.status}"
        )
        page.wait_for_load_state("networkidle")
        expect(page.locator("h1")).to_have_count(1)
        problems += page_problems(page, name)
    assert not problems, "\n\n".join(problems)
