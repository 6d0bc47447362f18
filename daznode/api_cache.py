"""API list answers kept while the database is unchanged: the channel and decision lists read their rows once per
state of the database, not once per request (README, "API speed").

The state is PostgreSQL's current snapshot, which every commit changes, so a kept answer is exactly what a fresh
read would give. It is the whole server's: a commit in another database moves it too, which costs a fresh read,
never a wrong answer. Nothing is kept on SQLite or inside a transaction.
"""

import hashlib
import threading
from collections import OrderedDict

from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpResponse
from rest_framework import generics
from rest_framework.pagination import LimitOffsetPagination

# Counts in the cache, shared by the processes, dropped after COUNT_KEPT_S; answers in each process's memory, the
# least recently used dropped first beyond ANSWERS_KEPT_BYTES.
COUNT_KEPT_S = 600
ANSWERS_KEPT_BYTES = 8 * 1024 * 1024


def database_state() -> str | None:
    """A text that changes whenever a transaction commits anything: PostgreSQL's current snapshot (the oldest
    running transaction, the next one, those running in between), with the database and the server's start time.
    Two reads that see the same state see the same rows. None on SQLite, and inside a transaction, whose own
    writes the snapshot does not show."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), pg_postmaster_start_time()::text, pg_current_snapshot()::text")
        return ":".join(cursor.fetchone())


class UnchangedDatabaseCountPagination(LimitOffsetPagination):
    """LimitOffsetPagination whose count (a scan of every row that matches: 180,000 decisions after 90 days) is
    made once per state of the database, for all the pages read in that state."""

    def get_count(self, queryset: QuerySet) -> int:
        state = database_state()
        if state is None:
            return super().get_count(queryset)
        query = repr((state, *queryset.query.sql_with_params()))
        key = "api-count:" + hashlib.sha256(query.encode()).hexdigest()
        count = cache.get(key)
        if count is None:
            count = super().get_count(queryset)
            cache.set(key, count, COUNT_KEPT_S)
        return count


class KeptAnswers:
    """Rendered answers kept in this process, the least recently used dropped first beyond a budget of bytes: a
    client asking for ever new URLs (other pages, made-up parameters) costs memory up to the budget, no more."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._answers: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # gunicorn's threads share the process

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            body = self._answers.get(key)
            if body is not None:
                self._answers.move_to_end(key)
            return body

    def put(self, key: tuple, body: bytes) -> None:
        if len(body) > self.budget_bytes // 8:
            return  # thousands of rows asked at once: not worth pushing everything else out
        with self._lock:
            self._bytes += len(body) - len(self._answers.pop(key, b""))
            self._answers[key] = body
            while self._bytes > self.budget_bytes:
                self._bytes -= len(self._answers.popitem(last=False)[1])


class KeptWhileUnchangedListAPIView(generics.ListAPIView):
    """A list view whose answer depends on its URL and the database only (not on the user, once let in, nor on
    the time): the rendered answer is kept per state of the database, so that reading it again until something
    commits costs one small query. Authentication and roles are checked before, as for every request."""

    kept = KeptAnswers(ANSWERS_KEPT_BYTES)

    def list(self, request, *args, **kwargs):
        state = database_state()
        if state is None:
            return super().list(request, *args, **kwargs)
        key = (state, type(self).__name__, request.build_absolute_uri(), request.accepted_media_type)
        body = self.kept.get(key)
        if body is None:
            data = super().list(request, *args, **kwargs).data
            body = request.accepted_renderer.render(data, request.accepted_media_type, self.get_renderer_context())
            self.kept.put(key, body)
        return HttpResponse(body, content_type=request.accepted_renderer.media_type)
