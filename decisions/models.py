from django.db import models
from django.utils import timezone

from daznode.models import AppendOnlyModel


class Decision(models.Model):
    """What Daznode proposes for one channel, why, and what became of it."""

    class Kind(models.TextChoices):
        NO_ACTION = "no_action", "No action"
        INCREASE_FEES = "increase_fees", "Increase fees"
        DECREASE_FEES = "decrease_fees", "Decrease fees"
        REBALANCE = "rebalance", "Rebalance"
        CLOSE_CHANNEL = "close_channel", "Close channel"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"
        ROLLED_BACK = "rolled_back", "Rolled back"

    class Mode(models.TextChoices):
        SHADOW = "shadow", "Shadow (record only)"
        DRY_RUN = "dry_run", "Dry run (validate, show the diff)"
        LIVE = "live", "Live"

    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="decisions")
    score = models.ForeignKey(
        "channels.ChannelScore", null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    total_score = models.FloatField(null=True, blank=True, help_text="The channel's score when decided.")
    reasons = models.JSONField(default=list, help_text="Why, in sentences an operator understands.")
    current_policy = models.JSONField(null=True, blank=True, help_text="Our policy when decided.")
    proposed_policy = models.JSONField(null=True, blank=True, help_text="The complete policy to send.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.DRY_RUN)
    actor = models.CharField(max_length=150, default="system", help_text="Who created it: system or a user.")
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "mode"]), models.Index(fields=["channel", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.channel.chan_id} ({self.get_status_display()})"


class PolicyBackup(AppendOnlyModel):
    """The complete policy of a channel as read from the node just before Daznode changed it."""

    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="policy_backups")
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="policy_backups"
    )
    policy = models.JSONField(help_text="channels.policy.Policy as a dict.")
    read_from = models.CharField(max_length=50, blank=True, help_text="The source the policy was read from.")
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-taken_at"]
        get_latest_by = "taken_at"

    def __str__(self) -> str:
        return f"Backup of {self.channel.chan_id} at {self.taken_at:%Y-%m-%d %H:%M:%S}"


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

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["-at"]), models.Index(fields=["channel", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor}: {self.get_action_display()}"
