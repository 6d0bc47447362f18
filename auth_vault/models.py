import uuid

from django.db import models
from django.utils import timezone

from daznode.models import AppendOnlyModel, AppendOnlyQuerySet


class Secret(models.Model):
    """A macaroon, API key or certificate, stored as AES-256-GCM ciphertext only.

    Only auth_vault decrypts; everything else refers to a Secret by id and sees its metadata.
    """

    class Kind(models.TextChoices):
        MACAROON = "macaroon", "LND macaroon"
        LNBITS_KEY = "lnbits_key", "LNbits API key"
        API_KEY = "api_key", "API key (MCP)"
        TLS_CERT = "tls_cert", "TLS certificate"

    class Type(models.TextChoices):
        ADMIN = "admin", "Admin"
        INVOICE = "invoice", "Invoice"
        READONLY = "readonly", "Read-only"
        CUSTOM = "custom", "Custom"

    class Permission(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"
        ADMIN = "admin", "Admin"
        INVOICE = "invoice", "Invoice"
        READONLY = "readonly", "Read-only"
        OFFCHAIN = "offchain", "Off-chain"
        ONCHAIN = "onchain", "On-chain"
        ADDRESS = "address", "Address"
        MESSAGE = "message", "Message"
        PEERS = "peers", "Peers"
        INFO = "info", "Info"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    uid = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text="Binds the ciphertext to this row."
    )
    name = models.SlugField(max_length=100, help_text="Stable name; each rotation adds a version under it.")
    version = models.PositiveIntegerField(default=1, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    secret_type = models.CharField("type", max_length=20, choices=Type.choices, default=Type.CUSTOM)
    permissions = models.JSONField(default=list, blank=True, help_text="List of Permission values.")
    ciphertext = models.BinaryField(editable=False)
    nonce = models.BinaryField(editable=False, max_length=12)
    key_id = models.CharField(
        "key version", max_length=64, editable=False, help_text="Id of the vault key that encrypted it."
    )
    salt = models.BinaryField(editable=False, blank=True, default=b"")
    kdf_iterations = models.PositiveIntegerField(null=True, blank=True, editable=False)
    fingerprint = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    rotation_count = models.PositiveIntegerField(default=0, editable=False)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by", editable=False
    )
    details = models.JSONField(
        default=dict, blank=True, editable=False, help_text="What inspection found: caveats, permissions, warnings."
    )

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="one_secret_per_name_and_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.get_kind_display()}, {self.fingerprint[:12]})"

    def status(self, now=None) -> "Secret.Status":
        now = now or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return self.Status.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return self.Status.EXPIRED
        return self.Status.ACTIVE


class AccessEventQuerySet(AppendOnlyQuerySet):
    def prune(self, *, before) -> int:
        """Delete the rows older than `before`: the one deletion allowed, called by
        auth_vault.access_log.access_log_prune only. On PostgreSQL the table's trigger refuses it unless that
        service has opened the guard for this transaction."""
        deleted, _ = models.QuerySet.delete(self.filter(at__lt=before))
        return deleted


class AccessEvent(AppendOnlyModel):
    """Who did what with which secret, and security events such as failed logins. Never the secret itself.

    Scheduled reads and rate-limit refusals are counted per hour in AccessCount instead (auth_vault.access_log).
    """

    class Operation(models.TextChoices):
        CREATE = "create", "Created"
        READ = "read", "Decrypted for use"
        VALIDATE = "validate", "Permissions validated"
        ROTATE = "rotate", "Rotated"
        REVOKE = "revoke", "Revoked"
        REENCRYPT = "reencrypt", "Re-encrypted with a new vault key"
        DENIED = "denied", "Refused"
        LOGIN = "login", "Logged in"
        LOGIN_FAILED = "login_failed", "Login failed"
        RATE_LIMITED = "rate_limited", "Rate limited"
        PRUNE = "prune", "Old entries pruned"

    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(
        max_length=150, help_text="Who: user:<username>, system:<task>, command:<command> or anonymous."
    )
    operation = models.CharField(max_length=20, choices=Operation.choices)
    secret = models.ForeignKey(Secret, null=True, blank=True, on_delete=models.PROTECT, related_name="access_events")
    ip = models.GenericIPAddressField(null=True, blank=True)
    success = models.BooleanField(default=True)
    detail = models.CharField(max_length=500, blank=True)

    objects = AccessEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["-at"]), models.Index(fields=["secret", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.get_operation_display()}"


class AccessCount(models.Model):
    """Events too frequent to list one by one, counted per hour: reads by scheduled work (a health check every
    minute) and refusals by the rate limits (an abusive client). One row per hour, operation, actor, address and
    secret, so a busy hour costs one row, not thousands.

    Unlike AccessEvent this row changes (its count grows); each one says only "this happened n times".
    """

    hour = models.DateTimeField(help_text="Start of the hour counted (UTC).")
    operation = models.CharField(max_length=20, choices=AccessEvent.Operation.choices)
    actor = models.CharField(max_length=150)
    secret = models.ForeignKey(Secret, null=True, blank=True, on_delete=models.PROTECT, related_name="access_counts")
    ip = models.CharField(max_length=45, blank=True, help_text="Client address, when counted per address.")
    count = models.PositiveBigIntegerField(default=0)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    detail = models.CharField(max_length=200, blank=True, help_text="The latest occurrence's detail.")

    class Meta:
        ordering = ["-hour", "operation", "actor"]
        constraints = [
            # Two partial constraints because NULLs are distinct in a plain unique constraint.
            models.UniqueConstraint(
                fields=["hour", "operation", "actor", "ip", "secret"],
                condition=models.Q(secret__isnull=False),
                name="one_access_count_per_hour_and_secret",
            ),
            models.UniqueConstraint(
                fields=["hour", "operation", "actor", "ip"],
                condition=models.Q(secret__isnull=True),
                name="one_access_count_per_hour",
            ),
        ]
        indexes = [models.Index(fields=["hour"])]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.actor} {self.get_operation_display()} x{self.count}"


class ApiKey(models.Model):
    """A key another program (a federated Daznode, a script) uses to call this API as `user`.

    Only a SHA-256 hash is stored; the key itself is shown once, when it is made. The prefix identifies a key in
    lists and logs without revealing it.
    """

    name = models.CharField(max_length=100)
    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.user})"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
