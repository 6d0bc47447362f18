"""The decisions API against the simulated node: read, preview, approve, apply, roll back, the kill switch; every
bad input is a 4xx with a message, never a 500."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from channels.models import Channel
from daznode import api_cache
from daznode.roles import Role, user_set_role
from decisions.models import AuditEntry, Decision, KillSwitch, PolicyBackup
from decisions.services import decisions_store, judge_channels
from tests.channels.test_api import table_rows_read
from tests.dashboard.history import history_build
from tests.decisions.conftest import change_outside, live_policy, make_decision, open_channels

# Applies and rollbacks as live mode does them (test_live_anyway.py: the other modes).
pytestmark = pytest.mark.usefixtures("live_mode")

URL = "/api/v1"


def api_as(role: Role | None, username: str | None = None) -> Client:
    user = get_user_model().objects.create_user(username or f"user-{role}")
    user_set_role(user, role)
    return Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")


@pytest.fixture
def operator(db) -> Client:
    return api_as(Role.OPERATOR, "olivia")


@pytest.fixture
def viewer(db) -> Client:
    return api_as(Role.VIEWER, "victor")


def post(client: Client, url: str, body=None):
    return client.post(f"{URL}/{url}", body if body is not None else {}, content_type="application/json")


def stored_decisions() -> list[Decision]:
    return decisions_store(judge_channels(now=timezone.now()), mode=Decision.Mode.DRY_RUN, actor="system")


# Reading


def test_it_lists_decisions_newest_first_with_their_explanation(node, viewer):
    stored_decisions()
    channel = open_channels(1)[0]
    newest = make_decision(channel, fee_rate_ppm=channel.fee_rate_ppm + 30)

    response = viewer.get(f"{URL}/decisions")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == Decision.objects.count() > 1
    first = body["results"][0]
    assert first["id"] == newest.pk
    assert first["chan_id"] == str(channel.chan_id)
    assert first["peer"] == {"pubkey": channel.peer.pubkey, "alias": channel.peer.alias}
    assert first["diff"] == {"fee_rate_ppm": {"current": channel.fee_rate_ppm, "proposed": channel.fee_rate_ppm + 30}}
    assert first["reasons"] == ["made by a test"] and first["needs_approval"] is False
    created = [row["created_at"] for row in body["results"]]
    assert created == sorted(created, reverse=True)


def test_it_filters_decisions_by_channel_peer_kind_status_mode_rule_and_time(node, viewer):
    rows = stored_decisions()
    old = make_decision(open_channels(1)[0], created_at=timezone.now() - timedelta(days=3), mode="live")
    sample = rows[0]

    def ids(query: str) -> set[int]:
        response = viewer.get(f"{URL}/decisions?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    all_ids = set(Decision.objects.values_list("id", flat=True))
    assert ids(f"channel={sample.channel.chan_id}") == {d.pk for d in Decision.objects.filter(channel=sample.channel)}
    assert ids(f"peer={sample.channel.peer.pubkey}") == {
        d.pk for d in Decision.objects.filter(channel__peer=sample.channel.peer)
    }
    assert ids(f"kind={sample.kind}") == {d.pk for d in Decision.objects.filter(kind=sample.kind)}
    assert ids(f"status={sample.status}") == {d.pk for d in Decision.objects.filter(status=sample.status)}
    assert ids(f"rule={sample.rule}") == {d.pk for d in Decision.objects.filter(rule=sample.rule)}
    assert ids("mode=live") == {old.pk}
    assert ids("mode=dry_run") == all_ids - {old.pk}
    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"since={since}") == all_ids - {old.pk}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("channel=abc", "channel"),
        ("channel=-5", "channel"),
        ("channel=99999999999999999999999", "channel"),
        ("peer=not-a-pubkey", "peer"),
        ("kind=maybe", "kind"),
        ("status=done", "status"),
        ("mode=yolo", "mode"),
        ("rule=made_up", "rule"),
        ("since=yesterday", "since"),
        ("since=2025-01-01T12:00:00", "since"),
    ],
)
def test_a_bad_filter_value_gets_400_naming_the_parameter(viewer, query, parameter):
    response = viewer.get(f"{URL}/decisions?{query}")
    assert response.status_code == 400
    assert parameter in response.json()


def test_the_detail_adds_the_backups_and_the_audit_trail(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 15)
    assert post(operator, f"decisions/{decision.pk}/apply").status_code == 200

    body = operator.get(f"{URL}/decisions/{decision.pk}").json()

    assert body["status"] == "applied" and body["applied_at"]
    assert [backup["policy"]["fee_rate_ppm"] for backup in body["backups"]] == [before.fee_rate_ppm]
    assert body["backups"][0]["read_from"] == "sim"
    applied = [entry for entry in body["audit"] if entry["action"] == "policy_applied"]
    assert applied[0]["actor"] == "user:olivia"
    assert applied[0]["after"]["fee_rate_ppm"] == before.fee_rate_ppm + 15


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "decisions/999999"),
        ("post", "decisions/999999/approve"),
        ("post", "decisions/999999/reject"),
        ("post", "decisions/999999/apply"),
        ("post", "decisions/999999/rollback"),
        ("post", "channels/123/rollback"),
    ],
)
def test_an_unknown_id_gets_404(operator, method, url):
    body = {"to": "2025-01-01T00:00:00Z"} if url.startswith("channels") else {}
    response = getattr(operator, method)(f"{URL}/{url}", body, content_type="application/json")
    assert response.status_code == 404


# Preview


def test_a_preview_decides_for_every_scored_channel_and_stores_nothing(node, operator):
    counts = (Decision.objects.count(), AuditEntry.objects.count(), PolicyBackup.objects.count())

    response = post(operator, "decisions/preview")

    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == Channel.objects.filter(closed_at__isnull=True).count() > 0
    assert (Decision.objects.count(), AuditEntry.objects.count(), PolicyBackup.objects.count()) == counts
    for row in results:
        assert isinstance(row["chan_id"], str) and row["reasons"]
        fee_change = row["kind"] in ("increase_fees", "decrease_fees") and row["proposed_policy"] is not None
        assert row["would_change"] == (fee_change and not row["rejections"])
        if row["would_change"]:
            assert row["diff"]


def test_a_preview_can_be_limited_to_some_channels(node, operator):
    chan_ids = [str(channel.chan_id) for channel in open_channels(2)]
    response = post(operator, "decisions/preview", {"chan_ids": chan_ids})
    assert response.status_code == 200
    assert sorted(row["chan_id"] for row in response.json()["results"]) == sorted(chan_ids)


@pytest.mark.parametrize(
    "body",
    [{"chan_ids": "123"}, {"chan_ids": [123]}, {"chan_ids": ["12a"]}, {"chan_ids": []}, {"chan_ids": [None]}],
)
def test_a_preview_refuses_chan_ids_that_are_not_a_list_of_digit_strings(operator, body):
    response = post(operator, "decisions/preview", body)
    assert response.status_code == 400
    assert "chan_ids" in response.json()


def test_a_preview_of_an_unknown_channel_gets_404(node, operator):
    response = post(operator, "decisions/preview", {"chan_ids": ["123"]})
    assert response.status_code == 404
    assert "123" in response.json()["detail"]


def test_a_preview_with_nothing_scored_gets_409_saying_what_to_run(operator):
    response = post(operator, "decisions/preview")
    assert response.status_code == 409
    assert "score_channels" in response.json()["detail"]


# Approve, reject


def test_an_operator_approves_and_rejects_pending_decisions(node, operator):
    first, second = (make_decision(channel, kind=Decision.Kind.REBALANCE) for channel in open_channels(2))

    approved = post(operator, f"decisions/{first.pk}/approve")
    rejected = post(operator, f"decisions/{second.pk}/reject", {"reason": "not now"})

    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["approved_at"]
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    entry = AuditEntry.objects.get(decision=second, action=AuditEntry.Action.DECISION_REJECTED)
    assert (entry.actor, entry.reason) == ("user:olivia", "not now")
    assert post(operator, f"decisions/{first.pk}/approve").status_code == 200, "approving twice is approving once"


def test_approving_or_rejecting_a_decision_that_is_not_pending_gets_409(node, operator):
    decision = make_decision(open_channels(1)[0], status=Decision.Status.APPLIED)
    for action in ("approve", "reject"):
        response = post(operator, f"decisions/{decision.pk}/{action}")
        assert response.status_code == 409
        assert "only a pending one" in response.json()["detail"]
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED


# Apply


def test_applying_a_decision_changes_the_node_and_answers_200(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 25)

    response = post(operator, f"decisions/{decision.pk}/apply")

    assert response.status_code == 200
    assert response.json()["status"] == "applied"
    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + 25


def test_a_failed_application_answers_502_with_the_reason_and_leaves_the_node_alone(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    node.faults.fail_policy_updates([channel.chan_point])

    response = post(operator, f"decisions/{make_decision(channel).pk}/apply")

    assert response.status_code == 502
    body = response.json()
    assert body["status"] == "failed"
    assert "kept its previous policy" in body["failure_reason"]
    assert live_policy(node, channel) == before


def test_an_application_whose_outcome_is_unread_answers_502_still_applying_with_the_note(node, operator):
    channel = open_channels(1)[0]
    node.faults.inject("malformed_json", path="/v1/chanpolicy", count=1)  # taken, the answer garbled
    node.faults.inject("malformed_json", path=f"/v1/graph/edge/{channel.chan_id}", skip=1, count=100)
    node.faults.inject("unavailable", path="/v1/chanpolicy", count=100)

    response = post(operator, f"decisions/{make_decision(channel).pk}/apply")

    assert response.status_code == 502
    body = response.json()
    assert body["status"] == "applying" and "recovery (recover_policy_writes)" in body["failure_reason"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": Decision.Kind.CLOSE_CHANNEL, "proposed_policy": None}, "never closes a channel"),
        ({"status": Decision.Status.REJECTED}, "not pending or approved"),
    ],
)
def test_applying_what_may_not_be_applied_gets_409(node, operator, fields, message):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    response = post(operator, f"decisions/{make_decision(channel, **fields).pk}/apply")
    assert response.status_code == 409
    assert message in response.json()["detail"]
    assert live_policy(node, channel) == before


def test_with_the_kill_switch_engaged_apply_gets_409_and_nothing_changes(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    assert post(operator, "system/kill-switch", {"engaged": True, "reason": "fees look wrong"}).status_code == 200

    response = post(operator, f"decisions/{make_decision(channel).pk}/apply")

    assert response.status_code == 409
    assert "kill switch" in response.json()["detail"]
    assert live_policy(node, channel) == before


# Rollback


def applied_decision(node, operator, channel, step_ppm: int = 20) -> Decision:
    channel.refresh_from_db()  # the decision starts from the policy Daznode last set
    decision = make_decision(channel, fee_rate_ppm=live_policy(node, channel).fee_rate_ppm + step_ppm)
    assert post(operator, f"decisions/{decision.pk}/apply").status_code == 200
    return decision


def test_rolling_back_a_decision_puts_the_node_back_and_a_second_time_changes_nothing(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = applied_decision(node, operator, channel)

    first = post(operator, f"decisions/{decision.pk}/rollback", {"reason": "too expensive"})
    second = post(operator, f"decisions/{decision.pk}/rollback")

    assert first.status_code == 200
    assert first.json()["changed"] is True
    assert first.json()["before"]["fee_rate_ppm"] == before.fee_rate_ppm + 20
    assert first.json()["after"]["fee_rate_ppm"] == before.fee_rate_ppm
    assert live_policy(node, channel).same_terms(before)
    assert second.status_code == 200
    assert second.json() == {
        "changed": False,
        "message": f"decision {decision.pk} is already rolled back",
        "before": None,
        "after": None,
        "mode_in_force": "live",
    }
    entry = AuditEntry.objects.get(decision=decision, action=AuditEntry.Action.ROLLED_BACK)
    assert (entry.actor, entry.reason) == ("user:olivia", "too expensive")


def test_a_rollback_over_a_change_made_outside_gets_409_until_forced(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = applied_decision(node, operator, channel)
    change_outside(node, channel, 555)

    refused = post(operator, f"decisions/{decision.pk}/rollback")

    assert refused.status_code == 409
    assert "force" in refused.json()["detail"]
    assert live_policy(node, channel).fee_rate_ppm == 555
    forced = post(operator, f"decisions/{decision.pk}/rollback", {"force": True})
    assert forced.status_code == 200 and forced.json()["changed"] is True
    assert live_policy(node, channel).same_terms(before)


def test_rolling_back_a_decision_that_was_never_applied_gets_409(node, operator):
    response = post(operator, f"decisions/{make_decision(open_channels(1)[0]).pk}/rollback")
    assert response.status_code == 409
    assert "only an applied decision" in response.json()["detail"]


def test_a_channel_rolls_back_to_a_point_in_time(node, operator, settings):
    # Two changes in a row on one channel, which the 24-hour cooldown would rightly refuse.
    settings.DAZNODE_DECISION_LIMITS = {**settings.DAZNODE_DECISION_LIMITS, "cooldown": timedelta(0)}
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    point = timezone.now()
    applied_decision(node, operator, channel, step_ppm=10)
    applied_decision(node, operator, channel, step_ppm=10)
    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + 20

    response = post(operator, f"channels/{channel.chan_id}/rollback", {"to": point.isoformat(), "reason": "undo"})

    assert response.status_code == 200, response.content
    assert response.json()["changed"] is True
    assert live_policy(node, channel).same_terms(before)
    assert not Decision.objects.filter(channel=channel, status=Decision.Status.APPLIED).exists()
    again = post(operator, f"channels/{channel.chan_id}/rollback", {"to": point.isoformat()})
    assert again.status_code == 200 and again.json()["changed"] is False


@pytest.mark.parametrize(
    ("chan_id", "body", "field"),
    [
        ("not-a-number", {"to": "2025-01-01T00:00:00Z"}, "chan_id"),
        ("{chan_id}", {"to": "2025-01-01T00:00:00"}, "to"),
        ("{chan_id}", {"to": "last week"}, "to"),
        ("{chan_id}", {"to": "2999-01-01T00:00:00Z"}, "to"),
        ("{chan_id}", {}, "to"),
        ("{chan_id}", {"to": "2025-01-01T00:00:00Z", "force": "maybe"}, "force"),
    ],
)
def test_a_channel_rollback_with_bad_input_gets_400_naming_the_field(node, operator, chan_id, body, field):
    channel = open_channels(1)[0]
    response = post(operator, f"channels/{chan_id.format(chan_id=channel.chan_id)}/rollback", body)
    assert response.status_code == 400
    assert field in response.json()


def test_a_decision_rollback_with_bad_input_gets_400(node, operator):
    decision = make_decision(open_channels(1)[0])
    assert post(operator, f"decisions/{decision.pk}/rollback", {"force": "maybe"}).status_code == 400
    assert post(operator, f"decisions/{decision.pk}/rollback", ["force"]).status_code == 400
    malformed = operator.post(f"{URL}/decisions/{decision.pk}/rollback", "{oops", content_type="application/json")
    assert malformed.status_code == 400


# Audit


def test_the_audit_log_filters_by_channel_action_kind_status_and_time(node, operator, viewer):
    channel = open_channels(1)[0]
    decision = applied_decision(node, operator, channel)

    def actions(query: str) -> list[str]:
        response = viewer.get(f"{URL}/audit?{query}")
        assert response.status_code == 200, response.content
        return [row["action"] for row in response.json()["results"]]

    assert actions(f"channel={channel.chan_id}") == ["policy_applied"]
    assert actions(f"peer={channel.peer.pubkey}&action=policy_applied") == ["policy_applied"]
    assert actions("kind=increase_fees&status=applied") == ["policy_applied"]
    assert actions("status=rolled_back") == []
    assert actions(f"until={(decision.created_at - timedelta(seconds=1)).isoformat().replace('+00:00', 'Z')}") == []
    row = viewer.get(f"{URL}/audit?channel={channel.chan_id}").json()["results"][0]
    assert (row["chan_id"], row["decision"], row["actor"]) == (str(channel.chan_id), decision.pk, "user:olivia")


@pytest.mark.parametrize(
    "query", ["channel=x", "peer=02", "action=deleted", "kind=x", "status=x", "since=soon", "until=2025-01-01"]
)
def test_a_bad_audit_filter_gets_400_naming_the_parameter(viewer, query):
    response = viewer.get(f"{URL}/audit?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


NOT_QUITE_A_PUBKEY = [
    pytest.param("{pubkey}\n", id="trailing-newline"),
    pytest.param("{pubkey} ", id="trailing-space"),
    pytest.param(" {pubkey}", id="leading-space"),
    pytest.param("{head}\u0663", id="arabic-indic-digit"),
    pytest.param("{head}\uff13", id="fullwidth-digit"),
]


@pytest.mark.parametrize("endpoint", ["decisions", "audit"])
@pytest.mark.parametrize("template", NOT_QUITE_A_PUBKEY)
def test_a_peer_filter_that_is_not_exactly_a_public_key_gets_400(node, viewer, endpoint, template):
    pubkey = stored_decisions()[0].channel.peer.pubkey
    assert viewer.get(f"{URL}/{endpoint}", {"peer": pubkey}).status_code == 200
    response = viewer.get(f"{URL}/{endpoint}", {"peer": template.format(pubkey=pubkey, head=pubkey[:-1])})
    assert response.status_code == 400, response.content
    assert response.json() == {"peer": ["A node public key is 66 lowercase hex characters (33 bytes)."]}


@pytest.mark.parametrize("endpoint", ["decisions", "audit"])
@pytest.mark.parametrize("value", ["{chan_id}\n", " {chan_id}", "\u0661\u0662"])
def test_a_channel_filter_that_is_not_exactly_a_channel_id_gets_400(node, viewer, endpoint, value):
    chan_id = open_channels(1)[0].chan_id
    response = viewer.get(f"{URL}/{endpoint}", {"channel": value.format(chan_id=chan_id)})
    assert response.status_code == 400, response.content
    assert "a channel id is a string of digits" in response.json()["channel"][0]


def test_a_channel_filter_takes_the_block_tx_output_form(node, viewer):
    channel = stored_decisions()[0].channel
    block, tx_index, output = channel.chan_id >> 40, (channel.chan_id >> 16) & 0xFFFFFF, channel.chan_id & 0xFFFF
    response = viewer.get(f"{URL}/decisions", {"channel": f"{block}x{tx_index}x{output}"})
    assert response.status_code == 200, response.content
    assert {row["chan_id"] for row in response.json()["results"]} == {str(channel.chan_id)}


# Kill switch and roles


def test_the_kill_switch_is_engaged_by_an_operator_and_released_only_by_an_admin(operator, viewer, settings):
    assert viewer.get(f"{URL}/system/kill-switch").json() == {
        "engaged": False,
        "reason": "",
        "changed_by": "",
        "changed_at": None,
        "forced_by_environment": False,
    }
    engaged = post(operator, "system/kill-switch", {"engaged": True, "reason": "fees look wrong"})
    assert engaged.status_code == 200
    assert (engaged.json()["engaged"], engaged.json()["changed_by"]) == (True, "user:olivia")

    refused = post(operator, "system/kill-switch", {"engaged": False})
    assert refused.status_code == 403
    assert KillSwitch.current().engaged

    released = post(api_as(Role.ADMIN, "ada"), "system/kill-switch", {"engaged": False, "reason": "fixed"})
    assert released.status_code == 200 and released.json()["engaged"] is False
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.KILL_SWITCH).order_by("at", "id")
    assert [(e.actor, e.reason) for e in entries] == [
        ("user:olivia", "engaged: fees look wrong"),
        ("user:ada", "released: fixed"),
    ]
    settings.DAZNODE_KILL_SWITCH = True
    assert viewer.get(f"{URL}/system/kill-switch").json()["forced_by_environment"] is True


@pytest.mark.parametrize("body", [{}, {"engaged": "maybe"}, {"engaged": True, "reason": "x" * 201}])
def test_a_bad_kill_switch_request_gets_400(operator, body):
    assert post(operator, "system/kill-switch", body).status_code == 400
    assert not KillSwitch.current().engaged


@pytest.mark.parametrize(
    "url",
    [
        "decisions/preview",
        "decisions/{pk}/approve",
        "decisions/{pk}/reject",
        "decisions/{pk}/apply",
        "decisions/{pk}/rollback",
        "channels/{chan_id}/rollback",
        "system/kill-switch",
    ],
)
def test_a_viewer_reads_but_cannot_act(node, viewer, url):
    channel = open_channels(1)[0]
    decision = make_decision(channel)
    body = {"engaged": True, "to": timezone.now().isoformat()}
    response = post(viewer, url.format(pk=decision.pk, chan_id=channel.chan_id), body)
    assert response.status_code == 403
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING
    assert not KillSwitch.current().engaged
    assert viewer.get(f"{URL}/decisions/{decision.pk}").status_code == 200


def test_anonymous_callers_get_401(db):
    anonymous = Client()
    assert anonymous.get(f"{URL}/decisions").status_code == 401
    assert post(anonymous, "system/kill-switch", {"engaged": False}).status_code == 401


# The lists' cost, whatever the history


def test_a_listed_decision_reads_as_its_detail_without_backups_and_audit(node, operator, viewer):
    stored_decisions()
    channel = open_channels(1)[0]
    applied = make_decision(channel, fee_rate_ppm=channel.fee_rate_ppm + 25)
    assert post(operator, f"decisions/{applied.pk}/apply").status_code == 200
    make_decision(open_channels(2)[1], cycle=None, total_score=None, rejections=[{"rule": "max_step"}])

    rows = viewer.get(f"{URL}/decisions").json()["results"]

    assert len(rows) == Decision.objects.count() > 2
    for row in rows:
        detail = viewer.get(f"{URL}/decisions/{row['id']}").json()
        assert row == {name: value for name, value in detail.items() if name not in ("backups", "audit")}
    assert any(row["applied_at"] and row["diff"] for row in rows)


def list_queries(client: Client) -> dict[str, int]:
    chan_id = Channel.objects.order_by("chan_id").values_list("chan_id", flat=True)[7]
    counts = {}
    for url in (
        "channels",
        "channels?include_closed=true&offset=20",
        "decisions",
        "decisions?status=pending",
        f"decisions?channel={chan_id}",
        "decisions?offset=150&limit=50",
    ):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"{URL}/{url}")
        assert response.status_code == 200, (url, response.content)
        assert response.json()["results"], url
        counts[url] = len(captured)
    return counts


def test_the_lists_make_as_many_queries_for_500_channels_and_a_week_of_scores_as_for_50_and_1(viewer):
    history_build(channels=50, days=1)
    small = list_queries(viewer)
    history_build(channels=450, days=7, scores_per_day=6, seed=8, first_index=51)
    large = list_queries(viewer)

    assert large == small
    assert max(large.values()) <= 5, large  # the user, its roles, the count, the page, the page's latest scores


@pytest.mark.django_db(transaction=True)
def test_the_decisions_are_counted_once_for_all_the_pages_read_while_nothing_commits(postgres_url, monkeypatch):
    # The state moves only with this test's commits (other databases of the cluster move PostgreSQL's snapshot
    # too, which only costs a count: tests/channels/test_api.py shows the state moves with every commit).
    state = ["before"]
    monkeypatch.setattr(api_cache, "database_state", lambda: state[0])
    history_build(channels=3, days=15)  # 180 decisions
    viewer = api_as(Role.VIEWER, "vera")

    def page(offset: int) -> tuple[dict, bool]:
        with CaptureQueriesContext(connection) as captured:
            body = viewer.get(f"{URL}/decisions?offset={offset}").json()
        return body, any("COUNT(" in query["sql"] for query in captured.captured_queries)

    first, counted = page(0)
    assert (first["count"], len(first["results"]), counted) == (180, 100, True)
    second, counted = page(100)
    assert (second["count"], len(second["results"]), counted) == (180, 80, False)

    newest = make_decision(Channel.objects.first())  # commits
    state[0] = "after the new decision"
    second, counted = page(100)
    assert (second["count"], counted) == (181, True)
    assert page(0)[0]["results"][0]["id"] == newest.pk


def test_the_decisions_list_reads_its_page_never_the_history(viewer, postgres_url):
    history_build(channels=20, days=30)  # 2,400 decisions
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum leaves it: the planner knows the history's size

    read = table_rows_read(viewer, f"{URL}/decisions", "decisions_decision")

    assert read <= 2 * 100, read  # the page's rows, and the one after
