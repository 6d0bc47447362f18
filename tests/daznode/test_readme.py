import re

from daznode.lnd_permissions import lnd_bake_command
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


def test_the_readme_bakes_the_lnd_macaroon_from_the_permission_table():
    # The README's lines are rendered from daznode/lnd_permissions.py: a permission added there must reach the docs.
    readme = (REPO / "README.md").read_text()
    for write in (False, True):
        line = lnd_bake_command(write=write)
        assert f"\n{line}\n" in readme, f"README.md must show this line on its own: {line}"


def test_the_readme_has_no_placeholder_left_and_every_image_it_shows_exists():
    readme = (REPO / "README.md").read_text()
    # A token alone on its line, as the sections were drafted (CHART_FIGURES), not a command such as DATABASE_URL=...
    placeholders = re.findall(r"^[A-Z][A-Z0-9]*_[A-Z0-9_]+$", readme, flags=re.MULTILINE)
    assert placeholders == [], f"README.md holds placeholders: {placeholders}"
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert images, "the Dashboard section shows screenshots"
    assert [image for image in images if not (REPO / image).is_file()] == []
