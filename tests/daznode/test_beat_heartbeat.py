import pytest
from celery.utils.imports import symbol_by_name

from daznode.beat import HeartbeatScheduler
from daznode.celery import app
from daznode.heartbeat import heartbeat_is_fresh, heartbeat_path


@pytest.mark.django_db(transaction=True)
def test_it_writes_the_heartbeat_on_every_tick(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    path = heartbeat_path(data_dir=tmp_path)
    assert not heartbeat_is_fresh(path=path)
    scheduler = HeartbeatScheduler(app=app, lazy=True)
    scheduler.setup_schedule()
    interval = scheduler.tick()
    assert interval >= 0
    assert heartbeat_is_fresh(path=path)


def test_it_is_the_scheduler_beat_runs():
    assert symbol_by_name(app.conf.beat_scheduler) is HeartbeatScheduler
