"""The access log stays bounded: scheduled reads and rate-limit refusals are counted per hour, everything a person
did is a row, and old entries go through one audited pruning path."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from auth_vault import access_log, services
from auth_vault.access_log import access_count, access_failed_login, access_log_prune, access_rate_limited
from auth_vault.models import AccessCount, AccessEvent, Secret
from auth_vault.tasks import prune_access_log
from daznode.models import AppendOnlyError
from tests.auth_vault.fixtures import LNBITS_ADMIN_KEY

Op = AccessEvent.Operation
# Mid-hour, so that a test's reads cannot straddle two hours.
TEN_PAST_TEN = datetime(2026, 5, 1, 10, 10, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """The wall clock, held still: the boundary these tests control."""

    class Clock:
        now = TEN_PAST_TEN

    monkeypatch.setattr(timezone, "now", lambda: Clock.now)
    return Clock


@pytest.fixture
def secret(db) -> Secret:
    return services.secret_create(
        name="lnbits", kind=Secret.Kind.LNBITS_KEY, value=LNBITS_ADMIN_KEY.encode(), actor="alice"
    )


def old_event(age: timedelta, *, now: datetime) -> AccessEvent:
    return AccessEvent.objects.create(at=now - age, actor="alice", operation=Op.READ, detail=f"{age.days} days old")


def old_count(age: timedelta, *, now: datetime) -> AccessCount:
    moment = now - age
    return AccessCount.objects.create(
        hour=moment.replace(minute=0, second=0, microsecond=0),
        operation=Op.READ,
        actor="system:health-check",
        count=60,
        first_at=moment,
        last_at=moment,
    )


def test_it_counts_500_health_check_reads_of_one_hour_in_one_row(secret, clock):
    for _ in range(500):
        assert services.secret_get(secret, actor="system:health-check") == LNBITS_ADMIN_KEY.encode()
    counter = AccessCount.objects.get()
    assert (counter.operation, counter.actor, counter.secret, counter.count) == (
        Op.READ,
        "system:health-check",
        secret,
        500,
    )
    assert counter.hour == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert not AccessEvent.objects.filter(operation=Op.READ).exists()


def test_a_minute_by_minute_health_check_of_lnd_adds_one_row_an_hour(db, clock):
    from sources.health import HealthCheckManager
    from sources.models import Source
    from sources.simulator import start_simulator

    cache.clear()  # circuit breakers
    with start_simulator(seed=2, node_count=20) as sim:
        macaroon = services.secret_create(
            name="umbrel-mac", kind=Secret.Kind.MACAROON, value=sim.admin_macaroon, actor="alice"
        )
        source = Source.objects.create(name="umbrel", kind=Source.Kind.LND, url=sim.url, credential=macaroon)
        assert all(HealthCheckManager().check(source).ok for _ in range(60))
    counter = AccessCount.objects.get()
    assert (counter.secret, counter.count, counter.operation) == (macaroon, 60, Op.READ)
    assert list(AccessEvent.objects.values_list("operation", flat=True)) == [Op.CREATE]


def test_it_opens_a_new_counter_each_hour_and_for_each_secret_and_actor(secret, clock):
    other = services.secret_create(name="k", kind=Secret.Kind.API_KEY, value=b"an-api-key-1234", actor="alice")
    services.secret_get(secret, actor="system:health-check")
    services.secret_get(other, actor="system:health-check")
    services.secret_get(secret, actor="system")
    clock.now += timedelta(hours=1)
    services.secret_get(secret, actor="system:health-check")
    rows = AccessCount.objects.order_by("hour", "secret", "actor").values_list(
        "hour__hour", "secret__name", "actor", "count"
    )
    assert list(rows) == [
        (10, "k", "system:health-check", 1),
        (10, "lnbits", "system", 1),
        (10, "lnbits", "system:health-check", 1),
        (11, "lnbits", "system:health-check", 1),
    ]


def test_it_keeps_every_read_by_a_person_as_a_row(secret, clock):
    # A manage.py command is a person at a terminal: its reads are rows, like those through the admin or API.
    for actor in ("user:bob", "command:rollback_channel", "command:system", "systematic"):
        services.secret_get(secret, actor=actor)
    reads = AccessEvent.objects.filter(operation=Op.READ).order_by("id").values_list("actor", flat=True)
    assert list(reads) == ["user:bob", "command:rollback_channel", "command:system", "systematic"]
    assert not AccessCount.objects.exists()


def test_a_refused_scheduled_read_is_still_a_row(secret):
    services.secret_revoke(secret, actor="alice", reason="leaked")
    with pytest.raises(services.SecretUnavailable):
        services.secret_get(secret, actor="system:health-check")
    denied = AccessEvent.objects.get(operation=Op.DENIED)
    assert (denied.actor, denied.secret, denied.success) == ("system:health-check", secret, False)
    assert not AccessCount.objects.exists()


def test_rotation_and_revocation_are_rows(secret):
    new = services.secret_rotate(secret, value=b"a-new-lnbits-admin-key", actor="alice")
    services.secret_revoke(new, actor="alice")
    operations = AccessEvent.objects.order_by("id").values_list("operation", "actor")
    assert list(operations) == [(Op.CREATE, "alice"), (Op.ROTATE, "alice"), (Op.REVOKE, "alice")]


def test_a_burst_of_rate_limited_requests_adds_one_counter(client, db, settings, clock):
    cache.clear()
    settings.DAZNODE_RATE_LOGIN = "1/d"
    statuses = [
        client.post(
            "/api/v1/auth/token/refresh", {"refresh": "x"}, content_type="application/json", REMOTE_ADDR="203.0.113.5"
        ).status_code
        for _ in range(200)
    ]
    assert statuses == [401] + [429] * 199
    counter = AccessCount.objects.get()
    assert (counter.operation, counter.actor, counter.ip, counter.count) == (
        Op.RATE_LIMITED,
        "anonymous",
        "203.0.113.5",
        199,
    )
    assert counter.detail == "POST /api/v1/auth/token/refresh over 1/d"
    assert not AccessEvent.objects.filter(operation=Op.RATE_LIMITED).exists()


def test_a_client_rotating_addresses_still_adds_a_bounded_number_of_rows(db, clock, monkeypatch):
    monkeypatch.setattr(access_log, "COUNTERS_PER_HOUR", 5)
    for i in range(50):
        access_rate_limited(actor="anonymous", ip=f"2001:db8::{i:x}", detail="POST /api/v1/auth/token over 5/m")
    assert AccessCount.objects.count() == 6, "five addresses, then one counter for all the others"
    overflow = AccessCount.objects.get(actor=access_log.OVERFLOW_ACTOR)
    assert (overflow.ip, overflow.count) == ("", 45)
    assert sum(AccessCount.objects.values_list("count", flat=True)) == 50, "nothing uncounted"


def test_failed_logins_are_rows_until_the_hours_budget_then_counted(db, clock, monkeypatch):
    monkeypatch.setattr(access_log, "FAILED_LOGIN_ROWS_PER_HOUR", 3)
    for i in range(5):
        access_failed_login(username=f"guess{i}", ip="198.51.100.1")
    rows = AccessEvent.objects.filter(operation=Op.LOGIN_FAILED).order_by("id").values_list("actor", flat=True)
    assert list(rows) == ["user:guess0", "user:guess1", "user:guess2"]
    assert sum(AccessCount.objects.filter(operation=Op.LOGIN_FAILED).values_list("count", flat=True)) == 2
    clock.now += timedelta(hours=1)
    access_failed_login(username="next-hour", ip="198.51.100.1")
    access_failed_login(username="", ip="198.51.100.1")
    rows = AccessEvent.objects.filter(operation=Op.LOGIN_FAILED, at__gte=clock.now).values_list("actor", flat=True)
    assert sorted(rows) == ["user:?", "user:next-hour"]


def test_two_writers_of_the_same_counter_share_it(db, clock):
    access_count(operation=Op.RATE_LIMITED, actor="vera", ip="192.0.2.1")
    # A second process that missed the row on its update and then hit the unique constraint on insert.
    access_count(operation=Op.RATE_LIMITED, actor="vera", ip="192.0.2.1")
    assert AccessCount.objects.get().count == 2


def test_prune_deletes_only_what_is_past_its_retention_and_records_it(db, settings):
    settings.DAZNODE_ACCESS_LOG_RETENTION = timedelta(days=365)
    settings.DAZNODE_ACCESS_COUNT_RETENTION = timedelta(days=30)
    now = timezone.now()
    old_event(timedelta(days=400), now=now)
    kept_event = old_event(timedelta(days=300), now=now)
    old_count(timedelta(days=31), now=now)
    kept_count = old_count(timedelta(days=29), now=now)

    report = access_log_prune(actor="system:prune-access-log", now=now)

    assert (report.events_deleted, report.counts_deleted) == (1, 1)
    assert list(AccessCount.objects.all()) == [kept_count]
    pruned = AccessEvent.objects.get(operation=Op.PRUNE)
    assert set(AccessEvent.objects.all()) == {kept_event, pruned}
    assert pruned.actor == "system:prune-access-log"
    assert pruned.detail.startswith("deleted 1 access event(s) before ")
    assert "and 1 hourly count(s) before " in pruned.detail


def test_prune_always_keeps_the_last_day_whatever_the_setting(db, settings):
    settings.DAZNODE_ACCESS_LOG_RETENTION = settings.DAZNODE_ACCESS_COUNT_RETENTION = timedelta(minutes=1)
    now = timezone.now()
    recent = old_event(timedelta(hours=2), now=now)
    recent_count = old_count(timedelta(hours=2), now=now)
    report = access_log_prune(actor="t", now=now)
    assert (report.events_deleted, report.counts_deleted) == (0, 0)
    assert AccessEvent.objects.filter(pk=recent.pk).exists()
    assert AccessCount.objects.filter(pk=recent_count.pk).exists()


def test_the_command_and_the_task_prune_through_the_same_audited_path(db):
    now = timezone.now()
    old_event(timedelta(days=400), now=now)
    out = io.StringIO()
    call_command("prune_access_log", stdout=out)
    assert "Access log: deleted 1 access event(s)" in out.getvalue()
    old_event(timedelta(days=500), now=now)
    assert prune_access_log() == {"events_deleted": 1, "counts_deleted": 0}
    actors = AccessEvent.objects.filter(operation=Op.PRUNE).order_by("id").values_list("actor", flat=True)
    assert list(actors) == ["command:prune_access_log", "system:prune-access-log"]


def test_the_orm_still_refuses_to_change_or_delete_access_events(db):
    event = old_event(timedelta(days=400), now=timezone.now())
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.filter(pk=event.pk).update(detail="rewritten")
    with pytest.raises(AppendOnlyError):
        event.delete()


def raw(sql: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the database trigger exists on PostgreSQL only; SQLite relies on the ORM guard")


@pytest.mark.parametrize(
    "sql",
    ["UPDATE auth_vault_accessevent SET detail = 'rewritten'", "DELETE FROM auth_vault_accessevent"],
)
def test_postgresql_refuses_raw_changes_to_old_access_events(db, on_postgresql, sql):
    event = old_event(timedelta(days=400), now=timezone.now())
    with pytest.raises(DatabaseError, match="append-only"):
        raw(sql)
    assert AccessEvent.objects.get(pk=event.pk).detail == "400 days old"


def test_postgresql_lets_the_guard_delete_only_rows_older_than_its_moment_and_the_last_day(db, on_postgresql):
    now = timezone.now()
    old, middle, recent = (old_event(timedelta(days=d), now=now) for d in (400, 100, 0))
    guard = "SELECT set_config('daznode.access_log_prune_before', %s, true)"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(guard, [(now - timedelta(days=200)).isoformat()])
        cursor.execute("DELETE FROM auth_vault_accessevent WHERE id = %s", [middle.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(guard, [(now + timedelta(days=1)).isoformat()])
        cursor.execute("DELETE FROM auth_vault_accessevent WHERE id = %s", [recent.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(guard, [(now - timedelta(days=200)).isoformat()])
        cursor.execute("UPDATE auth_vault_accessevent SET detail = 'x' WHERE id = %s", [old.pk])
    assert AccessEvent.objects.count() == 3


def test_postgresql_prune_works_and_the_guard_closes_with_its_transaction(db, on_postgresql):
    now = timezone.now()
    old_event(timedelta(days=400), now=now)
    second_old = old_event(timedelta(days=401), now=now)
    with transaction.atomic():
        # Called inside a caller's transaction (here the test's), the guard must still close when the prune ends.
        access_log_prune(actor="t", now=now)
    assert not AccessEvent.objects.filter(pk=second_old.pk).exists()
    older = old_event(timedelta(days=500), now=now)
    with pytest.raises(DatabaseError, match="append-only"):
        raw("DELETE FROM auth_vault_accessevent WHERE id = %s", [older.pk])
