"""The decisions admin against the simulated node: the explanation of a decision, the operator's actions, the
channel rollback page, fee limits and the kill switch. Viewers read; only operators act."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from daznode.roles import Role, user_set_role
from decisions.models import AuditEntry, Decision, FeeCycle, FeeLimit, KillSwitch, PolicyBackup, PolicyWrite
from tests.decisions.conftest import change_outside, live_policy, make_decision, open_channels

# Applies and rollbacks as live mode does them (test_live_anyway.py: the other modes).
pytestmark = pytest.mark.usefixtures("live_mode")

CHANGELIST = "/admin/decisions/decision/"


def staff(role: Role, username: str) -> Client:
    """A staff member who may view and change what the decisions and channels apps hold, with a Daznode role."""
    user = get_user_model().objects.create_user(username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["decisions", "channels"]))
    user_set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator(db) -> Client:
    return staff(Role.OPERATOR, "olivia")


@pytest.fixture
def viewer(db) -> Client:
    return staff(Role.VIEWER, "victor")


def run_action(client: Client, action: str, *decisions: Decision):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [d.pk for d in decisions], "index": 0},
        follow=True,
    )


def said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_decision_page_explains_the_decision(node, viewer):
    channel = open_channels(1)[0]
    decision = make_decision(
        channel,
        fee_rate_ppm=channel.fee_rate_ppm + 40,
        rule="drained_raise",
        reasons=["The channel scores 0.21 of 1.", "Most liquidity left: raise the price."],
        sub_scores={"liquidity": 0.05, "activity": 0.8},
        rejections=[{"rule": "max_step", "message": "a step of 40 ppm is above 25", "values": {}}],
        status=Decision.Status.FAILED,
        failure_reason="verification mismatch: fee_rate_ppm sent 140, node has 100",
    )

    page = viewer.get(reverse("admin:decisions_decision_change", args=[decision.pk])).content.decode()

    assert "drained_raise" in page
    assert "<li>Most liquidity left: raise the price.</li>" in page
    assert "<td>liquidity</td><td>0.05</td></tr><tr><td>activity</td><td>0.80</td>" in page, "weakest first"
    assert f"<td>fee_rate_ppm</td><td>{channel.fee_rate_ppm}</td><td>{channel.fee_rate_ppm + 40}</td>" in page
    assert "a step of 40 ppm is above 25" in page
    assert "verification mismatch" in page
    assert 'name="_save"' not in page, "the decision is read-only"


def test_an_operator_approves_and_rejects_from_the_list(node, operator):
    first, second = (make_decision(channel, kind=Decision.Kind.CLOSE_CHANNEL) for channel in open_channels(2))

    approved = run_action(operator, "approve", first)
    rejected = run_action(operator, "reject", second)

    first.refresh_from_db(), second.refresh_from_db()
    assert (first.status, second.status) == (Decision.Status.APPROVED, Decision.Status.REJECTED)
    assert said(approved) == [f"Decision {first.pk} on {first.channel.chan_id}: approved"]
    assert said(rejected) == [f"Decision {second.pk} on {second.channel.chan_id}: rejected"]
    assert AuditEntry.objects.get(decision=first, action=AuditEntry.Action.DECISION_APPROVED).actor == "user:olivia"


def test_each_selected_decision_is_reported_on_its_own(node, operator):
    pending = make_decision(open_channels(2)[0])
    applied = make_decision(open_channels(2)[1], status=Decision.Status.APPLIED)

    messages = said(run_action(operator, "approve", pending, applied))

    assert f"Decision {pending.pk} on {pending.channel.chan_id}: approved" in messages
    assert any(m.startswith(f"Decision {applied.pk}") and "only a pending one" in m for m in messages)
    pending.refresh_from_db()
    assert pending.status == Decision.Status.APPROVED


def test_an_operator_applies_and_rolls_back_from_the_list(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 35)

    applied = run_action(operator, "apply_now", decision)

    assert said(applied) == [
        f"Decision {decision.pk} on {channel.chan_id}: applied (fee_rate_ppm {before.fee_rate_ppm} → "
        f"{before.fee_rate_ppm + 35})"
    ]
    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + 35
    rolled = run_action(operator, "roll_back", decision)
    assert said(rolled) == [f"Decision {decision.pk} on {channel.chan_id}: channel {channel.chan_id} rolled back"]
    assert live_policy(node, channel).same_terms(before)
    again = said(run_action(operator, "roll_back", decision))
    assert again == [f"Decision {decision.pk} on {channel.chan_id}: decision {decision.pk} is already rolled back"]


def test_a_failed_application_is_reported_as_an_error_with_its_reason(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    node.faults.fail_policy_updates([channel.chan_point])
    decision = make_decision(channel)

    response = run_action(operator, "apply_now", decision)

    [message] = list(get_messages(response.wsgi_request))
    assert message.level_tag == "error" and "kept its previous policy" in str(message)
    assert live_policy(node, channel) == before


def test_a_rollback_over_an_outside_change_needs_the_forced_action(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 20)
    run_action(operator, "apply_now", decision)
    change_outside(node, channel, 444)

    [refused] = said(run_action(operator, "roll_back", decision))
    assert "changed outside Daznode" in refused and "use the action “Roll back, overwriting changes" in refused
    assert live_policy(node, channel).fee_rate_ppm == 444

    run_action(operator, "roll_back_forced", decision)
    assert live_policy(node, channel).same_terms(before)


def test_a_viewer_is_not_offered_the_actions_and_cannot_run_them(node, viewer):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = make_decision(channel)

    listing = viewer.get(CHANGELIST).content.decode()
    assert 'value="apply_now"' not in listing and 'value="approve"' not in listing
    for action in ("approve", "reject", "apply_now", "roll_back"):
        run_action(viewer, action, decision)

    decision.refresh_from_db()
    assert decision.status == Decision.Status.PENDING
    assert live_policy(node, channel) == before
    assert not decision.audit_entries.exists()


def test_the_list_filters_by_kind_status_mode_rule_and_date(node, viewer):
    make_decision(open_channels(1)[0], rule="drained_raise")
    for query in ("kind__exact=increase_fees", "status__exact=pending", "mode__exact=live", "rule=drained_raise"):
        response = viewer.get(f"{CHANGELIST}?{query}")
        assert response.status_code == 200, query
        assert response.context["cl"].result_count == 1, query
    assert viewer.get(f"{CHANGELIST}?created_at__year={timezone.now().year}").context["cl"].result_count == 1


def moment(at) -> str:
    """A point in time as the page's datetime-local input sends it."""
    return timezone.localtime(at).strftime("%Y-%m-%dT%H:%M:%S")


def confirmed(**data) -> dict:
    """The answer to the rollback preview: the point in time it showed and the explicit confirmation."""
    return {"confirmed": "yes", **data}


def written(sim) -> tuple[int, int, int, int]:
    """Everything a rollback leaves: updates the node took, journal rows, backups, audit rows."""
    counts = (PolicyWrite.objects.count(), PolicyBackup.objects.count(), AuditEntry.objects.count())
    return (len(sim.node.applied_updates), *counts)


def test_a_channel_rolls_back_to_a_point_in_time_from_its_page(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    point = timezone.now()
    run_action(operator, "apply_now", make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 20))
    url = reverse("admin:decisions_channel_rollback", args=[channel.pk])

    change_page = operator.get(reverse("admin:channels_channel_change", args=[channel.pk])).content.decode()
    form_page = operator.get(url)
    operator.post(url, {"to": moment(point)})
    response = operator.post(url, confirmed(to=moment(point), reason="undo"), follow=True)

    assert url in change_page
    assert form_page.status_code == 200 and "Recent policy changes" in form_page.content.decode()
    assert said(response) == [f"channel {channel.chan_id} rolled back"]
    assert live_policy(node, channel).same_terms(before)
    entry = AuditEntry.objects.filter(channel=channel, action=AuditEntry.Action.ROLLED_BACK).get()
    assert (entry.actor, entry.reason) == ("user:olivia", "undo")


def test_it_previews_every_field_it_would_send_and_sends_nothing_until_confirmed(node, operator):
    channel = open_channels(1)[0]
    before, point = live_policy(node, channel), timezone.now()
    run_action(operator, "apply_now", make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 20))
    applied, was = live_policy(node, channel), written(node)
    url = reverse("admin:decisions_channel_rollback", args=[channel.pk])

    preview = operator.post(url, {"to": moment(point)})

    html = preview.content.decode()
    assert preview.status_code == 200 and preview.context["confirming"]
    assert f"<td>fee_rate_ppm</td><td>{applied.fee_rate_ppm}</td><td>{before.fee_rate_ppm}</td><td>changes</td>" in html
    unchanged = f"<td>{before.base_fee_msat}</td><td>{before.base_fee_msat}</td><td>unchanged</td>"
    assert f"<td>base_fee_msat</td>{unchanged}" in html
    assert [row[0] for row in preview.context["preview"]] == list(before.terms())
    assert f'type="hidden" name="to" value="{moment(point)}"' in html
    assert 'name="confirmed" value="yes"' in html and 'name="force"' in html
    assert 'name="live_anyway"' not in html  # live mode: the confirmation is the only step left
    assert written(node) == was and live_policy(node, channel) == applied


def test_it_refuses_a_point_in_time_with_nothing_to_roll_back(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    url = reverse("admin:decisions_channel_rollback", args=[channel.pk])

    response = operator.post(url, {"to": moment(timezone.now() - timedelta(days=1))})

    html = response.content.decode()
    assert response.status_code == 200 and not response.context["confirming"]
    assert f"Channel {channel.chan_id} has no recorded change since then: nothing to roll back." in html
    assert 'name="confirmed"' not in html
    assert live_policy(node, channel) == before


@pytest.mark.parametrize("to", ["", "yesterday", "2026-13-45T99:00:00", "x" * 5000])
def test_it_answers_a_bad_point_in_time_with_a_form_error_in_both_steps(node, operator, to):
    channel = open_channels(1)[0]
    point = timezone.now()
    run_action(operator, "apply_now", make_decision(channel))
    applied, was = live_policy(node, channel), written(node)
    url = reverse("admin:decisions_channel_rollback", args=[channel.pk])

    preview = operator.post(url, {"to": to})
    confirm = operator.post(url, confirmed(to=to))

    expected = "This field is required." if to == "" else "Enter a valid date/time."
    assert preview.status_code == 200 and expected in preview.content.decode()
    assert not preview.context["confirming"]
    assert confirm.status_code == 200 and f"Point in time: {expected}" in confirm.content.decode()
    assert confirm.context["preview"] is None
    assert written(node) == was and live_policy(node, channel) == applied
    assert operator.post(url, confirmed(to=moment(point))).status_code == 302  # the same page, a good point: sent


def test_the_channel_rollback_form_refuses_the_future_and_shows_conflicts(node, operator):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    point = timezone.now()
    run_action(operator, "apply_now", make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 20))
    change_outside(node, channel, 333)
    url = reverse("admin:decisions_channel_rollback", args=[channel.pk])

    future = operator.post(url, {"to": moment(timezone.now() + timedelta(days=1))})
    future_confirmed = operator.post(url, confirmed(to=moment(timezone.now() + timedelta(days=1))))
    operator.post(url, {"to": moment(point)})
    conflict = operator.post(url, confirmed(to=moment(point)))

    assert "The point in time is in the future." in future.content.decode()
    assert "The point in time is in the future." in future_confirmed.content.decode()
    assert "roll back with force" in conflict.content.decode()
    assert "<td>fee_rate_ppm</td>" in conflict.content.decode()  # the preview stays beside the refusal
    assert live_policy(node, channel).fee_rate_ppm == 333
    operator.post(url, confirmed(to=moment(point), force="on"))
    assert live_policy(node, channel).same_terms(before)


def test_a_viewer_cannot_open_the_channel_rollback_page(node, viewer):
    channel = open_channels(1)[0]
    url = reverse("admin:decisions_channel_rollback", args=[channel.pk])
    assert url not in viewer.get(reverse("admin:channels_channel_change", args=[channel.pk])).content.decode()
    assert viewer.get(url).status_code == 403
    assert viewer.post(url, {"to": moment(timezone.now())}).status_code == 403
    assert viewer.post(url, confirmed(to=moment(timezone.now()), force="on")).status_code == 403


def test_audit_entries_are_filtered_but_never_edited(node, operator):
    channel = open_channels(1)[0]
    decision = make_decision(channel)
    run_action(operator, "apply_now", decision)
    entry = AuditEntry.objects.get(decision=decision)
    for query in (
        f"channel__id__exact={channel.pk}",
        f"channel__peer__id__exact={channel.peer_id}",
        "decision__kind__exact=increase_fees",
        "decision__status__exact=applied",
        "action__exact=policy_applied",
    ):
        response = operator.get(f"/admin/decisions/auditentry/?{query}")
        assert response.context["cl"].result_count == 1, query
    change_url = reverse("admin:decisions_auditentry_change", args=[entry.pk])
    assert operator.post(change_url, {"actor": "someone-else", "reason": "edited"}).status_code == 403
    assert (
        operator.post(reverse("admin:decisions_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    )
    assert operator.get(reverse("admin:decisions_auditentry_add")).status_code == 403
    entry.refresh_from_db()
    assert entry.actor == "user:olivia"


def test_a_fee_limit_with_its_minimum_above_its_maximum_is_refused(node, operator):
    channel = open_channels(1)[0]
    add = reverse("admin:decisions_feelimit_add")
    bad = operator.post(add, {"channel": channel.pk, "min_fee_rate_ppm": 500, "max_fee_rate_ppm": 100})
    assert "The minimum is above the maximum (500 &gt; 100)." in bad.content.decode()
    neither = operator.post(add, {"min_fee_rate_ppm": 1})
    assert "Choose either a channel or a peer." in neither.content.decode()
    assert not FeeLimit.objects.exists()
    operator.post(add, {"channel": channel.pk, "min_fee_rate_ppm": 100, "max_fee_rate_ppm": 500})
    assert FeeLimit.objects.get().max_fee_rate_ppm == 500


def test_a_viewer_cannot_add_fee_limits(node, viewer):
    response = viewer.post(reverse("admin:decisions_feelimit_add"), {"channel": open_channels(1)[0].pk})
    assert response.status_code == 403
    assert not FeeLimit.objects.exists()


def test_the_kill_switch_is_engaged_by_an_operator_and_released_only_by_an_admin(db, operator):
    url = reverse("admin:decisions_killswitch_change", args=[KillSwitch.current().pk])

    operator.post(url, {"engaged": "on", "reason": "fees look wrong"})
    switch = KillSwitch.current()
    assert (switch.engaged, switch.changed_by) == (True, "user:olivia")

    refused = operator.post(url, {"reason": "done"})
    assert "Releasing the kill switch needs the admin role." in refused.content.decode()
    assert KillSwitch.current().engaged

    admin = staff(Role.ADMIN, "ada")
    admin.post(url, {"reason": "fixed"})
    assert not KillSwitch.current().engaged
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.KILL_SWITCH).order_by("at", "id")
    assert [(e.actor, e.reason) for e in entries] == [
        ("user:olivia", "engaged: fees look wrong"),
        ("user:ada", "released: fixed"),
    ]


def test_the_kill_switch_list_shows_the_single_row(db, viewer):
    response = viewer.get("/admin/decisions/killswitch/")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    url = reverse("admin:decisions_killswitch_change", args=[KillSwitch.current().pk])
    viewer.post(url, {"engaged": "on"})
    assert not KillSwitch.current().engaged, "a viewer only reads the switch"


def test_fee_cycles_are_read_only(db, operator):
    assert operator.get("/admin/decisions/feecycle/").status_code == 200
    assert operator.get("/admin/decisions/feecycle/add/").status_code == 403


def test_every_decisions_list_and_page_renders_for_an_admin(node, client):
    client.force_login(get_user_model().objects.create_superuser("root", "", "a-long-test-password-1"))
    decision = make_decision(open_channels(1)[0])
    run_action(client, "apply_now", decision)
    FeeLimit.objects.create(channel=decision.channel, max_fee_rate_ppm=900)
    for model in ("decision", "policybackup", "auditentry", "feecycle", "feelimit", "killswitch"):
        assert client.get(reverse(f"admin:decisions_{model}_changelist")).status_code == 200, model
    assert client.get(reverse("admin:decisions_decision_change", args=[decision.pk])).status_code == 200
    assert client.get(reverse("admin:decisions_feelimit_change", args=[FeeLimit.objects.get().pk])).status_code == 200
    assert client.get(reverse("admin:decisions_feelimit_add")).status_code == 200


# What a new user saw in the lists


@pytest.fixture
def superuser(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "", "a-long-test-password-1"))
    return client


def test_scores_are_shown_to_two_decimals(node, viewer):
    decision = make_decision(open_channels(1)[0], total_score=0.6964999999999999)

    listing = viewer.get(CHANGELIST).content.decode()
    page = viewer.get(reverse("admin:decisions_decision_change", args=[decision.pk])).content.decode()

    assert '<td class="field-score_rounded">0.70</td>' in listing
    assert "0.70" in page
    assert "0.6964999999999999" not in listing and "0.6964999999999999" not in page


def test_the_status_is_a_short_badge_with_the_full_label_as_its_tooltip(node, viewer):
    make_decision(open_channels(1)[0], status=Decision.Status.SUPERSEDED)

    listing = viewer.get(CHANGELIST).content.decode()

    assert (
        '<span class="daznode-status daznode-status-superseded" title="Superseded by a newer decision">superseded'
        "</span>" in listing
    )


def test_histories_and_mirrors_offer_no_delete_even_to_a_superuser(node, superuser):
    decision = make_decision(open_channels(1)[0])
    run_action(superuser, "apply_now", decision)
    fee_cycle = FeeCycle.objects.create(mode="dry_run", trigger="command")
    rows = {
        "decision": decision,
        "policybackup": PolicyBackup.objects.get(decision=decision),
        "policywrite": PolicyWrite.objects.get(decision=decision),
        "auditentry": AuditEntry.objects.filter(decision=decision).first(),
        "feecycle": fee_cycle,
        "killswitch": KillSwitch.current(),
    }
    for model, row in rows.items():
        listing = superuser.get(reverse(f"admin:decisions_{model}_changelist")).content.decode()
        page = superuser.get(reverse(f"admin:decisions_{model}_change", args=[row.pk])).content.decode()
        assert 'value="delete_selected"' not in listing, model
        assert "deletelink" not in page and "/delete/" not in page, model
        assert (
            superuser.post(reverse(f"admin:decisions_{model}_delete", args=[row.pk]), {"post": "yes"}).status_code
            == 403
        )
        assert type(row).objects.filter(pk=row.pk).exists(), model


def test_the_kill_switch_is_named_in_the_singular(superuser):
    index = superuser.get("/admin/").content.decode()
    assert "Kill switch" in index and "Kill switchs" not in index
    assert KillSwitch._meta.verbose_name_plural == "kill switch"
