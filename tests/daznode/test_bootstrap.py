import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from channels.models import Channel, ChannelActivity, Node


def bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("bootstrap", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_creates_the_admin_once_and_shows_the_generated_password_once(client):
    first = bootstrap("--url", "http://127.0.0.1:8123")
    assert "Dashboard: http://127.0.0.1:8123/\n" in first
    assert "Admin:     http://127.0.0.1:8123/admin/" in first
    password = re.search(r"Password:\s+(\S+)\s+\(generated now and shown only this once", first).group(1)
    assert client.login(username="admin", password=password)

    second = bootstrap()
    assert password not in second
    assert "the one shown on first start" in second
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


@pytest.mark.django_db
def test_it_uses_the_configured_admin_password_without_printing_it(settings, client):
    settings.DAZNODE_ADMIN_USER = "alice"
    settings.DAZNODE_ADMIN_PASSWORD = "correct-horse-battery-staple"
    output = bootstrap()
    assert "correct-horse-battery-staple" not in output
    assert "User:      alice" in output
    assert client.login(username="alice", password="correct-horse-battery-staple")


@pytest.mark.django_db
def test_it_refuses_a_weak_configured_password_and_creates_no_one(settings):
    settings.DAZNODE_ADMIN_PASSWORD = "password"
    with pytest.raises(CommandError, match="DAZNODE_ADMIN_PASSWORD is too weak"):
        bootstrap()
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_it_syncs_the_beat_schedule_and_says_dry_run_is_on():
    output = bootstrap()
    assert set(PeriodicTask.objects.values_list("name", flat=True)) >= {
        "daznode:prune-health-checks",
        "daznode:prune-graph-snapshots",
    }
    assert (
        "Mode:      Dry run: decisions are proposed, nothing is sent to the node unless you apply one live anyway"
        in output
    )


@pytest.mark.django_db
def test_demo_data_is_seeded_once_and_is_consistent():
    bootstrap("--demo")
    bootstrap("--demo")
    assert Node.objects.filter(is_ours=True).count() == 1
    assert Channel.objects.count() == 24
    assert ChannelActivity.objects.count() == 24 * 7
    for channel in Channel.objects.all():
        assert channel.local_balance_sat + channel.remote_balance_sat <= channel.capacity_sat
        assert 0.0 <= channel.local_ratio() <= 1.0


@pytest.mark.django_db
def test_seed_demo_refuses_an_out_of_range_channel_count():
    with pytest.raises(CommandError, match="channels"):
        call_command("seed_demo", "--channels", "0")
    assert not Channel.objects.exists()
