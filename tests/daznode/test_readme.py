import re

from tests.conftest import REPO

ENV_READ = re.compile(r'env_\w+\(\s*"([A-Z][A-Z0-9_]+)"')


def test_every_environment_variable_the_settings_read_is_documented():
    read = set(ENV_READ.findall((REPO / "daznode" / "settings.py").read_text()))
    readme = (REPO / "README.md").read_text()
    assert len(read) >= 20
    undocumented = sorted(name for name in read if f"`{name}`" not in readme)
    assert undocumented == [], f"document these in README.md, Configuration: {undocumented}"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "\nmake test\n" in readme
    assert "\nmake test\n" in (REPO / ".ci" / "run").read_text()
