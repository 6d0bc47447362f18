import sqlite3
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.core.management import call_command

from tests.conftest import child_env, run_manage

OUR_TABLES = {
    "auth_vault_secret",
    "auth_vault_accessevent",
    "token_blacklist_blacklistedtoken",
    "sources_source",
    "sources_healthcheck",
    "sources_graphsnapshot",
    "channels_node",
    "channels_channel",
    "channels_channelactivity",
    "channels_channelscore",
    "decisions_decision",
    "decisions_policybackup",
    "decisions_auditentry",
    "django_celery_beat_periodictask",
}


@pytest.mark.django_db
def test_the_models_and_the_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_migrations_apply_on_a_fresh_sqlite_database(tmp_path):
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path))
    result = run_manage("migrate", "--no-input", env=env)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "daznode.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= OUR_TABLES


@pytest.fixture
def fresh_postgres_database(postgres_url):
    """An empty database on the configured server, dropped afterwards."""
    name = f"daznode_migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_apply_and_reverse_on_a_fresh_postgresql_database(tmp_path, fresh_postgres_database):
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path), DATABASE_URL=fresh_postgres_database)
    result = run_manage("migrate", "--no-input", env=env)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(fresh_postgres_database) as db:
        tables = {row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        triggers = {row[0] for row in db.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    assert tables >= OUR_TABLES
    assert triggers == {
        "decisions_auditentry_append_only",
        "decisions_policybackup_append_only",
        "auth_vault_accessevent_append_only",
    }

    for app in ("decisions", "channels", "sources", "auth_vault"):
        result = run_manage("migrate", app, "zero", "--no-input", env=env)
        assert result.returncode == 0, result.stderr
    with psycopg.connect(fresh_postgres_database) as db:
        tables = {row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert not tables & (OUR_TABLES - {"django_celery_beat_periodictask", "token_blacklist_blacklistedtoken"})
