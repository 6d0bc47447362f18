"""What sources does when the vault tells it something."""

from django.dispatch import receiver

from auth_vault.models import Secret
from auth_vault.signals import secret_rotated
from sources.models import Source


@receiver(secret_rotated)
def follow_rotated_secret(sender, *, old: Secret, new: Secret, **kwargs) -> int:
    """A source keeps using a secret across rotations: it now authenticates (or pins) with the new version."""
    moved = Source.objects.filter(credential=old).update(credential=new)
    return moved + Source.objects.filter(tls_certificate=old).update(tls_certificate=new)
