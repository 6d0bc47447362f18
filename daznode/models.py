"""Building blocks shared by the apps."""

from django.db import models


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete a row that must only ever be added."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")


class AppendOnlyModel(models.Model):
    """A row that is written once and never changed: the history an operator may need to answer "why?".

    The ORM refuses updates and deletes here; on PostgreSQL, tables listed in a migration of their app also get
    a trigger that refuses them (decisions.0002, auth_vault.0002).
    """

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
