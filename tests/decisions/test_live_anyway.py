"""Dry run and shadow mean what they say: on every path (domain, API, admin, commands, the fee cycle) nothing changes
a node's policy outside live mode unless the operator applies one change live anyway, which its audit rows record.
Recovery's put-backs are never blocked. Run against the simulated node, read back without Daznode."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from daznode.context_processors import daznode as daznode_context
from daznode.roles import Role
from decisions import executor, rollback
from decisions.conf import not_live_message
from decisions.context_processors import kill_switch as kill_switch_context
from decisions.cycle import fee_cycle
from decisions.executor import ApplyRefused, decision_apply
from decisions.models import AuditEntry, Decision, PolicyBackup, PolicyWrite
from decisions.recovery import recover_policy_writes
from decisions.rollback import RollbackError, channel_rollback, decision_rollback
from decisions.services import kill_switch_set
from tests.decisions.conftest import change_outside, live_policy, make_decision, open_channels
from tests.decisions.test_admin import CHANGELIST, run_action, said, staff
from tests.decisions.test_api import api_as, post
from tests.decisions.test_recovery import interrupted

LABELS = {"dry_run": "dry run", "shadow": "shadow"}
# The smallest change worth sending (DAZNODE_FEE_MIN_CHANGE_PPM): within the step limits whatever the fee rate.
STEP_PPM = 10


@pytest.fixture(params=["dry_run", "shadow"])
def not_live(request, settings) -> str:
    settings.DAZNODE_DECISION_MODE = request.param
    return request.param


@pytest.fixture
def no_cooldown(settings):
    settings.DAZNODE_DECISION_LIMITS = {**settings.DAZNODE_DECISION_LIMITS, "cooldown": timedelta(0)}


def recorded(sim) -> tuple[int, int, int, int]:
    """Everything a write leaves: updates the node took, journal rows, backups, audit rows."""
    return (
        len(sim.node.applied_updates),
        PolicyWrite.objects.count(),
        PolicyBackup.objects.count(),
        AuditEntry.objects.count(),
    )


def fee_change(channel) -> Decision:
    """A pending decision to raise the channel's fee rate by STEP_PPM from the policy Daznode last stored."""
    channel.refresh_from_db()
    return make_decision(channel, fee_rate_ppm=channel.fee_rate_ppm + STEP_PPM)


def applied_anyway(channel) -> Decision:
    decision = decision_apply(decision=fee_change(channel), actor="user:ann", live_anyway=True)
    assert decision.status == Decision.Status.APPLIED
    return decision


def note(mode: str, done: str) -> str:
    return f"{done} live anyway in {LABELS[mode]} mode"


# The domain


def test_it_refuses_to_apply_outside_live_mode_and_nothing_is_claimed_or_sent(node, not_live):
    channel = open_channels(1)[0]
    before, was = live_policy(node, channel), recorded(node)
    decision = fee_change(channel)

    with pytest.raises(executor.NotLive) as refused:
        decision_apply(decision=decision, actor="user:ann")

    assert isinstance(refused.value, ApplyRefused)
    assert str(refused.value).startswith(f"Daznode is in {LABELS[not_live]} mode: nothing was sent to the node.")
    assert '{"live_anyway": true}' in str(refused.value)
    decision.refresh_from_db()
    assert (decision.status, decision.claimed_by) == (Decision.Status.PENDING, "")
    assert recorded(node) == was and live_policy(node, channel) == before


def test_it_applies_live_anyway_and_its_audit_row_says_so(node, not_live):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)

    decision = applied_anyway(channel)

    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + STEP_PPM
    [entry] = decision.audit_entries.filter(action=AuditEntry.Action.POLICY_APPLIED)
    assert entry.reason == f"{note(not_live, 'applied')}: made by a test"


def test_a_failed_apply_live_anyway_says_so_too(node, not_live):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    node.faults.fail_policy_updates([channel.chan_point])

    decision = decision_apply(decision=fee_change(channel), actor="user:ann", live_anyway=True)

    assert decision.status == Decision.Status.FAILED
    [entry] = decision.audit_entries.filter(action=AuditEntry.Action.APPLY_FAILED)
    assert entry.reason.startswith(f"{note(not_live, 'tried')}: ") and "kept its previous policy" in entry.reason
    assert live_policy(node, channel) == before


def test_in_live_mode_an_apply_needs_no_flag_and_its_audit_row_has_no_note(node, live_mode):
    channel = open_channels(1)[0]
    decision = decision_apply(decision=fee_change(channel), actor="user:ann")
    assert decision.status == Decision.Status.APPLIED
    assert decision.audit_entries.get(action=AuditEntry.Action.POLICY_APPLIED).reason == "made by a test"


def test_the_kill_switch_wins_over_live_anyway(node, not_live):
    channel = open_channels(1)[0]
    before, decision = live_policy(node, channel), fee_change(channel)
    kill_switch_set(engaged=True, actor="user:ops", reason="fees look wrong")
    was = recorded(node)

    with pytest.raises(ApplyRefused, match="the kill switch is engaged"):
        decision_apply(decision=decision, actor="user:ann", live_anyway=True)

    assert recorded(node) == was and live_policy(node, channel) == before
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING


def test_a_decision_rollback_outside_live_mode_needs_live_anyway(node, not_live):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = applied_anyway(channel)
    applied_policy, was = live_policy(node, channel), recorded(node)

    with pytest.raises(rollback.NotLive, match=f"Daznode is in {LABELS[not_live]} mode: nothing was sent"):
        decision_rollback(decision=decision, actor="user:ann")

    assert issubclass(rollback.NotLive, RollbackError)
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED
    assert recorded(node) == was and live_policy(node, channel) == applied_policy

    result = decision_rollback(decision=decision, actor="user:ann", reason="too dear", live_anyway=True)

    assert result.changed and live_policy(node, channel).same_terms(before)
    entry = decision.audit_entries.get(action=AuditEntry.Action.ROLLED_BACK)
    assert entry.reason == f"{note(not_live, 'rolled back')}: too dear"


def test_a_channel_rollback_outside_live_mode_needs_live_anyway(node, not_live):
    channel = open_channels(1)[0]
    before, point = live_policy(node, channel), timezone.now()
    applied_anyway(channel)
    applied_policy, was = live_policy(node, channel), recorded(node)

    with pytest.raises(rollback.NotLive, match="nothing was sent to the node"):
        channel_rollback(channel=channel, to=point, actor="user:ann")
    assert recorded(node) == was and live_policy(node, channel) == applied_policy

    result = channel_rollback(channel=channel, to=point, actor="user:ann", live_anyway=True)

    assert result.changed and live_policy(node, channel).same_terms(before)
    entry = AuditEntry.objects.get(channel=channel, action=AuditEntry.Action.ROLLED_BACK)
    assert entry.reason.startswith(f"{note(not_live, 'rolled back')}: rollback of channel {channel.chan_id} to ")


# The fee cycle and recovery


def test_a_cycle_in_dry_run_or_shadow_never_writes(node, not_live):
    updates = len(node.node.applied_updates)

    report = fee_cycle()

    assert report.mode == not_live and report.error == ""
    assert [d for d in report.decisions if d.changes_policy], "there were changes it could have sent"
    assert len(node.node.applied_updates) == updates
    assert not PolicyWrite.objects.exists() and not PolicyBackup.objects.exists()
    assert not Decision.objects.filter(status=Decision.Status.APPLIED).exists()


def test_a_live_cycle_is_the_operators_choice_and_applies_while_the_setting_says_dry_run(node, settings):
    settings.DAZNODE_DECISION_MODE = "dry_run"

    report = fee_cycle(mode="live")

    applied = [d for d in report.decisions if d.status == Decision.Status.APPLIED]
    assert applied
    for decision in applied:
        assert live_policy(node, decision.channel).fee_rate_ppm == decision.proposed_policy["fee_rate_ppm"]
        entry = decision.audit_entries.get(action=AuditEntry.Action.POLICY_APPLIED)
        assert entry.reason.startswith("applied live anyway in dry run mode: ")
    assert "DAZNODE_DECISION_MODE is dry_run: this live cycle applies its changes live anyway" in report.notes[0]


def test_recovery_puts_a_backup_back_whatever_the_mode(node, not_live):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = interrupted(node, channel, node_holds="other")

    report = recover_policy_writes()

    assert len(report.restored) == 1 and live_policy(node, channel).same_terms(before)
    decision.refresh_from_db()
    assert decision.status == Decision.Status.FAILED


# The API


@pytest.fixture
def operator(db) -> Client:
    return api_as(Role.OPERATOR, "olivia")


def test_the_api_answers_409_with_the_mode_outside_live_mode_and_changes_nothing(node, not_live, operator):
    channel = open_channels(1)[0]
    before, point = live_policy(node, channel), timezone.now()
    decision = fee_change(channel)
    was = recorded(node)

    refused = post(operator, f"decisions/{decision.pk}/apply")

    assert refused.status_code == 409
    assert refused.json() == {"detail": not_live_message(), "mode_in_force": not_live}
    assert recorded(node) == was and live_policy(node, channel) == before

    applied = post(operator, f"decisions/{decision.pk}/apply", {"live_anyway": True})

    assert applied.status_code == 200, applied.content
    assert (applied.json()["status"], applied.json()["mode_in_force"]) == ("applied", not_live)
    assert applied.json()["audit"][-1]["reason"].startswith(note(not_live, "applied"))
    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + STEP_PPM
    applied_policy, was = live_policy(node, channel), recorded(node)
    for url, body in ((f"decisions/{decision.pk}/rollback", {}), (f"channels/{channel.chan_id}/rollback", {})):
        body = {"to": point.isoformat()} if url.startswith("channels") else body
        answer = post(operator, url, body)
        assert answer.status_code == 409, url
        assert answer.json() == {"detail": not_live_message(), "mode_in_force": not_live}
    assert recorded(node) == was and live_policy(node, channel) == applied_policy


def test_the_api_rolls_back_live_anyway(node, not_live, operator):
    first, second = open_channels(2)
    before_first, before_second, point = live_policy(node, first), live_policy(node, second), timezone.now()
    decision, _ = applied_anyway(first), applied_anyway(second)

    rolled = post(operator, f"decisions/{decision.pk}/rollback", {"live_anyway": True, "reason": "too dear"})
    channel = post(operator, f"channels/{second.chan_id}/rollback", {"to": point.isoformat(), "live_anyway": True})

    for answer in (rolled, channel):
        assert answer.status_code == 200, answer.content
        assert answer.json()["changed"] is True and answer.json()["mode_in_force"] == not_live
    assert live_policy(node, first).same_terms(before_first) and live_policy(node, second).same_terms(before_second)
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.ROLLED_BACK, actor="user:olivia")
    assert entries.count() == 2 and all(e.reason.startswith(note(not_live, "rolled back")) for e in entries)


@pytest.mark.parametrize("value", ["yes", "on", "1", 1, 0, "True", None, [], {}])
def test_live_anyway_is_true_or_false_and_nothing_else(node, operator, settings, value):
    settings.DAZNODE_DECISION_MODE = "dry_run"
    channel = open_channels(1)[0]
    before, point = live_policy(node, channel), timezone.now()
    decision = fee_change(channel)

    answers = [
        post(operator, f"decisions/{decision.pk}/apply", {"live_anyway": value}),
        post(operator, f"decisions/{decision.pk}/rollback", {"live_anyway": value}),
        post(operator, f"channels/{channel.chan_id}/rollback", {"to": point.isoformat(), "live_anyway": value}),
    ]

    for answer in answers:
        assert answer.status_code == 400, answer.content
        assert list(answer.json()) == ["live_anyway"] and answer.json()["live_anyway"][0]
    assert live_policy(node, channel) == before
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING


def test_in_the_api_the_kill_switch_wins_over_live_anyway(node, not_live, operator):
    channel = open_channels(1)[0]
    before, decision = live_policy(node, channel), fee_change(channel)
    kill_switch_set(engaged=True, actor="user:ops")

    response = post(operator, f"decisions/{decision.pk}/apply", {"live_anyway": True})

    assert response.status_code == 409 and "kill switch" in response.json()["detail"]
    assert live_policy(node, channel) == before


# The admin


@pytest.fixture
def admin_operator(db) -> Client:
    return staff(Role.OPERATOR, "olivia")


def confirm(client: Client, action: str, *decisions: Decision, live_anyway: bool = False):
    """The answer to the confirmation page: its hidden fields, and the box ticked or not."""
    data = {"action": action, "_selected_action": [d.pk for d in decisions], "confirmed": "yes"}
    if live_anyway:
        data["live_anyway"] = "on"
    return client.post(CHANGELIST, data, follow=True)


def test_the_admin_shows_the_exact_change_and_applies_only_when_the_box_is_ticked(node, not_live, admin_operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = fee_change(channel)
    was = recorded(node)

    page = run_action(admin_operator, "apply_now", decision)

    html = page.content.decode()
    assert "admin/decisions/live_anyway_confirmation.html" in [t.name for t in page.templates]
    assert f"<td>fee_rate_ppm</td><td>{before.fee_rate_ppm}</td><td>{before.fee_rate_ppm + STEP_PPM}</td>" in html
    assert 'type="checkbox" name="live_anyway"' in html and "Apply live anyway" in html
    assert 'name="csrfmiddlewaretoken"' in html and 'method="post"' in html
    assert recorded(node) == was

    unticked = confirm(admin_operator, "apply_now", decision)

    assert said(unticked) == [not_live_message()]
    assert recorded(node) == was and live_policy(node, channel) == before
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING

    ticked = confirm(admin_operator, "apply_now", decision, live_anyway=True)

    assert said(ticked) == [
        f"Decision {decision.pk} on {channel.chan_id}: applied (fee_rate_ppm {before.fee_rate_ppm} → "
        f"{before.fee_rate_ppm + STEP_PPM})"
    ]
    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + STEP_PPM
    entry = decision.audit_entries.get(action=AuditEntry.Action.POLICY_APPLIED)
    assert (entry.actor, entry.reason) == ("user:olivia", f"{note(not_live, 'applied')}: made by a test")


def test_the_confirmation_is_a_post_protected_from_forgery_and_only_for_operators(node, not_live, admin_operator):
    channel = open_channels(1)[0]
    before, decision = live_policy(node, channel), fee_change(channel)
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(get_user_model().objects.get(username="olivia"))
    viewer = staff(Role.VIEWER, "victor")

    assert (
        forged.post(
            CHANGELIST,
            {"action": "apply_now", "_selected_action": [decision.pk], "confirmed": "yes", "live_anyway": "on"},
        ).status_code
        == 403
    )
    confirm(viewer, "apply_now", decision, live_anyway=True)

    assert live_policy(node, channel) == before
    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING and not decision.audit_entries.exists()


def test_the_admin_rolls_back_live_anyway_after_showing_what_it_puts_back(node, not_live, admin_operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = applied_anyway(channel)
    applied_policy = live_policy(node, channel)

    page = run_action(admin_operator, "roll_back", decision).content.decode()
    unticked = confirm(admin_operator, "roll_back", decision)

    assert f"<td>fee_rate_ppm</td><td>{applied_policy.fee_rate_ppm}</td><td>{before.fee_rate_ppm}</td>" in page
    assert "Roll back live anyway" in page
    assert said(unticked) == [not_live_message()]
    assert live_policy(node, channel) == applied_policy

    change_outside(node, channel, 444)
    plain = said(confirm(admin_operator, "roll_back", decision, live_anyway=True))
    forced = said(confirm(admin_operator, "roll_back_forced", decision, live_anyway=True))

    assert "changed outside Daznode" in plain[0] and "use the action" in plain[0]
    assert forced == [f"Decision {decision.pk} on {channel.chan_id}: channel {channel.chan_id} rolled back"]
    assert live_policy(node, channel).same_terms(before)
    entry = decision.audit_entries.get(action=AuditEntry.Action.ROLLED_BACK)
    assert entry.reason == f"{note(not_live, 'rolled back')}: rolled back in the admin"


def test_the_channel_rollback_page_sends_nothing_outside_live_mode_without_the_box(node, not_live, admin_operator):
    channel = open_channels(1)[0]
    before, point = live_policy(node, channel), timezone.now()
    applied_anyway(channel)
    applied_policy, was = live_policy(node, channel), recorded(node)
    url = reverse("admin:decisions_channel_rollback", args=[channel.pk])
    moment = point.strftime("%Y-%m-%dT%H:%M:%S")
    diff = f"<td>fee_rate_ppm</td><td>{applied_policy.fee_rate_ppm}</td><td>{before.fee_rate_ppm}</td>"

    form_page = admin_operator.get(url).content.decode()
    preview = admin_operator.post(url, {"to": moment}).content.decode()

    assert 'name="live_anyway"' not in form_page  # the box belongs to the confirmation, beside what it sends
    assert 'name="live_anyway"' in preview and "Roll back live anyway" in preview and diff in preview
    assert 'name="confirmed" value="yes"' in preview
    assert recorded(node) == was and live_policy(node, channel) == applied_policy

    refused = admin_operator.post(url, {"to": moment, "confirmed": "yes"}).content.decode()

    assert "nothing was sent to the node" in refused
    assert diff in refused
    assert recorded(node) == was and live_policy(node, channel) == applied_policy

    ticked_unconfirmed = admin_operator.post(url, {"to": moment, "live_anyway": "on"}).content.decode()

    assert diff in ticked_unconfirmed  # the box without the confirmation is only a preview
    assert recorded(node) == was and live_policy(node, channel) == applied_policy

    done = admin_operator.post(
        url, {"to": moment, "confirmed": "yes", "live_anyway": "on", "reason": "undo"}, follow=True
    )

    assert said(done) == [f"channel {channel.chan_id} rolled back"]
    assert live_policy(node, channel).same_terms(before)
    entry = AuditEntry.objects.get(channel=channel, action=AuditEntry.Action.ROLLED_BACK)
    assert entry.reason == f"{note(not_live, 'rolled back')}: undo"


def test_in_live_mode_the_admin_neither_asks_nor_shows_the_box(node, live_mode, admin_operator):
    channel = open_channels(1)[0]
    before, point = live_policy(node, channel), timezone.now()
    decision = fee_change(channel)
    url = reverse("admin:decisions_channel_rollback", args=[channel.pk])

    response = run_action(admin_operator, "apply_now", decision)

    assert "admin/decisions/live_anyway_confirmation.html" not in [t.name for t in response.templates]
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED
    assert 'name="live_anyway"' not in admin_operator.get(url).content.decode()
    applied_policy, was = live_policy(node, channel), recorded(node)
    moment = point.strftime("%Y-%m-%dT%H:%M:%S")

    preview = admin_operator.post(url, {"to": moment}).content.decode()

    assert 'name="live_anyway"' not in preview and 'name="confirmed" value="yes"' in preview
    assert f"<td>fee_rate_ppm</td><td>{applied_policy.fee_rate_ppm}</td><td>{before.fee_rate_ppm}</td>" in preview
    assert recorded(node) == was and live_policy(node, channel) == applied_policy

    done = admin_operator.post(url, {"to": moment, "confirmed": "yes"}, follow=True)

    assert said(done) == [f"channel {channel.chan_id} rolled back"]
    assert live_policy(node, channel).same_terms(before)


# The commands


def test_the_rollback_commands_need_live_anyway_outside_live_mode(node, not_live, capsys):
    first, second = open_channels(2)
    before_first, before_second, point = live_policy(node, first), live_policy(node, second), timezone.now()
    decision, _ = applied_anyway(first), applied_anyway(second)
    was = recorded(node)

    for args in (
        ["rollback_decision", str(decision.pk)],
        ["rollback_channel", str(second.chan_id), "--to", point.isoformat()],
    ):
        with pytest.raises(CommandError, match=f"Daznode is in {LABELS[not_live]} mode: nothing was sent"):
            call_command(*args)
    assert recorded(node) == was

    call_command("rollback_decision", str(decision.pk), "--live-anyway", "--reason", "too dear")
    call_command("rollback_channel", str(second.chan_id), "--to", point.isoformat(), "--live-anyway")

    out = capsys.readouterr().out
    assert f"channel {first.chan_id} rolled back" in out and f"channel {second.chan_id} rolled back" in out
    assert live_policy(node, first).same_terms(before_first) and live_policy(node, second).same_terms(before_second)
    rows = AuditEntry.objects.filter(action=AuditEntry.Action.ROLLED_BACK).values_list("actor", "reason")
    assert {actor for actor, _ in rows} == {"command:rollback_decision", "command:rollback_channel"}
    assert all(reason.startswith(note(not_live, "rolled back")) for _, reason in rows)


# What every page says


@pytest.mark.parametrize(
    ("mode", "label", "meaning"),
    [
        ("dry_run", "Dry run", "Decisions are proposed, nothing is sent to the node unless you apply one live anyway."),
        ("shadow", "Shadow", "Decisions are recorded only; nothing is sent to the node."),
        ("live", "Live", "Validated fee changes are sent to the node."),
    ],
)
def test_the_banner_says_what_the_mode_means_and_shows_the_kill_switch(db, client, settings, mode, label, meaning):
    settings.DAZNODE_DECISION_MODE = mode
    client.force_login(get_user_model().objects.create_superuser("root", "", "a-long-test-password-1"))

    page = client.get("/admin/").content.decode()

    assert f'<span class="daznode-mode daznode-mode-{mode}" title="DAZNODE_DECISION_MODE={mode}">{label}</span>' in page
    assert meaning in page and "Kill switch engaged" not in page
    kill_switch_set(engaged=True, actor="user:root")
    assert "Kill switch engaged" in client.get("/admin/").content.decode()


def test_the_context_processor_gives_the_mode_and_the_switch_for_one_query(db, settings, django_assert_num_queries):
    settings.DAZNODE_DECISION_MODE = "shadow"
    context = daznode_context(RequestFactory().get("/"))

    assert (context["daznode_mode"], context["daznode_mode_label"], context["daznode_dry_run"]) == (
        "shadow",
        "Shadow",
        True,
    )
    switch = kill_switch_context(RequestFactory().get("/"))
    with django_assert_num_queries(1):
        assert not switch["daznode_kill_switch"]
    kill_switch_set(engaged=True, actor="user:ops")
    assert kill_switch_context(RequestFactory().get("/"))["daznode_kill_switch"]
    settings.DAZNODE_DECISION_MODE = "live"
    assert daznode_context(RequestFactory().get("/"))["daznode_dry_run"] is False
