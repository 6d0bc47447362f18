from datetime import timedelta

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from daznode.schedule import sync_beat_schedule
from tests.conftest import child_env, running, test_database_url, wait_until

SCHEDULE = {
    "prune-health-checks": {
        "task": "sources.tasks.prune_health_checks",
        "every": timedelta(hours=1),
        "expires": timedelta(hours=1),
    },
    "prune-graph-snapshots": {
        "task": "sources.tasks.prune_graph_snapshots",
        "every": timedelta(minutes=30),
        "expires": timedelta(minutes=20),
    },
}


def entry(short_name: str) -> PeriodicTask:
    return PeriodicTask.objects.select_related("interval").get(name=f"daznode:{short_name}")


@pytest.mark.django_db
def test_it_creates_each_entry_with_its_interval_and_expiry():
    report = sync_beat_schedule(SCHEDULE)
    assert sorted(report.created) == ["daznode:prune-graph-snapshots", "daznode:prune-health-checks"]
    snapshots = entry("prune-graph-snapshots")
    assert snapshots.task == "sources.tasks.prune_graph_snapshots"
    assert (snapshots.interval.every, snapshots.interval.period) == (1800, IntervalSchedule.SECONDS)
    assert snapshots.expire_seconds == 1200
    assert snapshots.enabled


@pytest.mark.django_db
def test_it_keeps_an_entry_the_operator_disabled_disabled_while_following_the_code():
    sync_beat_schedule(SCHEDULE)
    disabled = entry("prune-health-checks")
    disabled.enabled = False
    disabled.save()

    changed = {**SCHEDULE, "prune-health-checks": {**SCHEDULE["prune-health-checks"], "every": timedelta(minutes=5)}}
    report = sync_beat_schedule(changed)

    after = entry("prune-health-checks")
    assert report.created == []
    assert after.pk == disabled.pk
    assert after.enabled is False
    assert after.interval.every == 300
    assert entry("prune-graph-snapshots").enabled is True


@pytest.mark.django_db
def test_it_disables_entries_the_code_no_longer_defines_without_deleting_them():
    sync_beat_schedule(SCHEDULE)
    operator_task = PeriodicTask.objects.create(
        name="operator's own",
        task="sources.tasks.prune_health_checks",
        interval=IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES),
    )

    report = sync_beat_schedule({"prune-health-checks": SCHEDULE["prune-health-checks"]})

    assert report.disabled_obsolete == ["daznode:prune-graph-snapshots"]
    assert entry("prune-graph-snapshots").enabled is False
    operator_task.refresh_from_db()
    assert operator_task.enabled is True, "rows that are not ours are left alone"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_restarted_beat_keeps_the_operators_choice_and_applies_the_new_interval(tmp_path):
    sync_beat_schedule()
    chosen = entry("prune-health-checks")
    chosen.enabled = False
    chosen.save()

    env = child_env(
        DAZNODE_DATA_DIR=str(tmp_path),
        DATABASE_URL=test_database_url(),
        REDIS_URL=None,
        DAZNODE_PRUNE_HEALTH_CHECKS_EVERY="7m",
    )
    log = tmp_path / "beat.log"
    with running(["celery", "-A", "daznode", "beat", "--loglevel", "INFO", "--pidfile="], env=env, log=log):
        wait_until(
            lambda: entry("prune-health-checks").interval.every == 420,
            timeout=30,
            what="beat to sync the schedule at start",
            log=log,
        )

    after = entry("prune-health-checks")
    assert after.pk == chosen.pk
    assert after.enabled is False
    assert entry("prune-graph-snapshots").enabled is True
