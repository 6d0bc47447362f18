"""Decision endpoints: read decisions and the audit log (viewer); preview, approve, reject, apply and roll back
(operator); the kill switch (engage: operator, release: admin). chan_id travels as a string, as in LND's JSON.

Each view parses its input with a serializer, calls one domain function and formats what it returns; the
domain's refusals become 409 answers with its message, never a 500.

Apply and the rollbacks write a policy: outside live mode they are refused (409, nothing sent) unless the body says
{"live_anyway": true}, and their answers carry `mode_in_force` (shadow, dry_run or live)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from channels.api import ChanIdField, PubkeyField, channel_or_404, datetime_text
from channels.models import Channel
from daznode.actors import user_actor
from daznode.api import RoleDeclaredMixin
from daznode.api_cache import KeptWhileUnchangedListAPIView, UnchangedDatabaseCountPagination
from daznode.lightning import Policy
from daznode.roles import Role, user_has_role
from decisions import executor, rollback
from decisions.engine import Rule
from decisions.executor import ApplyRefused, decision_apply
from decisions.models import KIND_CHOICES, AuditEntry, Decision, KillSwitch, policy_diff
from decisions.rollback import RollbackError, RollbackResult, channel_rollback, decision_rollback
from decisions.services import (
    DecisionStateError,
    Judgement,
    NothingToDecide,
    decision_approve,
    decision_reject,
    judge_channels,
    kill_switch_role,
    kill_switch_set,
)

REASON_MAX_LENGTH = 1000


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def mode_in_force() -> str:
    return settings.DAZNODE_DECISION_MODE


@contextmanager
def refusals_as_conflicts() -> Iterator[None]:
    """The domain refused (wrong state, kill switch, changed outside, not live): nothing happened, say why with a
    409; a refusal for the mode also says which mode is in force."""
    try:
        yield
    except (executor.NotLive, rollback.NotLive) as exc:
        raise Conflict({"detail": str(exc), "mode_in_force": mode_in_force()}) from None
    except (DecisionStateError, ApplyRefused, RollbackError, NothingToDecide) as exc:
        raise Conflict(str(exc)) from None


def policy_dict(policy: Policy | None) -> dict | None:
    return policy.to_dict() if policy is not None else None


def diff_of(current: dict | None, proposed: dict | None) -> dict[str, dict]:
    changed = policy_diff(current, proposed)
    return {name: {"current": old, "proposed": new} for name, (old, new) in changed.items()}


# Input


def refuse_unknown_channels(chan_ids: list[int]) -> None:
    known = set(Channel.objects.filter(chan_id__in=chan_ids).values_list("chan_id", flat=True))
    unknown = sorted(set(chan_ids) - known)
    if unknown:
        raise NotFound(f"unknown channel(s): {', '.join(str(chan_id) for chan_id in unknown)}")


class StrictBooleanField(serializers.BooleanField):
    """Missing from a form-encoded body means missing, not false: releasing a switch is never implied."""

    default_empty_html = serializers.empty


class ExactBooleanField(serializers.BooleanField):
    """true or false and nothing else (JSON booleans, or the words in a form body): no 1, "yes" or "on" read as an
    operator's consent to change the node."""

    default_error_messages = {"invalid": "must be true or false"}
    WORDS = {"true": True, "false": False}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, str) and data in self.WORDS:
            return self.WORDS[data]
        self.fail("invalid")


def live_anyway_field() -> ExactBooleanField:
    return ExactBooleanField(
        required=False, default=False, help_text="Change the node even though the mode is shadow or dry run."
    )


class AwareDateTimeField(serializers.DateTimeField):
    """A datetime with its timezone: a naive one is refused rather than guessed."""

    default_error_messages = {"naive": "give the timezone, such as 2025-01-31T12:00:00Z or +02:00"}

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class DecisionFilterSerializer(serializers.Serializer):
    channel = ChanIdField(required=False)
    peer = PubkeyField(required=False)
    kind = serializers.ChoiceField(choices=KIND_CHOICES, required=False)
    status = serializers.ChoiceField(choices=Decision.Status.choices, required=False)
    mode = serializers.ChoiceField(choices=Decision.Mode.choices, required=False)
    rule = serializers.ChoiceField(choices=[rule.value for rule in Rule], required=False)
    since = AwareDateTimeField(required=False)

    LOOKUPS = {
        "channel": "channel__chan_id",
        "peer": "channel__peer__pubkey",
        "kind": "kind",
        "status": "status",
        "mode": "mode",
        "rule": "rule",
        "since": "created_at__gte",
    }


class AuditFilterSerializer(serializers.Serializer):
    channel = ChanIdField(required=False)
    peer = PubkeyField(required=False)
    action = serializers.ChoiceField(choices=AuditEntry.Action.choices, required=False)
    kind = serializers.ChoiceField(choices=KIND_CHOICES, required=False)
    status = serializers.ChoiceField(choices=Decision.Status.choices, required=False)
    since = AwareDateTimeField(required=False)
    until = AwareDateTimeField(required=False)

    LOOKUPS = {
        "channel": "channel__chan_id",
        "peer": "channel__peer__pubkey",
        "action": "action",
        "kind": "decision__kind",
        "status": "decision__status",
        "since": "at__gte",
        "until": "at__lte",
    }


def filtered(queryset: QuerySet, serializer_class, query_params) -> QuerySet:
    """Apply the query's filters; a bad value is a 400 naming the parameter."""
    serializer = serializer_class(data=query_params)
    serializer.is_valid(raise_exception=True)
    lookups = serializer_class.LOOKUPS
    return queryset.filter(**{lookups[name]: value for name, value in serializer.validated_data.items()})


class PreviewSerializer(serializers.Serializer):
    chan_ids = serializers.ListField(child=ChanIdField(), required=False, allow_empty=False, max_length=10_000)


class ReviewSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=REASON_MAX_LENGTH)


class ApplySerializer(serializers.Serializer):
    live_anyway = live_anyway_field()


class RollbackSerializer(ReviewSerializer):
    force = serializers.BooleanField(required=False, default=False)
    live_anyway = live_anyway_field()


class ChannelRollbackSerializer(RollbackSerializer):
    to = AwareDateTimeField()

    def validate_to(self, value):
        if value > timezone.now():
            raise ValidationError("the point in time is in the future")
        return value


class KillSwitchInputSerializer(serializers.Serializer):
    engaged = StrictBooleanField()
    reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)


# Output


class PeerMixin(serializers.Serializer):
    peer = serializers.SerializerMethodField()

    def get_peer(self, row) -> dict | None:
        channel = row.channel
        return {"pubkey": channel.peer.pubkey, "alias": channel.peer.alias} if channel else None


class DecisionSerializer(PeerMixin, serializers.ModelSerializer):
    chan_id = serializers.CharField(source="channel.chan_id")
    diff = serializers.SerializerMethodField()
    needs_approval = serializers.BooleanField()

    class Meta:
        model = Decision
        fields = [
            "id",
            "cycle",
            "chan_id",
            "peer",
            "kind",
            "rule",
            "status",
            "mode",
            "total_score",
            "sub_scores",
            "reasons",
            "current_policy",
            "proposed_policy",
            "diff",
            "rejections",
            "failure_reason",
            "needs_approval",
            "actor",
            "created_at",
            "approved_at",
            "applied_at",
            "rolled_back_at",
        ]
        read_only_fields = fields

    def get_diff(self, decision: Decision) -> dict[str, dict]:
        return diff_of(decision.current_policy, decision.proposed_policy)


def decision_row(decision: Decision) -> dict[str, Any]:
    """DecisionSerializer's fields and values in one pass, for a list page of a hundred decisions (DRF's fields cost
    a call or more per value); tests/decisions/test_api.py checks a row equals the decision's detail."""
    channel = decision.channel
    return {
        "id": decision.pk,
        "cycle": decision.cycle_id,
        "chan_id": str(channel.chan_id),
        "peer": {"pubkey": channel.peer.pubkey, "alias": channel.peer.alias},
        "kind": decision.kind,
        "rule": decision.rule,
        "status": decision.status,
        "mode": decision.mode,
        "total_score": decision.total_score,
        "sub_scores": decision.sub_scores,
        "reasons": decision.reasons,
        "current_policy": decision.current_policy,
        "proposed_policy": decision.proposed_policy,
        "diff": diff_of(decision.current_policy, decision.proposed_policy),
        "rejections": decision.rejections,
        "failure_reason": decision.failure_reason,
        "needs_approval": decision.needs_approval,
        "actor": decision.actor,
        "created_at": datetime_text(decision.created_at),
        "approved_at": datetime_text(decision.approved_at),
        "applied_at": datetime_text(decision.applied_at),
        "rolled_back_at": datetime_text(decision.rolled_back_at),
    }


# What decision_row reads: the decision's own columns, and of its channel only the id and the peer.
DECISION_ROW_COLUMNS = [
    *(name for name in DecisionSerializer.Meta.fields if name not in ("chan_id", "peer", "diff", "needs_approval")),
    "channel__chan_id",
    "channel__peer__pubkey",
    "channel__peer__alias",
]


class DecisionRowSerializer(DecisionSerializer):
    """The list's rows: the fields DecisionSerializer declares, written by decision_row."""

    def to_representation(self, decision: Decision) -> dict[str, Any]:
        return decision_row(decision)


class BackupSerializer(serializers.Serializer):
    taken_at = serializers.DateTimeField()
    read_from = serializers.CharField()
    policy = serializers.JSONField()


class DecisionAuditSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["at", "actor", "action", "before", "after", "reason", "source"]
        read_only_fields = fields


class DecisionDetailSerializer(DecisionSerializer):
    backups = serializers.SerializerMethodField()
    audit = serializers.SerializerMethodField()

    class Meta(DecisionSerializer.Meta):
        fields = [*DecisionSerializer.Meta.fields, "backups", "audit"]
        read_only_fields = fields

    def get_backups(self, decision: Decision) -> list[dict]:
        return BackupSerializer(decision.policy_backups.order_by("taken_at", "id"), many=True).data

    def get_audit(self, decision: Decision) -> list[dict]:
        return DecisionAuditSerializer(decision.audit_entries.order_by("at", "id"), many=True).data


class AuditEntrySerializer(PeerMixin, DecisionAuditSerializer):
    chan_id = serializers.SerializerMethodField()

    class Meta(DecisionAuditSerializer.Meta):
        fields = ["id", "at", "actor", "action", "chan_id", "peer", "decision", "before", "after", "reason", "source"]
        read_only_fields = fields

    def get_chan_id(self, entry: AuditEntry) -> str | None:
        return str(entry.channel.chan_id) if entry.channel else None


def judgement_data(judgement: Judgement) -> dict:
    proposal = judgement.proposal
    current, proposed = proposal.current.to_dict(), policy_dict(proposal.proposed)
    return {
        "chan_id": str(judgement.channel.chan_id),
        "peer": {"pubkey": judgement.channel.peer.pubkey, "alias": judgement.channel.peer.alias},
        "kind": proposal.kind.value,
        "rule": proposal.rule.value,
        "reasons": list(proposal.reasons),
        "current_policy": current,
        "proposed_policy": proposed,
        "diff": diff_of(current, proposed),
        "rejections": [rejection.to_dict() for rejection in judgement.rejections],
        "would_change": proposal.changes_policy and not judgement.blocked,
    }


def rollback_data(result: RollbackResult) -> dict:
    return {
        "changed": result.changed,
        "message": result.message,
        "before": policy_dict(result.before),
        "after": policy_dict(result.after),
        "mode_in_force": mode_in_force(),
    }


class KillSwitchSerializer(serializers.ModelSerializer):
    forced_by_environment = serializers.SerializerMethodField()

    class Meta:
        model = KillSwitch
        fields = ["engaged", "reason", "changed_by", "changed_at", "forced_by_environment"]
        read_only_fields = fields

    def get_forced_by_environment(self, switch: KillSwitch) -> bool:
        return settings.DAZNODE_KILL_SWITCH


# Views


class DecisionListView(RoleDeclaredMixin, KeptWhileUnchangedListAPIView):
    """Decisions, newest first; ?channel= ?peer= ?kind= ?status= ?mode= ?rule= ?since= narrow them."""

    required_roles = Role.VIEWER
    serializer_class = DecisionRowSerializer
    pagination_class = UnchangedDatabaseCountPagination

    def get_queryset(self):
        decisions = (
            Decision.objects.select_related("channel__peer").only(*DECISION_ROW_COLUMNS).order_by("-created_at", "-id")
        )
        return filtered(decisions, DecisionFilterSerializer, self.request.query_params)


class DecisionDetailView(RoleDeclaredMixin, generics.RetrieveAPIView):
    """One decision with its backups and its audit trail."""

    required_roles = Role.VIEWER
    serializer_class = DecisionDetailSerializer
    queryset = Decision.objects.select_related("channel__peer")


class DecisionPreviewView(RoleDeclaredMixin, generics.GenericAPIView):
    """What the engine would decide now, for all open scored channels or the given ones; stores nothing."""

    required_roles = {"POST": Role.OPERATOR}
    serializer_class = PreviewSerializer

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        chan_ids = serializer.validated_data.get("chan_ids")
        if chan_ids is not None:
            refuse_unknown_channels(chan_ids)
        with refusals_as_conflicts():
            judgements = judge_channels(now=timezone.now(), chan_ids=chan_ids)
        return Response({"count": len(judgements), "results": [judgement_data(j) for j in judgements]})


class DecisionActionView(RoleDeclaredMixin, generics.GenericAPIView):
    """POST on one decision (operator): parse the body, act, answer with the decision or the outcome."""

    required_roles = {"POST": Role.OPERATOR}
    queryset = Decision.objects.select_related("channel__peer")
    serializer_class = ReviewSerializer

    def post(self, request, pk: int):
        decision = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with refusals_as_conflicts():
            return self.act(decision, user_actor(request.user), serializer.validated_data)

    def act(self, decision: Decision, actor: str, data: dict[str, Any]) -> Response:
        """`data`: the validated body of the view's serializer_class (its defaults filled in)."""
        raise NotImplementedError

    def answer(self, decision: Decision, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(DecisionDetailSerializer(decision).data, status=status_code)


class DecisionApproveView(DecisionActionView):
    serializer_class = serializers.Serializer

    def act(self, decision: Decision, actor: str, data: dict[str, Any]) -> Response:
        return self.answer(decision_approve(decision=decision, actor=actor))


class DecisionRejectView(DecisionActionView):
    def act(self, decision: Decision, actor: str, data: dict[str, Any]) -> Response:
        return self.answer(decision_reject(decision=decision, actor=actor, reason=data["reason"]))


class DecisionApplyView(DecisionActionView):
    """Apply now, live. 200 with the decision applied; 502 with it failed, or still applying when the node could not
    be read after the write (recovery settles it): its failure_reason says why. Outside live mode: 409 unless
    {"live_anyway": true}."""

    serializer_class = ApplySerializer

    def act(self, decision: Decision, actor: str, data: dict[str, Any]) -> Response:
        done = decision_apply(decision=decision, actor=actor, live_anyway=data["live_anyway"])
        applied = done.status == Decision.Status.APPLIED
        body = {**DecisionDetailSerializer(done).data, "mode_in_force": mode_in_force()}
        return Response(body, status=status.HTTP_200_OK if applied else status.HTTP_502_BAD_GATEWAY)


class DecisionRollbackView(DecisionActionView):
    """Put back the policy the decision replaced: {"force", "reason", "live_anyway"}."""

    serializer_class = RollbackSerializer

    def act(self, decision: Decision, actor: str, data: dict[str, Any]) -> Response:
        rolled = decision_rollback(decision=decision, actor=actor, **data)
        return Response(rollback_data(rolled))


class ChannelRollbackView(RoleDeclaredMixin, generics.GenericAPIView):
    """Put back the policy the channel had at a point in time: {"to": ISO datetime with timezone, "force", "reason",
    "live_anyway"}."""

    required_roles = {"POST": Role.OPERATOR}
    serializer_class = ChannelRollbackSerializer

    def post(self, request, chan_id: str):
        channel = channel_or_404(chan_id)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with refusals_as_conflicts():
            result = channel_rollback(channel=channel, actor=user_actor(request.user), **serializer.validated_data)
        return Response(rollback_data(result))


class AuditListView(RoleDeclaredMixin, generics.ListAPIView):
    """The audit log, newest first; ?channel= ?peer= ?action= ?kind= ?status= ?since= ?until= narrow it."""

    required_roles = Role.VIEWER
    serializer_class = AuditEntrySerializer

    def get_queryset(self):
        entries = AuditEntry.objects.select_related("channel__peer").order_by("-at", "-id")
        return filtered(entries, AuditFilterSerializer, self.request.query_params)


class KillSwitchView(RoleDeclaredMixin, generics.GenericAPIView):
    """GET the switch; POST {"engaged": true|false, "reason": "..."}: engaging needs operator, releasing admin."""

    required_roles = {"GET": Role.VIEWER, "POST": Role.OPERATOR}
    serializer_class = KillSwitchInputSerializer

    def get(self, request):
        return Response(KillSwitchSerializer(KillSwitch.current()).data)

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        engaged, reason = serializer.validated_data["engaged"], serializer.validated_data["reason"]
        if not user_has_role(request.user, kill_switch_role(engaged)):
            raise PermissionDenied("Releasing the kill switch needs the admin role.")
        switch = kill_switch_set(engaged=engaged, actor=user_actor(request.user), reason=reason)
        return Response(KillSwitchSerializer(switch).data)
