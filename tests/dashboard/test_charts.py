"""The dashboard's SVG charts: accessible, readable in both colour schemes, drawn from the database's figures,
cached per data (ETag, 304) and warmed by the render_charts task."""

import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from channels.models import Channel, ChannelActivity, ChannelScore, Node
from channels.scoring import DEFAULT_WEIGHTS, HEURISTICS
from daznode import celery_app
from daznode.roles import Role, user_set_role
from decisions.dashboard import chart_data, chart_drawing, charts
from decisions.tasks import fee_cycle as fee_cycle_task
from decisions.tasks import render_charts, sync_and_score
from sources.demo import simulated_node_register
from sources.simulator import start_simulator
from tests.conftest import REPO, child_env

SVG = "{http://www.w3.org/2000/svg}"
OVERVIEW = ("earnings", "volume", "scores", "liquidity")
CHANNEL_CHARTS = ("scores", "forwards")


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def viewer(client, db):
    user = get_user_model().objects.create_user("vera")
    user_set_role(user, Role.VIEWER)
    client.force_login(user)
    return client


def today():
    return charts.utc_today()


def midnight(days_ago: int) -> datetime:
    return datetime.combine(today() - timedelta(days=days_ago), time.min, tzinfo=UTC)


def make_channel(index: int, *, alias: str = "", capacity_sat: int = 2_000_000, local_sat: int = 500_000) -> Channel:
    peer = Node.objects.create(pubkey="02" + f"{index:x}".rjust(64, "a"), alias=alias)
    return Channel.objects.create(
        chan_id=(800_000 + index) << 40 | 1 << 16,
        chan_point=f"{index:064x}:0",
        peer=peer,
        capacity_sat=capacity_sat,
        local_balance_sat=local_sat,
        remote_balance_sat=capacity_sat - local_sat - 3_000,
        base_fee_msat=1000,
        fee_rate_ppm=100,
        time_lock_delta=80,
        min_htlc_msat=1000,
        max_htlc_msat=capacity_sat * 990,
    )


def add_activity(channel: Channel, *, days_ago: int, fees_msat: int, out: int = 3, into: int = 2) -> ChannelActivity:
    start = midnight(days_ago)
    return ChannelActivity.objects.create(
        channel=channel,
        period_start=start,
        period_end=start + timedelta(days=1),
        forwards_out_count=out,
        forwards_in_count=into,
        amount_out_msat=out * 100_000_000,
        fees_earned_msat=fees_msat,
    )


def add_score(channel: Channel, total: float, *, at: datetime | None = None) -> ChannelScore:
    sub_scores = {f"{name}_score": total for name in HEURISTICS}
    return ChannelScore.objects.create(
        channel=channel,
        computed_at=at or timezone.now(),
        total_score=total,
        weights=dict(DEFAULT_WEIGHTS),
        **sub_scores,
    )


@pytest.fixture
def node(db):
    """Two channels with a week of forwards and scores: 1,234 sat on the best day, 1,300 sat in all."""
    Node.objects.create(pubkey="03" + "b" * 64, alias="our-node", is_ours=True)
    acinq = make_channel(1, alias="ACINQ", capacity_sat=16_000_000, local_sat=4_000_000)
    bob = make_channel(2, alias="bob", capacity_sat=1_000_000, local_sat=900_000)
    add_activity(acinq, days_ago=3, fees_msat=1_234_999, out=7, into=1)
    add_activity(bob, days_ago=3, fees_msat=0, out=0, into=4)
    add_activity(bob, days_ago=1, fees_msat=66_000, out=2, into=0)
    add_score(acinq, 0.35, at=timezone.now() - timedelta(days=2))
    add_score(acinq, 0.72)
    add_score(bob, 0.64)
    return {"acinq": acinq, "bob": bob}


def parse(response) -> ET.Element:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "image/svg+xml"
    root = ET.fromstring(response.content)  # noqa: S314 (our own server's answer, in a test)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    return root


def title_and_desc(root: ET.Element) -> tuple[str, str]:
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert next(iter(root)) is title, "the title comes first, where assistive technology looks for it"
    return title.text or "", desc.text or ""


def texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def chart(client, name: str):
    return client.get(reverse("ui:chart", args=[name]))


def channel_chart(client, chan_id, name: str):
    return client.get(reverse("ui:channel-chart", args=[str(chan_id), name]))


def test_it_draws_the_fees_earned_per_day_with_the_real_figures(viewer, node):
    title, desc = title_and_desc(parse(chart(viewer, "earnings")))
    best_day = today() - timedelta(days=3)
    assert title == "Fees earned per day, last 30 days"
    assert "1,300 sat in total" in desc  # 1,234.999 + 66 sat, rounded down as LND does
    assert f"best day {best_day} with 1,234 sat" in desc


def test_it_draws_the_volume_routed_per_day(viewer, node):
    _, desc = title_and_desc(parse(chart(viewer, "volume")))
    assert "900,000 sat in 9 forwards" in desc
    assert f"busiest day {today() - timedelta(days=3)} with 700,000 sat" in desc


def test_it_draws_the_distribution_of_the_latest_scores_of_open_channels(viewer, node):
    closed = make_channel(3, alias="closed")
    add_score(closed, 0.01)
    Channel.objects.filter(pk=closed.pk).update(closed_at=timezone.now())
    _, desc = title_and_desc(parse(chart(viewer, "scores")))
    # ACINQ's latest (0.72, not 0.35) and bob's 0.64; the closed channel's score is not counted.
    assert "2 channels: median 0.68, lowest 0.64, highest 0.72" in desc


def test_it_draws_local_and_remote_balance_per_channel(viewer, node):
    root = parse(chart(viewer, "liquidity"))
    title, desc = title_and_desc(root)
    assert title == "Local and remote balance per channel"
    assert "4,900,000 sat local" in desc and "lowest local share ACINQ 25 %, highest bob 90 %" in desc
    assert "ACINQ · 16M sat" in texts(root)


def test_it_shows_only_the_largest_channels_and_says_so_when_there_are_many(viewer, db):
    for index in range(40):
        make_channel(index, alias=f"peer-{index}", capacity_sat=1_000_000 + index * 1_000)
    root = parse(chart(viewer, "liquidity"))
    title, _ = title_and_desc(root)
    assert title == f"Balance of the {chart_drawing.LIQUIDITY_ROWS} largest of 40 channels"
    largest = range(40 - chart_drawing.LIQUIDITY_ROWS, 40)
    expected = {f"peer-{index} · {1 + index / 1000:.3g}M sat" for index in largest}
    assert {text for text in texts(root) if text.startswith("peer-")} == expected


def test_it_draws_a_channels_daily_mean_scores(viewer, node):
    acinq = node["acinq"]
    root = parse(channel_chart(viewer, acinq.chan_id, "scores"))
    title, desc = title_and_desc(root)
    assert title == f"Scores of ACINQ ({acinq.chan_id}), last 90 days"
    assert f"total 0.72 on {today()} (from 0.35 on {today() - timedelta(days=2)})" in desc
    assert {"total", "centrality", "peer quality"} <= set(texts(root))


def test_it_draws_a_channels_forwards_per_day(viewer, node):
    bob = node["bob"]
    block = bob.chan_id >> 40
    root = parse(channel_chart(viewer, f"{block}x1x0", "forwards"))  # the BLOCKxTXxOUT form works too
    _, desc = title_and_desc(root)
    assert "2 out and 4 in" in desc
    assert f"busiest day {today() - timedelta(days=3)} with 0 out and 4 in" in desc


@pytest.mark.parametrize("name", OVERVIEW)
def test_it_says_no_data_yet_on_an_empty_node(viewer, name):
    root = parse(chart(viewer, name))
    _, desc = title_and_desc(root)
    assert "No data yet" in texts(root) and "no data yet" in desc


@pytest.mark.parametrize("name", CHANNEL_CHARTS)
def test_it_says_no_data_yet_for_a_channel_without_history(viewer, db, name):
    channel = make_channel(9, alias="fresh")
    assert "No data yet" in texts(parse(channel_chart(viewer, channel.chan_id, name)))


@pytest.mark.parametrize("name", OVERVIEW)
def test_it_is_self_contained_and_recolours_itself_in_dark_mode(viewer, node, name):
    response = chart(viewer, name)
    root = parse(response)
    style = root.find(f"{SVG}style")
    assert style is not None and "@media (prefers-color-scheme: dark)" in (style.text or "")
    assert '[style*="fill: #1b1f27"]{fill:#e6e8ec!important}' in style.text  # the text colour
    body = response.content.decode()
    assert "<!DOCTYPE" not in body and "<image" not in body and "<metadata" not in body
    assert "@import" not in body and "url(http" not in body and 'href="http' not in body
    assert response["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert response["Cache-Control"] == "private, max-age=60"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_draws_the_same_bytes_from_the_same_figures():
    days = [chart_drawing.DailyRouting(today() - timedelta(days=1), 5_000, 9_000_000, 3)]
    assert chart_drawing.earnings_svg(days, window_days=30) == chart_drawing.earnings_svg(days, window_days=30)


def test_its_colours_keep_their_contrast_on_light_and_dark_cards():
    for colour in (chart_drawing.TEXT, chart_drawing.MUTED, chart_drawing.ACCENT, *chart_drawing.SUB_SCORE_COLOURS):
        assert contrast(colour.light, "#ffffff") >= 3, colour
        assert contrast(colour.dark, "#181b22") >= 3, colour
    lights = [colour.light for colour in dict.fromkeys(chart_drawing.PALETTE)]
    assert len(lights) == len(set(lights)), "the dark style finds each colour by its light value"


def contrast(first: str, second: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_it_serves_a_cached_chart_without_drawing_it(viewer, node):
    plan = charts.earnings_plan(today=today())
    sentinel = b"<svg xmlns='http://www.w3.org/2000/svg' role='img'><title>from the cache</title></svg>"
    cache.set(plan.key, sentinel)
    assert chart(viewer, "earnings").content == sentinel


def test_it_answers_not_modified_while_the_data_stays_the_same(viewer, node):
    first = chart(viewer, "scores")
    second = chart(viewer, "scores")
    assert second.content == first.content and second["ETag"] == first["ETag"]
    revalidated = viewer.get(reverse("ui:chart", args=["scores"]), HTTP_IF_NONE_MATCH=first["ETag"])
    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated["ETag"] == first["ETag"] and revalidated["Cache-Control"] == "private, max-age=60"
    stale = viewer.get(reverse("ui:chart", args=["scores"]), HTTP_IF_NONE_MATCH='"chart-scores-old"')
    assert stale.status_code == 200


def test_new_forwards_give_a_new_chart_with_the_new_figures(viewer, node):
    before = chart(viewer, "earnings")
    ChannelActivity.objects.filter(channel=node["bob"], period_start=midnight(1)).update(fees_earned_msat=1_066_000)
    after = chart(viewer, "earnings")
    assert after["ETag"] != before["ETag"]
    assert "2,300 sat in total" in title_and_desc(parse(after))[1]
    assert viewer.get(reverse("ui:chart", args=["earnings"]), HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 200


def test_a_new_scoring_gives_a_new_score_distribution(viewer, node):
    before = chart(viewer, "scores")
    add_score(node["bob"], 0.10)
    after = chart(viewer, "scores")
    assert after["ETag"] != before["ETag"]
    assert "lowest 0.10, highest 0.72" in title_and_desc(parse(after))[1]


def test_a_new_score_of_a_channel_gives_it_a_new_chart(viewer, node):
    acinq = node["acinq"]
    before = channel_chart(viewer, acinq.chan_id, "scores")
    add_score(acinq, 0.90)
    after = channel_chart(viewer, acinq.chan_id, "scores")
    assert after["ETag"] != before["ETag"]
    assert f"total 0.81 on {today()}" in title_and_desc(parse(after))[1]  # the day's mean of 0.72 and 0.90


def test_the_render_charts_task_draws_the_overview_ahead_of_the_page(viewer, node):
    result = render_charts.apply().get()
    assert result == {"drawn": list(OVERVIEW), "cached": []}
    for name in OVERVIEW:
        cached = cache.get(charts.OVERVIEW_CHARTS[name](today=today()).key)
        assert cached is not None and chart(viewer, name).content == cached
    assert render_charts.apply().get() == {"drawn": [], "cached": list(OVERVIEW)}


def test_the_fee_cycle_task_warms_the_charts_after_it_commits(node, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)  # .delay() runs here rather than on a worker
    with django_capture_on_commit_callbacks(execute=True):
        fee_cycle_task.apply(kwargs={"mode": "shadow", "sync": False}).get()
    for name in OVERVIEW:
        assert cache.get(charts.OVERVIEW_CHARTS[name](today=today()).key) is not None, name


def test_the_hourly_sync_and_score_warms_the_charts(viewer, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    with start_simulator(seed=5, node_count=100) as sim:
        simulated_node_register(name="sim", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)
        with django_capture_on_commit_callbacks(execute=True):
            result = sync_and_score.apply().get()
    assert result["scored"] > 0
    cached = cache.get(charts.scores_plan(today=today()).key)
    assert cached is not None and f"{result['scored']} channels: median".encode() in cached
    assert chart(viewer, "scores").content == cached


def test_a_fee_cycle_task_refused_for_its_mode_warms_nothing(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert fee_cycle_task.apply(kwargs={"mode": "yolo"}).get()["ran"] is False
    assert callbacks == []


@pytest.mark.parametrize("name", ["nope", "Earnings", "earnings.svg", "..%2Fscores"])
def test_an_unknown_chart_is_not_found(viewer, db, name):
    assert viewer.get(f"/umbrel-ui/charts/{name}.svg").status_code == 404


@pytest.mark.parametrize(
    "chan_id",
    ["abc", "-1", "1.5", "99999999999999999999999", "123%0A", "%EF%BC%91", "800001x1x1x1", "1"],
)
def test_a_malformed_or_unknown_channel_is_not_found(viewer, node, chan_id):
    assert viewer.get(f"/umbrel-ui/charts/channels/{chan_id}/scores.svg").status_code == 404


def test_an_unknown_channel_chart_is_not_found(viewer, node):
    assert channel_chart(viewer, node["acinq"].chan_id, "liquidity").status_code == 404


def test_anonymous_visitors_are_sent_to_the_login_page_and_roleless_users_refused(client, node):
    for url in (
        reverse("ui:chart", args=["earnings"]),
        reverse("ui:channel-chart", args=[node["bob"].chan_id, "scores"]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("ui:login"))
        assert b"svg" not in response.content
    client.force_login(get_user_model().objects.create_user("nobody"))
    assert chart(client, "earnings").status_code == 403


def test_the_selectors_window_is_in_utc_days_and_fills_the_days_without_forwards(node):
    days = chart_data.routing_per_day(today=today())
    assert len(days) == chart_data.ROUTING_DAYS and days[-1].day == today()
    assert [day.fees_earned_msat for day in days[-4:]] == [1_234_999, 0, 66_000, 0]


def test_django_starts_without_importing_matplotlib(tmp_path):
    code = (
        "import sys, django; django.setup(); import daznode.urls, decisions.tasks; "
        "from django.test import Client; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=child_env(DJANGO_SETTINGS_MODULE="tests.settings", DAZNODE_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_it_labels_sat_axes_exactly_below_ten_thousand_and_shortened_above():
    from decisions.dashboard.chart_drawing import _sat_tick

    assert [_sat_tick(value, 0) for value in (0, 3_000, 9_000)] == ["0", "3,000", "9,000"]
    assert [_sat_tick(value, 0) for value in (12_000, 1_500_000, 2_000_000_000)] == ["12k", "1.5M", "2G"]


@pytest.mark.parametrize("alias", ["$\\evil$", "<b>&amp;\x01\ufffe", "x" * 64])
def test_it_draws_a_peers_alias_from_the_public_graph_as_plain_text_whatever_it_holds(viewer, db, alias):
    """Aliases are chosen by whoever runs the peer: "$...$" is not maths, a control character does not break
    the SVG, markup stays text."""
    channel = make_channel(1, alias=alias, capacity_sat=5_000_000)
    add_activity(channel, days_ago=1, fees_msat=5_000_000)
    add_score(channel, 0.5)
    for response in (
        chart(viewer, "liquidity"),
        *(channel_chart(viewer, channel.chan_id, n) for n in ("scores", "forwards")),
    ):
        root = parse(response)  # 200 and well-formed XML
        shown = " ".join([*texts(root), *title_and_desc(root)])
        assert "<b>" not in response.content.decode(), "markup from an alias stays text"
        assert alias[:10].replace("\x01", "\ufffd").replace("\ufffe", "\ufffd")[:5] in shown
