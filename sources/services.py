"""Creating and changing sources: the one place that decides who may choose what a source sends, and where.

The API and the admin both call these, so a rule cannot hold in one and be missing in the other. Input is
validated by the interface (a serializer or a model form, both through Source.clean) before it gets here.
"""

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from daznode.roles import Role, user_has_role
from sources.models import Source

SECRET_FIELDS = ("credential", "tls_certificate")
# Where a source sends its secrets is as sensitive as which secrets it sends.
SENSITIVE_FIELDS = (*SECRET_FIELDS, "url")


class SourceChangeRefused(Exception):
    """The user's role does not allow this change; the message says what would."""


def _stored(value: Any) -> Any:
    """A secret as its id (an interface may hand over the row or its id), anything else as it is."""
    return getattr(value, "pk", value)


def _sensitive_changes(source: Source | None, changes: Mapping[str, Any]) -> list[str]:
    if source is None:
        return [name for name in SECRET_FIELDS if changes.get(name) is not None]
    current = {"credential": source.credential_id, "tls_certificate": source.tls_certificate_id, "url": source.url}
    changed = [name for name in SENSITIVE_FIELDS if name in changes and _stored(changes[name]) != current[name]]
    if current["credential"] is None and current["tls_certificate"] is None:
        # Nothing to leak yet: only giving the source a secret is sensitive.
        return [name for name in changed if name in SECRET_FIELDS]
    return changed


def source_change_check(*, source: Source | None, changes: Mapping[str, Any], user) -> None:
    """Raise SourceChangeRefused unless `user` may make `changes` to `source` (None: a source being created).

    Choosing which secret a source sends, or where it sends it, is the vault's business: admins only. Otherwise
    an operator, who may not read the vault, could point a source holding the node's macaroon at a server of
    their own and receive it at the next health check.
    """
    if user_has_role(user, Role.ADMIN):
        return
    refused = _sensitive_changes(source, changes)
    if refused:
        raise SourceChangeRefused(
            "Changing a source's credential or certificate, or the URL it sends them to, needs the admin role "
            f"(refused: {', '.join(refused)})."
        )


def source_create(*, source: Source, user) -> Source:
    """Save a new, validated source."""
    values = {name: getattr(source, name) for name in SECRET_FIELDS}
    source_change_check(source=None, changes=values, user=user)
    source.save()
    return source


@transaction.atomic
def source_update(*, source: Source, changes: Mapping[str, Any], user) -> Source:
    """Apply validated `changes` to `source` and save it.

    The rule is checked against the row as stored, locked: the admin hands over an instance its form has already
    changed, and a concurrent change must not slip between the check and the save.
    """
    stored = Source.objects.select_for_update().get(pk=source.pk)
    source_change_check(source=stored, changes=changes, user=user)
    for name, value in changes.items():
        setattr(source, name, value)
    source.save()
    return source
