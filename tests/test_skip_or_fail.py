"""A test that cannot run skips in a developer's clone and fails in CI, so that CI never goes green over a test
that did not run."""

import subprocess
import sys

import pytest

from tests.conftest import REPO, child_env, require_service, require_shared

CI_VARIABLES = ("CI", "DAZNODE_TEST_REQUIRE_SERVICES")


@pytest.fixture
def developer_clone(monkeypatch):
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_it_returns_a_shared_file_that_is_there(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    present = tmp_path / "lightning.swagger.json"
    present.write_text("{}")
    assert require_shared(present) == present


def test_it_skips_a_missing_shared_file_in_a_developer_clone(tmp_path, developer_clone):
    with pytest.raises(pytest.skip.Exception, match=r"nope\.json is absent: these tests read \.\./shared"):
        require_shared(tmp_path / "nope.json")


@pytest.mark.parametrize(("name", "value"), [("CI", "true"), ("DAZNODE_TEST_REQUIRE_SERVICES", "1")])
def test_it_fails_on_a_missing_shared_file_in_ci(tmp_path, developer_clone, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(pytest.fail.Exception, match=r"nope\.json is absent.*CI forbids skipping"):
        require_shared(tmp_path / "nope.json")


def test_it_skips_an_unconfigured_service_in_a_developer_clone_and_fails_in_ci(developer_clone, monkeypatch):
    with pytest.raises(pytest.skip.Exception, match="Redis is not configured: set REDIS_URL"):
        require_service(False, "Redis", "set REDIS_URL")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"Redis is not configured.*CI forbids skipping"):
        require_service(False, "Redis", "set REDIS_URL")
    require_service(True, "Redis", "set REDIS_URL")  # configured: neither


@pytest.mark.parametrize(("ci", "code", "said"), [(None, 0, "skipped: "), ("true", 1, "failed: ")])
def test_it_makes_a_benchmark_without_shared_skip_at_home_and_fail_in_ci(tmp_path, ci, code, said):
    """`make bench` is a script, not pytest: it says so and exits 0 at home, non-zero in CI."""
    probe = (
        "import pathlib, tests.benchmarks.measure as m\n"
        f"m.MAINNET_GRAPH = pathlib.Path({str(tmp_path / 'absent.json.gz')!r})\n"
        "m.require_shared()\n"
        "print('went on')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=child_env(CI=ci),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == code
    assert said in result.stdout + result.stderr and "absent.json.gz is not there" in result.stdout + result.stderr
    assert "went on" not in result.stdout
