import multiprocessing
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from daznode.env import (
    env_bool,
    env_choice,
    env_duration,
    env_int,
    env_list,
    env_pairs,
    env_rate,
    env_secret,
    env_url,
    file_created_once,
    parse_duration,
    redact_url,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("1", True),
        ("YES", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("No", False),
        ("off", False),
    ],
)
def test_it_reads_booleans_in_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", not expected) is expected


def test_it_falls_back_to_the_default_when_unset_or_blank(monkeypatch):
    monkeypatch.delenv("X_FLAG", raising=False)
    assert env_bool("X_FLAG", True) is True
    monkeypatch.setenv("X_FLAG", "  ")
    assert env_bool("X_FLAG", False) is False


@pytest.mark.parametrize("raw", ["maybe", "tru", "2", "y"])
def test_it_rejects_a_malformed_boolean_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("X_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match=f"X_FLAG must be true or false.*{raw!r}"):
        env_bool("X_FLAG", True)


def test_it_reads_integers_within_bounds(monkeypatch):
    monkeypatch.setenv("X_COUNT", "7")
    assert env_int("X_COUNT", 1, minimum=1, maximum=10) == 7


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("seven", "X_COUNT must be a whole number"),
        ("1.5", "X_COUNT must be a whole number"),
        ("0", "X_COUNT must be at least 1"),
        ("11", "X_COUNT must be at most 10"),
    ],
)
def test_it_rejects_bad_integers_naming_the_variable(monkeypatch, raw, message):
    monkeypatch.setenv("X_COUNT", raw)
    with pytest.raises(ImproperlyConfigured, match=message):
        env_int("X_COUNT", 1, minimum=1, maximum=10)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("15m", 900),
        ("12h", 43200),
        ("7d", 604800),
        ("2w", 1209600),
        ("1h30m", 5400),
        (" 5M ", 300),
    ],
)
def test_it_parses_durations(raw, seconds):
    assert parse_duration(raw) == timedelta(seconds=seconds)


@pytest.mark.parametrize("raw", ["soon", "h", "1.5h", "-1h", "0", "0s", "12 h", "1y", "h12", "99999999999w"])
def test_it_rejects_malformed_durations_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("X_EVERY", raw)
    with pytest.raises(ImproperlyConfigured, match="X_EVERY must be a positive duration"):
        env_duration("X_EVERY", timedelta(hours=1))


def test_it_accepts_urls_with_an_allowed_scheme(monkeypatch):
    monkeypatch.setenv("X_URL", "postgresql://u:p@db:5432/daznode")
    assert env_url("X_URL", schemes=("postgresql",)) == "postgresql://u:p@db:5432/daznode"


@pytest.mark.parametrize("raw", ["mysql://u@db/x", "db:5432", "postgresql://u@db:port/x"])
def test_it_rejects_bad_urls_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("X_URL", raw)
    with pytest.raises(ImproperlyConfigured, match="X_URL"):
        env_url("X_URL", schemes=("postgresql",))


def test_it_never_echoes_a_password_from_a_rejected_url(monkeypatch):
    monkeypatch.setenv("X_URL", "mysql://user:hunter2-secret@db/x")
    with pytest.raises(ImproperlyConfigured) as error:
        env_url("X_URL", schemes=("postgresql",))
    assert "hunter2-secret" not in str(error.value)
    assert "user:***@db" in str(error.value)
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_it_reads_a_secret_from_the_variable_or_from_its_file(monkeypatch, tmp_path):
    monkeypatch.setenv("X_SECRET", "direct")
    assert env_secret("X_SECRET") == "direct"
    monkeypatch.delenv("X_SECRET")
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret_file))
    assert env_secret("X_SECRET") == "from-file"


def test_it_refuses_a_secret_given_twice(monkeypatch, tmp_path):
    (tmp_path / "secret").write_text("a")
    monkeypatch.setenv("X_SECRET", "b")
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "secret"))
    with pytest.raises(ImproperlyConfigured, match="Set X_SECRET or X_SECRET_FILE, not both"):
        env_secret("X_SECRET")


def test_it_refuses_a_missing_or_empty_secret_file_naming_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE names a file that cannot be read"):
        env_secret("X_SECRET")
    (tmp_path / "empty").write_text("  \n")
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "empty"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE names an empty file"):
        env_secret("X_SECRET")


def test_it_reads_lists_and_choices(monkeypatch):
    monkeypatch.setenv("X_HOSTS", "a.example, b.example,,")
    assert env_list("X_HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("X_MODE", "stage")
    with pytest.raises(ImproperlyConfigured, match="X_MODE must be one of dev, prod, got 'stage'"):
        env_choice("X_MODE", "dev", ("dev", "prod"))


@pytest.mark.parametrize("raw", ["\u0665/m", "5/\u0661m", "5/m/", "5 /m", "5/mm"])
def test_it_refuses_a_rate_that_is_not_exactly_ascii_count_per_period(monkeypatch, raw):
    monkeypatch.setenv("DAZNODE_RATE_X", raw)
    with pytest.raises(ImproperlyConfigured, match="DAZNODE_RATE_X must be a rate"):
        env_rate("DAZNODE_RATE_X", "5/m")


def test_it_reads_a_rate(monkeypatch):
    monkeypatch.setenv("DAZNODE_RATE_X", "30/10s")
    assert env_rate("DAZNODE_RATE_X", "5/m") == "30/10s"


@pytest.mark.parametrize("raw", ["\u0669\u0660", "\u0661m"])
def test_it_refuses_a_duration_in_other_scripts_digits(monkeypatch, raw):
    monkeypatch.setenv("DAZNODE_X_EVERY", raw)
    with pytest.raises(ImproperlyConfigured, match="DAZNODE_X_EVERY must be a positive duration"):
        env_duration("DAZNODE_X_EVERY", timedelta(seconds=1))


def test_it_reads_name_value_pairs_as_strings(monkeypatch):
    monkeypatch.setenv("DAZNODE_PAIRS", " hold = 0.5 , close_max=0.05,")
    assert env_pairs("DAZNODE_PAIRS") == {"hold": "0.5", "close_max": "0.05"}
    monkeypatch.delenv("DAZNODE_PAIRS")
    assert env_pairs("DAZNODE_PAIRS") == {}


@pytest.mark.parametrize(
    ("raw", "message"), [("hold", "name=value pairs"), ("=1", "name=value"), ("a=1,a=2", "a twice")]
)
def test_it_refuses_malformed_pairs_naming_the_variable(monkeypatch, raw, message):
    monkeypatch.setenv("DAZNODE_PAIRS", raw)
    with pytest.raises(ImproperlyConfigured, match=f"DAZNODE_PAIRS.*{message}"):
        env_pairs("DAZNODE_PAIRS")


def _create_key(path: str) -> str:
    return file_created_once(Path(path), lambda: f"key-of-{os.getpid()}")


def test_processes_racing_to_create_a_key_file_all_get_the_one_that_won(tmp_path):
    # Web, worker and beat start together on a new machine: each used to write its own dev key, and secrets
    # encrypted under an overwritten one were lost at the next restart.
    path = tmp_path / "vault_keys"
    with multiprocessing.get_context("fork").Pool(8) as pool:
        keys = pool.map(_create_key, [str(path)] * 8)
    assert len(set(keys)) == 1
    assert path.read_text() == keys[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [file.name for file in tmp_path.iterdir()] == ["vault_keys"], "no temporary file is left behind"
