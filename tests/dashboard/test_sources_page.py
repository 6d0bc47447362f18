"""/umbrel-ui/sources: each source's health, availability, latency, last error and circuit breaker, its graph fetches,
and the graph snapshots with their freshness, as the database (and the shared breaker store) holds them."""

import functools
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from auth_vault import services
from auth_vault.models import Secret
from decisions.dashboard.source_figures import SNAPSHOTS_SHOWN, sources_overview, url_without_credentials
from sources.connect import breaker_for
from sources.health import percentile, source_health
from sources.models import GraphFetchStatus, GraphSnapshot, HealthCheck, Source
from sources.snapshots import StaleReason, snapshot_staleness
from tests.auth_vault.fixtures import ADMIN_MACAROON
from tests.conftest import assert_not_leaked
from tests.sources.graphs import star_graph

URL = "/umbrel-ui/sources"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # the circuit breakers' store when Redis is configured


@pytest.fixture
def viewer_client(client, viewer_account):
    client.force_login(viewer_account.user)
    return client


def make_source(name: str = "umbrel", kind: str = Source.Kind.LND, url: str = "https://umbrel.local:8080", **fields):
    return Source.objects.create(name=name, kind=kind, url=url, **fields)


def add_check(source: Source, ago: timedelta, *, ok: bool, latency_ms: float | None = None, error: str = ""):
    return HealthCheck.objects.create(
        source=source, checked_at=timezone.now() - ago, ok=ok, latency_ms=latency_ms, error=error
    )


@functools.cache
def graph_fields(leaves: int) -> dict:
    """A star graph's snapshot columns, built once: building a snapshot costs a few hundred milliseconds."""
    built = GraphSnapshot.from_graph(source=None, graph=star_graph(leaves), ttl=timedelta(0))
    columns = ("node_count", "edge_count", "content_hash", "payload", "compact", "skipped", "skipped_examples")
    return {column: getattr(built, column) for column in columns}


def add_snapshot(source: Source | None, ago: timedelta, *, ttl=timedelta(hours=12), analysed=False, leaves=3):
    taken = timezone.now() - ago
    return GraphSnapshot.objects.create(
        source=source,
        fetched_at=taken,
        expires_at=taken + ttl,
        analysed_at=taken + timedelta(minutes=1) if analysed else None,
        **graph_fields(leaves),
    )


def health_row(html: str, name: str) -> str:
    """The health table's row of one source."""
    [row] = [row for row in re.findall(r"<tr>.*?</tr>", html, re.S) if f"<strong>{name}</strong>" in row]
    return row


def snapshot_row(html: str, snapshot: GraphSnapshot) -> str:
    [row] = [row for row in re.findall(r"<tr>.*?</tr>", html, re.S) if snapshot.fetched_at.isoformat() in row]
    return row


# Who may see it


def test_it_sends_anonymous_visitors_to_the_login_page(client, db):
    make_source(name="home-node-lnd")
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/umbrel-ui/login?next=/umbrel-ui/sources"
    login_page = client.get(URL, follow=True).content.decode()
    assert "Sign in" in login_page and "home-node-lnd" not in login_page


def test_it_refuses_a_signed_in_user_without_a_role(client, no_role_account):
    client.force_login(no_role_account.user)
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("account", ["viewer_account", "operator_account", "admin_account"])
def test_it_shows_the_page_to_every_role(client, account, request):
    client.force_login(request.getfixturevalue(account).user)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<h1") == 1 and "<h1>Sources</h1>" in html
    assert '<a href="/umbrel-ui/sources" aria-current="page">Sources</a>' in html
    assert "dashboard/sources.css" in html


def test_it_answers_a_post_with_405(viewer_client):
    make_source()
    assert viewer_client.post(URL).status_code == 405


HOSTILE = '"><img src=x onerror=alert(1)>'
HOSTILE_ESCAPED = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"


def test_it_shows_what_a_source_answered_as_text_never_as_markup(viewer_client):
    """A source's error quotes what the far end sent (a public graph's server, a proxy): the page escapes it in the
    health table, in what needs attention and in the graph fetch table."""
    source = make_source(name="graph", kind=Source.Kind.PUBLIC_GRAPH, url="https://g.example/graph.json")
    add_check(source, timedelta(minutes=1), ok=False, error=f"HTTP 502 {HOSTILE}")
    GraphFetchStatus.objects.create(
        source=source, last_failure_at=timezone.now(), failing_since=timezone.now(), error=f"garbled {HOSTILE}"
    )

    html = viewer_client.get(URL).content.decode()

    assert "<img src=x" not in html
    assert html.count(f"HTTP 502 {HOSTILE_ESCAPED}") >= 2, "the health table and the list of what is down"
    assert f"garbled {HOSTILE_ESCAPED}" in html


# Health


def test_it_shows_availability_per_window_and_p95_latency_as_the_health_api_computes_them(viewer_client):
    source = make_source()
    add_check(source, timedelta(minutes=10), ok=True, latency_ms=100)
    add_check(source, timedelta(minutes=50), ok=False, error="timed out")
    add_check(source, timedelta(hours=5), ok=True, latency_ms=200)
    add_check(source, timedelta(hours=6), ok=True, latency_ms=400)
    add_check(source, timedelta(days=3), ok=False, error="connection refused")
    add_check(source, timedelta(days=3, hours=1), ok=True, latency_ms=9000)  # outside the latency window
    add_check(source, timedelta(days=7, hours=2), ok=False, error="too old to count")

    response = viewer_client.get(URL)
    [row] = response.context["overview"].sources
    assert row.availability == {"1h": 1 / 2, "24h": 3 / 4, "7d": 4 / 6}
    assert row.check_counts == {"1h": 2, "24h": 4, "7d": 6}
    assert row.p95_latency_ms == pytest.approx(percentile([100.0, 200.0, 400.0], 0.95))
    api = source_health(source)
    assert {label: round(share, 4) for label, share in row.availability.items()} == api["availability"]
    assert row.p95_latency_ms == pytest.approx(api["latency_ms"]["p95"])
    assert row.status == "up"

    html = health_row(response.content.decode(), "umbrel")
    assert "50.0 %" in html and "75.0 %" in html and "66.7 %" in html
    assert "380 ms" in html  # 200 + 0.9 * (400 - 200)
    assert "6 checks" in html and ">Up<" in html and "LND (REST)" in html


def test_it_shows_a_dash_not_a_zero_where_there_is_no_check(viewer_client):
    make_source(name="fresh-node")
    response = viewer_client.get(URL)
    [row] = response.context["overview"].sources
    assert row.availability == {"1h": None, "24h": None, "7d": None} and row.p95_latency_ms is None
    html = health_row(response.content.decode(), "fresh-node")
    assert "No checks yet" in html
    assert html.count('<td class="num">—</td>') == 4, "three windows and the latency"
    assert "0.0 %" not in html


def test_it_shows_the_last_error_and_since_when_a_source_is_down(viewer_client):
    source = make_source()
    add_check(source, timedelta(hours=3), ok=True, latency_ms=50)
    first_failure = add_check(source, timedelta(hours=2), ok=False, error="connection refused")
    add_check(source, timedelta(hours=1), ok=False, error="timed out after 30 s")

    response = viewer_client.get(URL)
    overview = response.context["overview"]
    [row] = overview.sources
    assert row.status == "down"
    assert row.facts.down_since == first_failure.checked_at
    assert (row.last_error, row.last_error_at) == ("timed out after 30 s", row.facts.latest_check_at)
    assert overview.down == [row] and overview.needs_attention
    html = response.content.decode()
    assert "timed out after 30 s" in health_row(html, "umbrel")
    assert "has failed its health checks since" in html
    assert first_failure.checked_at.isoformat() in html, "since the first failure of the run, as a <time>"


def test_it_keeps_the_last_error_of_a_source_that_is_up_again(viewer_client):
    source = make_source()
    failure = add_check(source, timedelta(hours=2), ok=False, error="TLS handshake failed")
    add_check(source, timedelta(hours=1), ok=True, latency_ms=80)
    response = viewer_client.get(URL)
    [row] = response.context["overview"].sources
    assert (row.status, row.facts.down_since) == ("up", None)
    assert (row.last_error, row.last_error_at) == ("TLS handshake failed", failure.checked_at)
    assert not response.context["overview"].down


@pytest.mark.parametrize(
    ("cooldown", "state", "badge"),
    [(timedelta(minutes=5), "open", "Open"), (timedelta(0), "half_open", "Half-open")],
)
def test_it_shows_the_circuit_breaker_as_every_process_shares_it(viewer_client, settings, cooldown, state, badge):
    settings.DAZNODE_SOURCE_BREAKER_COOLDOWN = cooldown
    source, healthy = make_source(), make_source(name="backup", priority=200)
    breaker = breaker_for(source)
    for _ in range(settings.DAZNODE_SOURCE_BREAKER_THRESHOLD):
        breaker.record_failure()
    breaker_for(healthy).record_failure()  # one failure: still closed

    response = viewer_client.get(URL)
    rows = {row.name: row for row in response.context["overview"].sources}
    threshold = settings.DAZNODE_SOURCE_BREAKER_THRESHOLD
    assert (rows["umbrel"].circuit, rows["umbrel"].circuit_failures) == (state, threshold)
    assert rows["umbrel"].circuit == breaker_for(source).state(), "as the sources' own breaker judges it"
    assert (rows["backup"].circuit, rows["backup"].circuit_failures) == ("closed", 1)
    html = response.content.decode()
    assert f">{badge}<" in health_row(html, "umbrel")
    assert f"{threshold} failures in a row" in health_row(html, "umbrel")
    assert ">Closed<" in health_row(html, "backup")


def test_it_never_shows_a_credential_only_the_secrets_name_and_fingerprint_start(viewer_client):
    credential = services.secret_create(name="umbrel-mac", kind=Secret.Kind.MACAROON, value=ADMIN_MACAROON, actor="t")
    make_source(url="https://lnd-user:pa55-word-9@umbrel.local:8080/v1?macaroon=c0ffee1234abcd", credential=credential)
    html = viewer_client.get(URL).content.decode()
    assert "umbrel-mac" in html and credential.fingerprint[:12] in html
    assert credential.fingerprint not in html, "only the start of the fingerprint"
    assert_not_leaked(html, ADMIN_MACAROON)
    for fragment in ("pa55-word-9", "lnd-user", "c0ffee1234abcd"):
        assert fragment not in html
    assert "https://umbrel.local:8080/v1?…" in html


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@host:8080/path?key=abc#frag", "https://host:8080/path?…"),
        ("https://token@host/graph.json", "https://host/graph.json"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("/srv/graphs/describegraph.json", "/srv/graphs/describegraph.json"),
    ],
)
def test_it_shows_a_url_without_user_password_or_query(url, shown):
    assert url_without_credentials(url) == shown


# Graph fetches and snapshots


def test_it_shows_each_graph_sources_fetch_status_and_leaves_out_sources_without_a_graph(viewer_client):
    lnd = make_source()
    make_source(name="wallet", kind=Source.Kind.LNBITS, url="https://lnbits.local")
    public = make_source(name="public", kind=Source.Kind.PUBLIC_GRAPH, url="https://graph.example/g.json")
    make_source(name="never-fetched", kind=Source.Kind.MCP, url="https://peer.example")
    now = timezone.now()
    GraphFetchStatus.objects.create(source=lnd, last_success_at=now - timedelta(hours=1))
    GraphFetchStatus.objects.create(
        source=public,
        last_success_at=now - timedelta(hours=5),
        last_failure_at=now - timedelta(minutes=10),
        failing_since=now - timedelta(hours=4),
        error="HTTP 503 from graph.example",
    )
    response = viewer_client.get(URL)
    overview = response.context["overview"]
    assert [row.name for row in overview.graph_sources] == ["never-fetched", "public", "umbrel"]
    assert [row.name for row in overview.fetches_failing] == ["public"]
    html = response.content.decode()
    fetches = html[html.index('id="fetches-title"') : html.index('id="snapshots-title"')]
    assert "wallet" not in fetches
    public_row = next(row for row in re.findall(r"<tr>.*?</tr>", fetches, re.S) if ">public<" in row)
    assert ">Failing<" in public_row and "HTTP 503 from graph.example" in public_row
    assert "No fetch yet" in fetches and ">OK<" in fetches
    assert "Fetching the graph from <strong>public</strong> has failed since" in html


def test_it_lists_snapshots_newest_first_and_marks_the_one_the_scores_use(viewer_client, settings):
    source = make_source()
    add_check(source, timedelta(minutes=5), ok=True, latency_ms=40)
    analysed = add_snapshot(source, timedelta(hours=3), analysed=True, leaves=4)
    newest = add_snapshot(source, timedelta(minutes=30), leaves=5)
    expired = add_snapshot(source, timedelta(hours=20), analysed=True, leaves=2)

    response = viewer_client.get(URL)
    overview = response.context["overview"]
    assert [row.id for row in overview.snapshots] == [newest.id, analysed.id, expired.id]
    assert overview.newest.id == newest.id and overview.newest.newest
    assert overview.analysed.id == analysed.id == GraphSnapshot.objects.newest_analysed_id()
    assert [row.used_by_analytics for row in overview.snapshots] == [False, True, False]
    old = overview.snapshots[2]
    assert (old.expired, old.staleness.stale, old.staleness.reason) == (True, True, StaleReason.EXPIRED)
    assert old.ttl == timedelta(hours=12) and old.age >= timedelta(hours=20)
    assert (overview.newest.node_count, overview.newest.edge_count) == (6, 5)
    assert overview.snapshot_count == 3

    html = response.content.decode()
    assert "Scores use this" in snapshot_row(html, analysed) and "Newest" in snapshot_row(html, newest)
    assert ">Fresh<" in snapshot_row(html, newest)
    expired_html = snapshot_row(html, expired)
    assert ">Stale<" in expired_html and "past its time to live" in expired_html
    assert "<td>12\xa0hours</td>" in expired_html, "the time to live"
    assert "Nothing: every enabled source answers" in html


def test_it_lists_the_snapshot_the_scores_use_even_when_older_than_the_newest_shown(viewer_client):
    source = make_source()
    analysed = add_snapshot(source, timedelta(days=2), ttl=timedelta(days=7), analysed=True)
    for minutes in range(SNAPSHOTS_SHOWN + 2):
        add_snapshot(source, timedelta(minutes=minutes + 1))
    response = viewer_client.get(URL)
    overview = response.context["overview"]
    assert len(overview.snapshots) == SNAPSHOTS_SHOWN + 1
    assert overview.snapshots[-1].id == analysed.id and overview.analysed_beyond_shown
    assert f"The newest {SNAPSHOTS_SHOWN} of {SNAPSHOTS_SHOWN + 3} snapshots, and the one the scores use" in (
        response.content.decode()
    )


def test_it_says_when_there_is_no_source_and_no_graph(viewer_client):
    html = viewer_client.get(URL).content.decode()
    assert "No data source is configured" in html
    assert "No graph snapshot has been stored yet" in html
    assert "No graph snapshot yet." in html


def stale_scenarios(source: Source, now) -> dict[str, GraphSnapshot]:
    """Snapshots in each of the situations snapshot_staleness tells apart."""
    other = make_source(name="other", kind=Source.Kind.PUBLIC_GRAPH, url="https://graph.example")
    down = make_source(name="down", kind=Source.Kind.PUBLIC_GRAPH, url="https://down.example")
    recovered = make_source(name="recovered", kind=Source.Kind.PUBLIC_GRAPH, url="https://back.example")
    scenarios = {
        "fresh": add_snapshot(other, timedelta(hours=1)),
        "expired": add_snapshot(other, timedelta(hours=13)),
        "fetch-failed": add_snapshot(source, timedelta(hours=2)),
        "older-than-success": add_snapshot(source, timedelta(hours=30), ttl=timedelta(days=3)),
        "source-down": add_snapshot(down, timedelta(hours=3)),
        "recovered": add_snapshot(recovered, timedelta(hours=4)),
        "removed-source": add_snapshot(None, timedelta(hours=14)),
    }
    GraphFetchStatus.objects.create(
        source=source,
        last_success_at=now - timedelta(hours=2),
        last_failure_at=now - timedelta(minutes=20),
        failing_since=now - timedelta(hours=1),
        error="timed out",
    )
    add_check(source, timedelta(hours=3), ok=True, latency_ms=30)
    add_check(down, timedelta(hours=5), ok=True, latency_ms=30)
    add_check(down, timedelta(hours=2), ok=False, error="refused")
    add_check(down, timedelta(hours=1), ok=False, error="refused again")
    GraphFetchStatus.objects.create(
        source=recovered, last_failure_at=now - timedelta(hours=1), failing_since=now - timedelta(hours=2), error="x"
    )
    add_check(recovered, timedelta(minutes=30), ok=True, latency_ms=30)
    return scenarios


def test_its_freshness_agrees_with_snapshot_staleness_in_every_case(viewer_client):
    now = timezone.now()
    scenarios = stale_scenarios(make_source(), now)
    overview = sources_overview(now=now)
    shown = {row.id: row.staleness for row in overview.snapshots}
    answers = {name: snapshot_staleness(snapshot, now=now) for name, snapshot in scenarios.items()}
    assert {name: shown[snapshot.id] for name, snapshot in scenarios.items()} == answers
    reasons = {name: answer.reason for name, answer in answers.items()}
    assert reasons == {
        "fresh": "",
        "expired": StaleReason.EXPIRED,
        "fetch-failed": StaleReason.FETCH_FAILED,
        "older-than-success": StaleReason.FETCH_FAILED,
        "source-down": StaleReason.SOURCE_DOWN,
        "recovered": "",
        "removed-source": StaleReason.EXPIRED,
    }, "every case is exercised"


# Bounded work


def scene(*, prefix: str, sources: int, checks: int, snapshots: int) -> None:
    now = timezone.now()
    credential = services.secret_create(name=prefix, kind=Secret.Kind.MACAROON, value=ADMIN_MACAROON, actor="t")
    for index in range(sources):
        source = make_source(name=f"{prefix}-{index}", credential=credential if index % 2 else None)
        HealthCheck.objects.bulk_create(
            HealthCheck(
                source=source,
                checked_at=now - timedelta(minutes=7 * number),
                ok=number % 5 != 0,
                latency_ms=10.0 + number,
                error="" if number % 5 else "refused",
            )
            for number in range(checks)
        )
        GraphFetchStatus.objects.create(source=source, last_success_at=now)
        breaker_for(source).record_failure()
        for number in range(snapshots):
            add_snapshot(source, timedelta(minutes=number + 1), analysed=number == snapshots - 1)


def test_its_queries_do_not_grow_with_sources_checks_or_snapshots(viewer_client, django_assert_max_num_queries):
    scene(prefix="small", sources=2, checks=10, snapshots=2)
    with CaptureQueriesContext(connection) as small:
        assert viewer_client.get(URL).status_code == 200
    scene(prefix="large", sources=6, checks=400, snapshots=5)
    with django_assert_max_num_queries(len(small)):
        response = viewer_client.get(URL)
    overview = response.context["overview"]
    assert len(overview.sources) == 8 and len(overview.snapshots) == SNAPSHOTS_SHOWN
    assert sum(row.check_counts["7d"] for row in overview.sources) == 2 * 10 + 6 * 400
