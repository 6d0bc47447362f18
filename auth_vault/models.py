from django.db import models
from django.utils import timezone


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

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    secret_type = models.CharField("type", max_length=20, choices=Type.choices, default=Type.CUSTOM)
    permissions = models.JSONField(default=list, blank=True, help_text="List of Permission values.")
    ciphertext = models.BinaryField(editable=False)
    nonce = models.BinaryField(editable=False, max_length=12)
    key_id = models.CharField(
        "key version", max_length=64, editable=False, help_text="Id of the vault key that encrypted it."
    )
    salt = models.BinaryField(editable=False, blank=True, default=b"")
    fingerprint = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    rotation_count = models.PositiveIntegerField(default=0, editable=False)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by", editable=False
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, {self.fingerprint[:12]})"

    def status(self, now=None) -> "Secret.Status":
        now = now or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return self.Status.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return self.Status.EXPIRED
        return self.Status.ACTIVE
