"""LNbits' own environment for the tests: built from requirements/lnbits.txt (by `make install`), checked without
leaving anything behind, rebuilt when the requirements change."""

import pytest

from tests.conftest import REPO, skip_or_fail
from tests.sources import lnbits_server
from tests.sources.lnbits_server import LnbitsUnavailable, ensure_lnbits_venv


@pytest.fixture(scope="module")
def lnbits_venv():
    try:
        return ensure_lnbits_venv(print)
    except LnbitsUnavailable as exc:
        skip_or_fail(f"LNbits could not be set up: {exc}")


def test_it_uses_the_environment_make_install_builds_from_the_pinned_requirements(lnbits_venv):
    assert lnbits_venv == REPO / ".venv-lnbits"
    assert lnbits_server.INSTALLED_REQUIREMENTS.read_text() == (REPO / "requirements" / "lnbits.txt").read_text()
    assert "lnbits==1.6.2" in lnbits_server.REQUIREMENTS.read_text().splitlines()


def test_it_checks_the_environment_without_writing_into_the_working_directory(lnbits_venv, tmp_path, monkeypatch):
    """Importing LNbits writes `<data folder>/.lnbits_auth_key`, ./data by default: it once landed in the
    repository's ./data, which is Daznode's runtime data folder."""
    monkeypatch.chdir(tmp_path)
    assert lnbits_server._venv_works()
    assert list(tmp_path.iterdir()) == []


def test_it_rebuilds_an_environment_built_from_other_requirements(lnbits_venv, tmp_path, monkeypatch):
    older = tmp_path / "requirements.txt"
    older.write_text("lnbits==1.5.0\n")
    monkeypatch.setattr(lnbits_server, "INSTALLED_REQUIREMENTS", older)
    assert not lnbits_server._venv_works()
