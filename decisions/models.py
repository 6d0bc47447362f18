from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from daznode.models import AppendOnlyModel
from decisions.engine import FEE_CHANGES, KIND_LABELS, RECOMMENDATIONS, Kind

KIND_CHOICES = [(kind.value, label) for kind, label in KIND_LABELS.items()]


def policy_diff(current: dict | None, proposed: dict | None) -> dict[str, tuple]:
    """Field -> (current, proposed) for the fields of two complete policies (as dicts) that differ."""
    if not (current and proposed):
        return {}
    return {name: (value, proposed.get(name)) for name, value in current.items() if proposed.get(name) != value}


class Mode(models.TextChoices):
    """What the fee cycle may do (DAZNODE_DECISION_MODE): of a cycle, and of each decision it makes."""

    SHADOW = "shadow", "Shadow (record only)"
    DRY_RUN = "dry_run", "Dry run (validate, show the diff)"
    LIVE = "live", "Live"


class FeeCycle(models.Model):
    """One run of decide-validate-apply over our channels: when, in which mode, started by whom, and what came of it."""

    class Trigger(models.TextChoices):
        BEAT = "beat", "Schedule"
        COMMAND = "command", "Command"
        API = "api", "API"

    mode = models.CharField(max_length=20, choices=Mode.choices)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    actor = models.CharField(max_length=150, default="system")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, help_text="Decisions by kind and status, and any error.")

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"Cycle {self.pk} ({self.mode}) at {self.started_at:%Y-%m-%d %H:%M}"


class Decision(models.Model):
    """What Daznode proposes for one channel, why, and what became of it."""

    Kind = Kind  # decisions.engine.Kind, the one definition, reachable as Decision.Kind

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"
        ROLLING_BACK = "rolling_back", "Rolling back"
        ROLLED_BACK = "rolled_back", "Rolled back"
        RECORDED = "recorded", "Recorded (nothing to apply)"
        BLOCKED = "blocked", "Blocked by a safety limit"
        SUPERSEDED = "superseded", "Superseded by a newer decision"

    # A decision in one of these may still be approved or applied.
    OPEN_STATUSES = (Status.PENDING, Status.APPROVED)

    Mode = Mode

    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="decisions")
    score = models.ForeignKey(
        "channels.ChannelScore", null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    cycle = models.ForeignKey(FeeCycle, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions")
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    rule = models.CharField(max_length=40, blank=True, help_text="The engine rule that fired.")
    sub_scores = models.JSONField(default=dict, help_text="The eight heuristic scores when decided.")
    rejections = models.JSONField(default=list, help_text="The safety limits it broke: rule, message, values.")
    total_score = models.FloatField(null=True, blank=True, help_text="The channel's score when decided.")
    reasons = models.JSONField(default=list, help_text="Why, in sentences an operator understands.")
    current_policy = models.JSONField(null=True, blank=True, help_text="Our policy when decided.")
    proposed_policy = models.JSONField(null=True, blank=True, help_text="The complete policy to send.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.DRY_RUN)
    actor = models.CharField(max_length=150, default="system", help_text="Who created it: system or a user.")
    failure_reason = models.TextField(blank=True)
    claimed_by = models.CharField(max_length=150, blank=True, help_text="The worker that applied it.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "mode"]),
            models.Index(fields=["channel", "-created_at"]),
            # The list's order (newest first): a page reads its own rows, never sorts the whole history.
            models.Index(fields=["-created_at", "-id"], name="decisions_created_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.channel.chan_id} ({self.get_status_display()})"

    @property
    def needs_approval(self) -> bool:
        """Closing a channel and moving liquidity are the operator's acts: Daznode only recommends them."""
        return self.kind in RECOMMENDATIONS

    @property
    def changes_policy(self) -> bool:
        return self.kind in FEE_CHANGES

    def policy_diff(self) -> dict[str, tuple]:
        """Field -> (current, proposed) for the fields the decision changes."""
        return policy_diff(self.current_policy, self.proposed_policy)


class PolicyBackup(AppendOnlyModel):
    """The complete policy of a channel as read from the node just before Daznode changed it."""

    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="policy_backups")
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="policy_backups"
    )
    policy = models.JSONField(help_text="daznode.lightning.Policy as a dict.")
    read_from = models.CharField(max_length=50, blank=True, help_text="The source the policy was read from.")
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-taken_at"]
        get_latest_by = "taken_at"

    def __str__(self) -> str:
        return f"Backup of {self.channel.chan_id} at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class PolicyWrite(models.Model):
    """The write-ahead journal of policy writes: one row for every policy Daznode sends to a channel, committed
    before anything is sent and settled once the node was read back.

    PolicyBackup and AuditEntry are the permanent, append-only history; this is the mutable journal that lets a
    write interrupted at any instant (a killed process, a power cut) be found and settled by reading the node
    (decisions.recovery). Settling is a conditional UPDATE (unsettled and unclaimed -> claimed and settled), so
    the writer and recovery never both settle one write. A write after which the node could not be read is not
    settled by its writer but released (released_at): only a policy read from the node is ever recorded, and
    recovery reads it at its next run. Settled rows are pruned after SETTLED_WRITES_KEPT by the recovery pass;
    the audit log keeps what happened.
    """

    class Purpose(models.TextChoices):
        APPLY = "apply", "Apply a decision"
        ROLLBACK = "rollback", "Roll back a decision"
        CHANNEL_ROLLBACK = "channel_rollback", "Roll a channel back to a point in time"
        RECOVERY = "recovery", "Put back by recovery"

    class Outcome(models.TextChoices):
        TOOK = "took", "The node holds the target"
        KEPT = "kept", "The node kept the policy before"
        RESTORED = "restored", "The policy before was put back"
        UNKNOWN = "unknown", "What the node holds is unknown"

    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="policy_writes")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="policy_writes"
    )
    backup = models.ForeignKey(PolicyBackup, on_delete=models.PROTECT, related_name="writes")
    before = models.JSONField(help_text="The node's policy before the write (the backup's).")
    target = models.JSONField(help_text="The complete policy sent.")
    actor = models.CharField(max_length=150, help_text="Who wrote: system, a user, system:recovery.")
    source = models.CharField(max_length=50, blank=True, help_text="The node source written to.")
    rollback_to = models.DateTimeField(null=True, blank=True, help_text="A channel rollback: the point in time.")
    recovers = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="recovery_writes",
        help_text="Recovery's put-back: the interrupted write it settles.",
    )
    started_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=150, blank=True, help_text="Who settles it: the writer or recovery.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The writer gave it up unsettled: the node could not be read after it. Not in flight any more: "
        "recovery settles it at its next run.",
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["settled_at", "started_at"])]
        constraints = [
            # One write at a time per channel: a second writer is refused before it sends anything.
            models.UniqueConstraint(
                fields=["channel"],
                condition=Q(settled_at__isnull=True, recovers__isnull=True),
                name="one_unsettled_policy_write_per_channel",
            ),
        ]

    def __str__(self) -> str:
        state = self.get_outcome_display() if self.settled_at else "released" if self.released_at else "unsettled"
        return f"{self.get_purpose_display()} on {self.channel.chan_id} at {self.started_at:%Y-%m-%d %H:%M} ({state})"


class AuditEntry(AppendOnlyModel):
    """One change, attempted change or observation that touches a node's policy. Never edited, never deleted."""

    class Action(models.TextChoices):
        DECISION_CREATED = "decision_created", "Decision created"
        DECISION_APPROVED = "decision_approved", "Decision approved"
        DECISION_REJECTED = "decision_rejected", "Decision rejected"
        DRY_RUN = "dry_run", "Dry run"
        POLICY_APPLIED = "policy_applied", "Policy applied"
        APPLY_FAILED = "apply_failed", "Apply failed"
        ROLLED_BACK = "rolled_back", "Rolled back"
        EXTERNAL_CHANGE = "external_change", "Changed outside Daznode"
        KILL_SWITCH = "kill_switch", "Kill switch changed"

    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150, help_text="system, or the user who acted.")
    action = models.CharField(max_length=30, choices=Action.choices)
    channel = models.ForeignKey(
        "channels.Channel", null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries"
    )
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    source = models.CharField(max_length=50, blank=True, help_text="The node source written to or read from.")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["-at"]), models.Index(fields=["channel", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor}: {self.get_action_display()}"


# Audit actions after which the node's policy is what the row's `after` says.
POLICY_CHANGING_ACTIONS = (
    AuditEntry.Action.POLICY_APPLIED,
    AuditEntry.Action.ROLLED_BACK,
    AuditEntry.Action.EXTERNAL_CHANGE,
)


class FeeLimit(models.Model):
    """Fee bounds for one peer or one channel, narrower or wider than the global ones. The most specific wins,
    field by field: channel, then peer, then the DAZNODE_FEE_* settings. Empty fields inherit."""

    channel = models.OneToOneField(
        "channels.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="fee_limit"
    )
    peer = models.OneToOneField(
        "channels.Node", null=True, blank=True, on_delete=models.CASCADE, related_name="fee_limit"
    )
    min_fee_rate_ppm = models.PositiveIntegerField(null=True, blank=True)
    max_fee_rate_ppm = models.PositiveIntegerField(null=True, blank=True)
    min_base_fee_msat = models.PositiveBigIntegerField(null=True, blank=True)
    max_base_fee_msat = models.PositiveBigIntegerField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__isnull=True, peer__isnull=False) | Q(channel__isnull=False, peer__isnull=True),
                name="fee_limit_for_a_channel_or_a_peer",
            ),
        ]

    def __str__(self) -> str:
        if self.channel is not None:
            return f"Limits for channel {self.channel.chan_id}"
        return f"Limits for peer {self.peer}"

    def clean(self) -> None:
        if (self.channel_id is None) == (self.peer_id is None):
            raise ValidationError("Choose either a channel or a peer.")
        for low, high in (("min_fee_rate_ppm", "max_fee_rate_ppm"), ("min_base_fee_msat", "max_base_fee_msat")):
            low_value, high_value = getattr(self, low), getattr(self, high)
            if low_value is not None and high_value is not None and low_value > high_value:
                raise ValidationError({low: f"The minimum is above the maximum ({low_value} > {high_value})."})


class KillSwitch(models.Model):
    """One row: when engaged, no policy is changed automatically or by "apply"; decisions are still recorded.

    DAZNODE_KILL_SWITCH=true engages it from the environment as well, whatever this row says."""

    engaged = models.BooleanField(default=False)
    reason = models.CharField(max_length=200, blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "kill switch"
        verbose_name_plural = "kill switch"  # one row: the admin's index lists it as the thing it is
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="kill_switch_is_a_single_row")]

    def __str__(self) -> str:
        return "Kill switch: engaged" if self.engaged else "Kill switch: released"

    @classmethod
    def current(cls) -> "KillSwitch":
        switch, _ = cls.objects.get_or_create(pk=1)
        return switch
