"""What the Dockerfile runs at build time, run here without Docker: a build step that fails is a broken image."""

import json
import os
import subprocess

import pytest

from tests.conftest import REPO, VENV_BIN

SECRET_VARIABLES = ("SECRET_KEY", "SECRET_KEY_FILE", "DAZNODE_VAULT_KEYS", "DAZNODE_VAULT_KEYS_FILE")


@pytest.mark.slow
def test_it_collects_static_files_with_the_prod_manifest_and_no_secrets_given(tmp_path):
    # As in `docker build`: no secret exists yet, and prod settings are needed for the hashed manifest.
    env = {key: value for key, value in os.environ.items() if key not in SECRET_VARIABLES}
    env |= {
        "PATH": f"{VENV_BIN}:{env['PATH']}",
        "DAZNODE_STATIC_ROOT": str(tmp_path / "static"),
        "DJANGO_SETTINGS_MODULE": "daznode.settings",
    }
    result = subprocess.run(
        ["sh", "docker/build_static.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]
    assert hashed != "admin/css/base.css"
    assert (tmp_path / "static" / hashed).exists()
