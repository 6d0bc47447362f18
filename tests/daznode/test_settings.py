"""Start-up behaviour, checked in a fresh interpreter per case since settings are read once at import."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, child_env, run_manage

PROD_KEY = "k" * 20 + "Qz9-x_Lm3Rt7Vb2Nc8Hd4Jf6Gs1Pw5Ya0Ue" + "p" * 10
VAULT_KEYS = "k1=" + "A" * 43 + "="
SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "debug": s.DEBUG, "dry_run": s.DAZNODE_DRY_RUN, "time_zone": s.TIME_ZONE, "use_tz": s.USE_TZ,
    "engine": s.DATABASES["default"]["ENGINE"], "db_name": str(s.DATABASES["default"]["NAME"]),
    "cache": s.CACHES["default"]["BACKEND"], "broker": s.CELERY_BROKER_URL,
    "result_backend": s.CELERY_RESULT_BACKEND, "secure_cookies": s.SESSION_COOKIE_SECURE,
    "graph_ttl_s": s.DAZNODE_GRAPH_TTL.total_seconds(), "secret_key": s.SECRET_KEY,
}))
"""


def start(tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=child_env(DAZNODE_DATA_DIR=str(tmp_path), **env),
        timeout=60,
        check=False,
    )


def started(tmp_path, **env) -> dict:
    result = start(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_defaults_run_on_a_bare_machine(tmp_path):
    settings = started(tmp_path)
    assert settings["engine"] == "django.db.backends.sqlite3"
    assert settings["db_name"] == str(tmp_path / "daznode.sqlite3")
    assert settings["cache"].endswith("FileBasedCache")
    assert settings["broker"] == "filesystem://"
    assert settings["result_backend"] == f"file://{tmp_path / 'broker' / 'results'}"
    assert settings["dry_run"] is True
    assert (settings["time_zone"], settings["use_tz"]) == ("UTC", True)
    assert settings["graph_ttl_s"] == 12 * 3600


def test_dev_keeps_its_generated_secret_key_across_restarts(tmp_path):
    assert started(tmp_path)["secret_key"] == started(tmp_path)["secret_key"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_it_uses_postgresql_and_redis_when_configured(tmp_path):
    settings = started(
        tmp_path, DATABASE_URL="postgresql://daz:pw@db.example:5432/daznode", REDIS_URL="redis://cache.example:6379/1"
    )
    assert settings["engine"] == "django.db.backends.postgresql"
    assert settings["db_name"] == "daznode"
    assert settings["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert settings["broker"] == settings["result_backend"] == "redis://cache.example:6379/1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DAZNODE_DECISION_MODE", "maybe"),
        ("DAZNODE_DECISION_PROFILE", "reckless"),
        ("DAZNODE_DECISION_THRESHOLDS", "no_action_min=2"),
        ("DAZNODE_DECISION_THRESHOLDS", "hold=0.5"),
        ("DAZNODE_DENY_CHANNELS", "12345,abc"),
        ("DAZNODE_DENY_CHANNELS", "\u0661\u0662\u0663"),  # Arabic-Indic digits: int() would take them
        ("DAZNODE_ALLOW_PEERS", "not-a-pubkey"),
        ("DAZNODE_ALLOW_PEERS", "02" + "ab" * 31 + "a\u0663"),
        ("DAZNODE_FEE_MIN_PPM", "3000"),  # above the maximum: refused when decisions builds its limits
        ("DAZNODE_FEE_MAX_STEP_PERCENT", "0"),
        ("DAZNODE_FEE_COOLDOWN", "soon"),
        ("DAZNODE_ENV", "staging"),
        ("DAZNODE_GRAPH_TTL", "half a day"),
        ("DAZNODE_GRAPH_SNAPSHOTS_KEEP", "0"),
        ("DAZNODE_PRUNE_HEALTH_CHECKS_EVERY", "-5m"),
        ("DATABASE_URL", "mysql://root@localhost/daznode"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("CSRF_TRUSTED_ORIGINS", "umbrel.local"),
        ("DAZNODE_SCORE_WEIGHTS", "centrality=1.5"),
        ("DAZNODE_SCORE_WEIGHTS", "liquidity=half"),
        ("DAZNODE_SCORE_ACTIVITY_DAYS", "0"),
    ],
)
def test_a_malformed_value_stops_start_up_naming_the_variable(tmp_path, variable, value):
    result = start(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    last_line = result.stderr.splitlines()[-1]
    assert variable in last_line or (variable.startswith("DAZNODE_FEE_") and "DAZNODE_FEE_*" in last_line)


def test_settings_import_no_app_and_hold_raw_values_only(tmp_path):
    """Settings load before the apps: importing one from them would run an arrow back up the layers."""
    script = (
        "import json, sys; import daznode.settings as s; "
        "print(json.dumps({'apps': sorted({m.split('.')[0] for m in sys.modules} & "
        "{'auth_vault', 'sources', 'channels', 'decisions'}), "
        "'types': sorted({type(getattr(s, n)).__name__ for n in ('DAZNODE_SCORE_WEIGHTS', "
        "'DAZNODE_DECISION_THRESHOLDS', 'DAZNODE_DECISION_LIMITS', 'DAZNODE_VAULT_KEYS')})}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=child_env(DAZNODE_DATA_DIR=str(tmp_path), DAZNODE_VAULT_KEYS=VAULT_KEYS),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"apps": [], "types": ["dict", "str"]}


def test_prod_refuses_to_start_without_a_secret_key(tmp_path):
    result = start(tmp_path, DAZNODE_ENV="prod", ALLOWED_HOSTS="daznode.example", DAZNODE_VAULT_KEYS=VAULT_KEYS)
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) is required when DAZNODE_ENV=prod" in result.stderr
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 50 random characters"),
        ({"SECRET_KEY": PROD_KEY, "DEBUG": "true"}, "DEBUG must be off when DAZNODE_ENV=prod"),
        ({"SECRET_KEY": PROD_KEY, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is required when DAZNODE_ENV=prod"),
    ],
)
def test_prod_refuses_unsafe_settings(tmp_path, env, message):
    result = start(
        tmp_path, DAZNODE_ENV="prod", **{"ALLOWED_HOSTS": "daznode.example", "DAZNODE_VAULT_KEYS": VAULT_KEYS, **env}
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_prod_reads_the_secret_key_from_a_docker_secret_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(PROD_KEY)
    settings = started(
        tmp_path,
        DAZNODE_ENV="prod",
        SECRET_KEY_FILE=str(key_file),
        ALLOWED_HOSTS="d.example",
        DAZNODE_VAULT_KEYS=VAULT_KEYS,
    )
    assert settings["secret_key"] == PROD_KEY
    assert settings["debug"] is False
    assert settings["secure_cookies"] is True


def test_check_deploy_reports_nothing_in_prod(tmp_path):
    env = child_env(
        DAZNODE_ENV="prod",
        SECRET_KEY=PROD_KEY,
        ALLOWED_HOSTS="daznode.example",
        DAZNODE_DATA_DIR=str(tmp_path),
        DAZNODE_VAULT_KEYS=VAULT_KEYS,
    )
    result = run_manage("check", "--deploy", "--fail-level", "DEBUG", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_prod_refuses_to_start_without_a_vault_key(tmp_path):
    result = start(tmp_path, DAZNODE_ENV="prod", SECRET_KEY=PROD_KEY, ALLOWED_HOSTS="daznode.example")
    assert result.returncode != 0
    assert "DAZNODE_VAULT_KEYS (or DAZNODE_VAULT_KEYS_FILE) is required when DAZNODE_ENV=prod" in result.stderr
    assert not (tmp_path / "vault_keys").exists()


def test_dev_generates_a_vault_key_once_and_warns_about_it(tmp_path):
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path))
    result = run_manage("check", env=env)
    assert "auth_vault.W001" in result.stderr + result.stdout
    key_file = tmp_path / "vault_keys"
    assert key_file.stat().st_mode & 0o077 == 0
    first = key_file.read_text()
    run_manage("check", env=env)
    assert key_file.read_text() == first


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DAZNODE_VAULT_KEYS", "k1=short"),
        ("DAZNODE_RATE_LOGIN", "5 per minute"),
        ("DAZNODE_RATE_READ", "0/m"),
        ("DAZNODE_RATE_READ", "\u0665/m"),
        ("DAZNODE_JWT_ACCESS_LIFETIME", "forever"),
    ],
)
def test_malformed_security_settings_stop_start_up(tmp_path, variable, value):
    result = start(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert variable in result.stderr.splitlines()[-1]
    if variable == "DAZNODE_VAULT_KEYS":
        assert "short" not in result.stderr, "key material is never echoed"
