"""The decisions queue (/umbrel-ui/decisions): what a viewer reads, what an operator does through the confirmation
step, the kill switch, and every refusal as a message or a 4xx, never a 500. Applying and rolling back run against
the simulated LND over real HTTP, and the node is read back without Daznode."""

import re
from dataclasses import replace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from channels.models import Channel, Node
from daznode.roles import Role, user_set_role
from decisions.models import AuditEntry, Decision, KillSwitch, PolicyBackup
from tests.dashboard.history import history_build
from tests.decisions import conftest as decisions_fixtures
from tests.decisions.conftest import change_outside, live_policy, make_decision, open_channels

QUEUE = "/umbrel-ui/decisions"
KILL_SWITCH = "/umbrel-ui/kill-switch"
ACTION_LINK = re.compile(r'href="/umbrel-ui/decisions/(\d+)/(approve|reject|apply|rollback)"')
LIVE_ANYWAY_LABEL = "Apply live anyway: send this change to the node although Daznode is in dry run mode"

# The simulated LND of tests/decisions (one per module), registered as our node, synced and scored.
sim = decisions_fixtures.sim
node = decisions_fixtures.node


def decision_url(decision: Decision, action: str = "") -> str:
    return f"/umbrel-ui/decisions/{decision.pk}" + (f"/{action}" if action else "")


@pytest.fixture
def users(django_user_model) -> dict:
    made = {}
    for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN, None):
        user = django_user_model.objects.create_user(username=f"{role or 'nobody'}-user", password="unused-password")
        user_set_role(user, role)
        made[role] = user
    return made


def client_for(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def lnd(node):
    """The simulated LND of tests/decisions, registered as our node, synced and scored."""
    return node


@pytest.fixture
def viewer(users) -> Client:
    return client_for(users[Role.VIEWER])


@pytest.fixture
def operator(users) -> Client:
    return client_for(users[Role.OPERATOR])


@pytest.fixture
def admin(users) -> Client:
    return client_for(users[Role.ADMIN])


def a_channel(index: int = 1, *, alias: str = "", fee_rate_ppm: int = 100) -> Channel:
    peer = Node.objects.create(pubkey=f"02{index:064x}", alias=alias or f"peer-{index}")
    return Channel.objects.create(
        chan_id=(800_000 + index) << 40,
        chan_point=f"{index:064x}:0",
        peer=peer,
        capacity_sat=2_000_000,
        local_balance_sat=1_000_000,
        remote_balance_sat=1_000_000,
        base_fee_msat=1000,
        fee_rate_ppm=fee_rate_ppm,
        time_lock_delta=80,
        min_htlc_msat=1000,
        max_htlc_msat=1_980_000_000,
    )


def a_decision(channel: Channel, *, status=Decision.Status.PENDING, kind=Decision.Kind.INCREASE_FEES, **fields):
    current = channel.policy()
    values = {
        "channel": channel,
        "kind": kind,
        "rule": "drained_raise",
        "reasons": ["Only 12 % of the channel is on our side and forwards keep going out.", "Raise the price."],
        "total_score": 0.4237,
        "sub_scores": {"centrality": 0.5, "liquidity": 0.125},
        "current_policy": current.to_dict(),
        "proposed_policy": replace(current, fee_rate_ppm=1250).to_dict() if kind in FEE_KINDS else None,
        "status": status,
        "mode": Decision.Mode.DRY_RUN,
    }
    values.update(fields)
    return Decision.objects.create(**values)


FEE_KINDS = (Decision.Kind.INCREASE_FEES, Decision.Kind.DECREASE_FEES)


def actions_shown(response) -> set[tuple[int, str]]:
    return {(int(pk), action) for pk, action in ACTION_LINK.findall(response.content.decode())}


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# Who may see what


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_the_login_page_and_shows_them_nothing(client):
    decision = a_decision(a_channel(alias="secret-peer"))
    for url in (QUEUE, decision_url(decision), decision_url(decision, "approve")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/umbrel-ui/login"), url
    response = client.post(decision_url(decision, "approve"))
    assert response.status_code == 302 and response["Location"].startswith("/umbrel-ui/login")
    assert client.post(KILL_SWITCH, {"engaged": "true"}).status_code == 302
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING and not KillSwitch.current().engaged


@pytest.mark.django_db
def test_it_refuses_a_user_without_a_role(users):
    decision = a_decision(a_channel())
    nobody = client_for(users[None])
    assert nobody.get(QUEUE).status_code == 403
    assert nobody.get(decision_url(decision)).status_code == 403
    assert nobody.post(decision_url(decision, "approve")).status_code == 403


@pytest.mark.django_db
def test_it_shows_a_viewer_the_queue_read_only(viewer):
    waiting = a_decision(a_channel(1, alias="drained-peer"))
    done = a_decision(a_channel(2, alias="applied-peer"), status=Decision.Status.APPLIED)

    response = viewer.get(QUEUE)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<h1>") == 1
    assert "drained-peer" in html and "applied-peer" in html
    assert "100 ppm" in html and "1,250 ppm" in html  # the diff, as people read it
    assert "0.42" in html and "0.4237" not in html
    assert "Only 12 % of the channel is on our side" in html
    assert "Raise the price." not in html  # the first reason only
    assert [group.count for group in response.context["waiting"]] == [1]
    assert [d.pk for d in response.context["waiting"][0].decisions] == [waiting.pk]
    assert {d.pk for d in response.context["history"].decisions} == {waiting.pk, done.pk}
    assert actions_shown(response) == set()
    assert 'action="/umbrel-ui/kill-switch"' not in html and '<form method="post"' not in html


@pytest.mark.django_db
def test_it_shows_an_operator_the_actions_each_status_allows(operator):
    pending = a_decision(a_channel(1))
    approved = a_decision(a_channel(2), status=Decision.Status.APPROVED)
    applied = a_decision(a_channel(3), status=Decision.Status.APPLIED)
    recommendation = a_decision(a_channel(4), kind=Decision.Kind.CLOSE_CHANNEL)
    rejected = a_decision(a_channel(5), status=Decision.Status.REJECTED)

    response = operator.get(QUEUE)

    shown = actions_shown(response)
    assert {action for pk, action in shown if pk == pending.pk} == {"approve", "reject", "apply"}
    assert {action for pk, action in shown if pk == approved.pk} == {"apply"}
    assert {action for pk, action in shown if pk == applied.pk} == {"rollback"}
    assert {action for pk, action in shown if pk == recommendation.pk} == {"approve", "reject"}
    assert not {action for pk, action in shown if pk == rejected.pk}
    titles = [group.title for group in response.context["waiting"]]
    assert titles == ["Recommendations to approve", "Fee changes to apply", "Approved"]
    assert 'action="/umbrel-ui/kill-switch"' in response.content.decode()


@pytest.mark.django_db
def test_it_shows_the_newest_of_a_long_queue_and_links_to_all_of_it(viewer):
    made = [a_decision(a_channel(index)) for index in range(1, 26)]
    a_decision(a_channel(26), status=Decision.Status.APPROVED)

    response = viewer.get(QUEUE)

    fee_changes, approved = response.context["waiting"]
    assert fee_changes.count == 25 and [d.pk for d in fee_changes.decisions] == [d.pk for d in reversed(made)][:20]
    assert approved.count == 1 and len(approved.decisions) == 1
    assert 'href="?status=pending#history-heading">All 25: fee changes to apply</a>' in response.content.decode()


@pytest.mark.django_db
def test_it_filters_the_history_like_the_api(viewer):
    first, second = a_channel(1), a_channel(2)
    rejected = a_decision(first, status=Decision.Status.REJECTED)
    a_decision(second, kind=Decision.Kind.DECREASE_FEES)
    live = a_decision(second, mode=Decision.Mode.LIVE, status=Decision.Status.APPLIED)

    def shown(query: str) -> set[int]:
        response = viewer.get(f"{QUEUE}?{query}")
        assert response.status_code == 200
        return {decision.pk for decision in response.context["history"].decisions}

    assert shown("status=rejected") == {rejected.pk}
    assert shown("mode=live") == {live.pk}
    assert shown(f"channel={first.chan_id}") == {rejected.pk}
    assert shown("channel=800001x0x0") == {rejected.pk}
    assert len(shown("kind=decrease_fees")) == 1


@pytest.mark.django_db
def test_it_ignores_a_bad_filter_with_a_message_never_a_500(viewer):
    decision = a_decision(a_channel())
    for query, named in (
        ("status=bogus", "?status=bogus"),
        ("kind=close", "?kind=close"),
        ("mode=LIVE", "?mode=LIVE"),
        ("channel=12%0A", "?channel="),
        ("channel=-5", "?channel=-5"),
    ):
        response = viewer.get(f"{QUEUE}?{query}")
        assert response.status_code == 200, query
        assert any(named in text and "ignored" in text for text in messages_of(response)), query
        assert [d.pk for d in response.context["history"].decisions] == [decision.pk], query
    for query in ("before=abc", "after=-1", "before=99999999999999999999999", "before=1", "after=999999"):
        response = viewer.get(f"{QUEUE}?{query}")
        assert response.status_code == 200, query
    assert any("?before=abc was ignored" in text for text in messages_of(viewer.get(f"{QUEUE}?before=abc")))


@pytest.mark.django_db
def test_it_leaves_no_action_decisions_out_unless_asked(viewer):
    channel = a_channel()
    quiet = a_decision(channel, kind=Decision.Kind.NO_ACTION, status=Decision.Status.RECORDED, rule="healthy")
    change = a_decision(channel)

    def shown(query: str = "") -> set[int]:
        return {d.pk for d in viewer.get(f"{QUEUE}?{query}").context["history"].decisions}

    assert shown() == {change.pk}
    assert shown("no_action=on") == {change.pk, quiet.pk}
    assert shown("kind=no_action") == {quiet.pk}


@pytest.mark.django_db
def test_it_pages_the_history_keeping_the_filters(viewer):
    channel = a_channel()
    made = [a_decision(channel, status=Decision.Status.SUPERSEDED) for _ in range(105)]
    a_decision(channel, status=Decision.Status.REJECTED)
    newest = [d.pk for d in reversed(made)]

    first = viewer.get(f"{QUEUE}?status=superseded")
    assert [d.pk for d in first.context["history"].decisions] == newest[:50]
    older = f"status=superseded&amp;before={newest[49]}"
    assert older in first.content.decode() and "after=" not in first.content.decode()

    second = viewer.get(f"{QUEUE}?status=superseded&before={newest[49]}")
    assert [d.pk for d in second.context["history"].decisions] == newest[50:100]
    html = second.content.decode()
    assert f"status=superseded&amp;after={newest[50]}" in html and f"before={newest[99]}" in html

    last = viewer.get(f"{QUEUE}?status=superseded&before={newest[99]}")
    assert [d.pk for d in last.context["history"].decisions] == newest[100:]
    assert last.context["history"].older_before is None

    back = viewer.get(f"{QUEUE}?status=superseded&after={newest[50]}")
    assert [d.pk for d in back.context["history"].decisions] == newest[:50]
    assert back.context["history"].newer_after is None


@pytest.mark.django_db
def test_it_shows_a_decision_with_its_explanation_backups_and_audit(viewer):
    channel = a_channel(alias="explained-peer")
    decision = a_decision(
        channel,
        status=Decision.Status.BLOCKED,
        rejections=[
            {"rule": "step_absolute", "message": "the change of 1150 ppm exceeds 250 ppm", "values": {"max": 250}}
        ],
    )
    PolicyBackup.objects.create(channel=channel, decision=decision, policy=decision.current_policy, read_from="lnd")
    AuditEntry.objects.create(
        actor="user:ann",
        action=AuditEntry.Action.APPLY_FAILED,
        channel=channel,
        decision=decision,
        before=decision.current_policy,
        after=decision.proposed_policy,
        reason="blocked by the safety limits",
    )

    response = viewer.get(decision_url(decision))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<h1>") == 1 and "explained-peer" in html
    assert "Only 12 % of the channel is on our side" in html and "Raise the price." in html
    assert "drained_raise" in html
    assert "Centrality" in html and "0.12" in html and "0.50" in html
    assert [sub.name for sub in response.context["sub_scores"]] == ["centrality", "liquidity"]  # the scoring's order
    assert "the change of 1150 ppm exceeds 250 ppm" in html and "max = 250" in html
    assert [(row.name, row.old, row.new) for row in response.context["diff"]] == [
        ("fee_rate_ppm", "100 ppm", "1,250 ppm")
    ]
    assert len(response.context["policies"]) == 8 and "1,980,000,000 msat" in html
    assert "user:ann" in html and "blocked by the safety limits" in html and ">lnd<" in html
    assert actions_shown(response) == set()


@pytest.mark.django_db
def test_it_answers_404_for_an_unknown_decision_or_action(operator):
    decision = a_decision(a_channel())
    assert operator.get("/umbrel-ui/decisions/999999").status_code == 404
    assert operator.get("/umbrel-ui/decisions/99999999999999999999999").status_code == 404
    assert operator.get("/umbrel-ui/decisions/999999/approve").status_code == 404
    assert operator.get(decision_url(decision, "delete")).status_code == 404
    assert operator.post(decision_url(decision, "delete")).status_code == 404
    assert operator.post(decision_url(decision, "APPROVE")).status_code == 404
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING


@pytest.mark.django_db
def test_a_viewer_cannot_open_a_confirmation_or_post_anything(viewer):
    decision = a_decision(a_channel())
    assert viewer.get(decision_url(decision, "approve")).status_code == 403
    for action in ("approve", "reject", "apply", "rollback"):
        assert viewer.post(decision_url(decision, action)).status_code == 403
    assert viewer.post(QUEUE).status_code == 403
    assert viewer.post(decision_url(decision)).status_code == 403
    assert viewer.post(KILL_SWITCH, {"engaged": "true"}).status_code == 403
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING and not decision.audit_entries.exists()
    assert not KillSwitch.current().engaged


# Approve and reject


@pytest.mark.django_db
def test_it_approves_after_a_confirmation_and_audits_the_user(operator):
    decision = a_decision(a_channel())
    page = operator.get(decision_url(decision, "approve"))
    assert page.status_code == 200 and "Approve decision #" in page.content.decode()
    assert "1,250 ppm" in page.content.decode()

    response = operator.post(decision_url(decision, "approve"), follow=True)

    assert response.redirect_chain[-1] == (decision_url(decision), 302)
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPROVED and decision.approved_at is not None
    entry = decision.audit_entries.get()
    assert (entry.action, entry.actor) == (AuditEntry.Action.DECISION_APPROVED, "user:operator-user")
    assert any("approved" in text for text in messages_of(response))


@pytest.mark.django_db
def test_it_rejects_with_the_operators_reason(operator):
    decision = a_decision(a_channel())
    page = operator.get(decision_url(decision, "reject"))
    assert '<label for="id_reason">' in page.content.decode()

    response = operator.post(decision_url(decision, "reject"), {"reason": "peer is leaving"}, follow=True)

    decision.refresh_from_db()
    assert decision.status == Decision.Status.REJECTED
    entry = decision.audit_entries.get()
    assert (entry.action, entry.actor, entry.reason) == (
        AuditEntry.Action.DECISION_REJECTED,
        "user:operator-user",
        "peer is leaving",
    )
    assert any("rejected" in text for text in messages_of(response))


@pytest.mark.django_db
def test_it_refuses_a_too_long_reason_with_a_form_error(operator):
    decision = a_decision(a_channel())
    response = operator.post(decision_url(decision, "reject"), {"reason": "x" * 1001})
    assert response.status_code == 200 and "at most 1000 characters" in response.content.decode()
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING


@pytest.mark.django_db
def test_a_refusal_of_the_domain_is_a_message_and_changes_nothing(operator):
    decision = a_decision(a_channel(), status=Decision.Status.APPLIED)
    page = operator.get(decision_url(decision, "approve"))
    assert page.status_code == 200 and "cannot be approved now" in page.content.decode()
    assert '<form method="post" class="confirm-form"' not in page.content.decode()

    response = operator.post(decision_url(decision, "approve"), follow=True)

    assert response.status_code == 200
    assert any(
        text.startswith("Not approved:") and "only a pending one can be approved" in text
        for text in messages_of(response)
    )
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED and not decision.audit_entries.exists()


@pytest.mark.django_db
def test_it_enforces_csrf_on_every_action(users):
    decision = a_decision(a_channel())
    browser = client_for(users[Role.OPERATOR], enforce_csrf_checks=True)
    assert browser.post(decision_url(decision, "approve")).status_code == 403
    assert browser.post(KILL_SWITCH, {"engaged": "true"}).status_code == 403
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING and not KillSwitch.current().engaged

    browser.get(decision_url(decision, "approve"))  # the confirmation page sets the token
    token = browser.cookies["csrftoken"].value
    response = browser.post(decision_url(decision, "approve"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPROVED


# Apply and roll back, on the simulated node


def raised(policy) -> int:
    """A raise the safety limits accept on any fee rate: at least the minimum change, at most half the rate."""
    return policy.fee_rate_ppm + max(10, policy.fee_rate_ppm // 4)


@pytest.mark.django_db
def test_it_applies_in_live_mode_and_the_node_holds_the_new_policy(lnd, operator, settings):
    settings.DAZNODE_DECISION_MODE = "live"
    channel = open_channels(1)[0]
    before = live_policy(lnd, channel)
    decision = make_decision(channel, fee_rate_ppm=raised(before))
    page = operator.get(decision_url(decision, "apply"))
    assert page.status_code == 200 and "Apply live anyway" not in page.content.decode()
    assert "Live mode." in page.content.decode()

    response = operator.post(decision_url(decision, "apply"), follow=True)

    assert live_policy(lnd, channel).fee_rate_ppm == raised(before)
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED
    entry = decision.audit_entries.get(action=AuditEntry.Action.POLICY_APPLIED)
    assert entry.actor == "user:operator-user" and "live anyway" not in entry.reason
    assert any(f"{raised(before):,} ppm" in text for text in messages_of(response))


@pytest.mark.django_db
def test_in_dry_run_apply_sends_nothing_without_the_live_anyway_box(lnd, operator, settings):
    settings.DAZNODE_DECISION_MODE = "dry_run"
    channel = open_channels(1)[0]
    before = live_policy(lnd, channel)
    decision = make_decision(channel, fee_rate_ppm=raised(before), mode=Decision.Mode.DRY_RUN)
    page = operator.get(decision_url(decision, "apply"))
    assert LIVE_ANYWAY_LABEL in page.content.decode()
    assert '<label for="id_live_anyway">' in page.content.decode()

    refused = operator.post(decision_url(decision, "apply"))

    assert refused.status_code == 200
    assert "Daznode is in dry run mode: nothing was sent to the node." in refused.content.decode()
    assert live_policy(lnd, channel) == before
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING and not decision.audit_entries.exists()

    response = operator.post(decision_url(decision, "apply"), {"live_anyway": "on"}, follow=True)

    assert live_policy(lnd, channel).fee_rate_ppm == raised(before)
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED
    entry = decision.audit_entries.get(action=AuditEntry.Action.POLICY_APPLIED)
    assert entry.actor == "user:operator-user" and "live anyway" in entry.reason
    assert any("live anyway in dry run mode" in text for text in messages_of(response))


@pytest.mark.django_db
def test_a_failed_apply_is_an_error_message_with_its_reason(lnd, operator, settings):
    settings.DAZNODE_DECISION_MODE = "live"
    channel = open_channels(1)[0]
    before = live_policy(lnd, channel)
    lnd.faults.fail_policy_updates([channel.chan_point])
    decision = make_decision(channel, fee_rate_ppm=raised(before))

    response = operator.post(decision_url(decision, "apply"), follow=True)

    decision.refresh_from_db()
    assert decision.status == Decision.Status.FAILED and live_policy(lnd, channel) == before
    assert response.status_code == 200
    failed = [text for text in messages_of(response) if text.startswith(f"Decision {decision.pk} failed")]
    assert failed and "UPDATE_FAILURE_INTERNAL_ERR" in failed[0]
    assert "UPDATE_FAILURE_INTERNAL_ERR" in response.content.decode()  # the decision's page shows it too


@pytest.mark.django_db
def test_the_kill_switch_refuses_an_apply_with_a_message(lnd, operator, settings):
    settings.DAZNODE_DECISION_MODE = "live"
    channel = open_channels(1)[0]
    before = live_policy(lnd, channel)
    decision = make_decision(channel, fee_rate_ppm=raised(before))
    KillSwitch.objects.update_or_create(pk=1, defaults={"engaged": True})
    assert "The kill switch is engaged" in operator.get(decision_url(decision, "apply")).content.decode()

    response = operator.post(decision_url(decision, "apply"), follow=True)

    assert any(text.startswith("Not applied:") and "kill switch" in text for text in messages_of(response))
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING and live_policy(lnd, channel) == before


def applied_from_the_page(operator, channel: Channel, fee_rate_ppm: int) -> Decision:
    decision = make_decision(channel, fee_rate_ppm=fee_rate_ppm)
    operator.post(decision_url(decision, "apply"), {"live_anyway": "on"})
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED
    return decision


@pytest.mark.django_db
def test_it_rolls_back_in_dry_run_only_with_the_live_anyway_box(lnd, operator, settings):
    settings.DAZNODE_DECISION_MODE = "dry_run"
    channel = open_channels(1)[0]
    before = live_policy(lnd, channel)
    decision = applied_from_the_page(operator, channel, raised(before))
    page = operator.get(decision_url(decision, "rollback"))
    html = page.content.decode()
    assert LIVE_ANYWAY_LABEL in html and "id_force" not in html
    assert [(row.old, row.new) for row in page.context["rollback_rows"] if row.changed] == [
        (f"{raised(before):,} ppm", f"{before.fee_rate_ppm:,} ppm")
    ]

    refused = operator.post(decision_url(decision, "rollback"), {"reason": "too high"})
    assert refused.status_code == 200 and "nothing was sent to the node" in refused.content.decode()
    assert live_policy(lnd, channel).fee_rate_ppm == raised(before)

    response = operator.post(
        decision_url(decision, "rollback"), {"reason": "too high", "live_anyway": "on"}, follow=True
    )

    assert live_policy(lnd, channel).same_terms(before)
    decision.refresh_from_db()
    assert decision.status == Decision.Status.ROLLED_BACK
    entry = decision.audit_entries.get(action=AuditEntry.Action.ROLLED_BACK)
    assert entry.actor == "user:operator-user" and "live anyway" in entry.reason and "too high" in entry.reason
    assert any("rolled back" in text for text in messages_of(response))


@pytest.mark.django_db
def test_the_rollback_offers_force_only_after_a_change_outside_daznode(lnd, operator, settings):
    settings.DAZNODE_DECISION_MODE = "live"
    channel = open_channels(1)[0]
    before = live_policy(lnd, channel)
    decision = applied_from_the_page(operator, channel, raised(before))
    assert "id_force" not in operator.get(decision_url(decision, "rollback")).content.decode()
    change_outside(lnd, channel, before.fee_rate_ppm + 500)

    refused = operator.post(decision_url(decision, "rollback"), follow=True)

    assert any(text.startswith("Not rolled back:") and "force" in text for text in messages_of(refused))
    assert live_policy(lnd, channel).fee_rate_ppm == before.fee_rate_ppm + 500
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED
    page = operator.get(decision_url(decision, "rollback"))
    assert '<label for="id_force">' in page.content.decode()

    operator.post(decision_url(decision, "rollback"), {"force": "on"})

    assert live_policy(lnd, channel).same_terms(before)
    decision.refresh_from_db()
    assert decision.status == Decision.Status.ROLLED_BACK


# The kill switch


@pytest.mark.django_db
def test_an_operator_engages_the_kill_switch_and_only_an_admin_releases_it(operator, admin, viewer):
    response = operator.post(KILL_SWITCH, {"engaged": "true", "reason": "node maintenance"}, follow=True)

    assert response.redirect_chain[-1][0] == f"{QUEUE}#kill-switch"
    switch = KillSwitch.current()
    assert switch.engaged and switch.reason == "node maintenance" and switch.changed_by == "user:operator-user"
    entry = AuditEntry.objects.get(action=AuditEntry.Action.KILL_SWITCH)
    assert entry.actor == "user:operator-user" and "node maintenance" in entry.reason
    assert "Only an admin can release it." in response.content.decode()
    assert "Release the kill switch" in admin.get(QUEUE).content.decode()
    assert "Kill switch on" in viewer.get(QUEUE).content.decode()

    assert operator.post(KILL_SWITCH, {"engaged": "false"}).status_code == 403
    assert KillSwitch.current().engaged

    admin.post(KILL_SWITCH, {"engaged": "false", "reason": "done"})
    assert not KillSwitch.current().engaged
    assert AuditEntry.objects.filter(action=AuditEntry.Action.KILL_SWITCH, actor="user:admin-user").exists()


@pytest.mark.django_db
def test_the_kill_switch_answers_405_to_get_and_a_message_to_bad_input(operator):
    assert operator.get(KILL_SWITCH).status_code == 405
    for data in ({}, {"engaged": "yes"}, {"engaged": "true", "reason": "x" * 201}):
        response = operator.post(KILL_SWITCH, data, follow=True)
        assert response.status_code == 200, data
        assert any(text.startswith("The kill switch was not changed") for text in messages_of(response)), data
    assert not KillSwitch.current().engaged and not AuditEntry.objects.exists()


# Queries


@pytest.mark.django_db
def test_its_pages_make_as_many_queries_for_many_decisions_as_for_few(operator):
    waiting = a_decision(a_channel())
    history_build(channels=10, days=2, scores_per_day=1)
    small = queries_of(operator, waiting)
    history_build(channels=60, days=2, scores_per_day=1, seed=8, first_index=11)
    assert Decision.objects.count() > 400
    assert queries_of(operator, waiting) == small


def queries_of(client, waiting: Decision) -> list[int]:
    counts = []
    paged = f"{QUEUE}?no_action=on&before={waiting.pk + 10_000}"
    for url in (QUEUE, f"{QUEUE}?status=superseded", paged, decision_url(waiting), decision_url(waiting, "apply")):
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200, url
        counts.append(len(captured))
    return counts
