"""Real servers for the source clients' tests."""

import sys
from collections.abc import Iterator

import pytest

from tests.conftest import skip_or_fail
from tests.sources.lnbits_server import (
    LNBITS_VERSION,
    LnbitsServer,
    LnbitsUnavailable,
    ensure_lnbits_venv,
    start_lnbits,
)


def _printer(config: pytest.Config):
    """Progress on the terminal as it happens, past pytest's capture: the first install takes a while."""
    capture = config.pluginmanager.getplugin("capturemanager")

    def progress(message: str) -> None:
        with capture.global_and_fixture_disabled():
            sys.stderr.write(f"\n{message}\n")
            sys.stderr.flush()

    return progress


@pytest.fixture(scope="session")
def lnbits_server(request: pytest.FixtureRequest) -> Iterator[LnbitsServer]:
    """LNbits with FakeWallet on loopback for the whole session; `create_wallet()` gives a fresh wallet."""
    progress = _printer(request.config)
    try:
        server = start_lnbits(ensure_lnbits_venv(progress), progress=progress)
    except LnbitsUnavailable as exc:
        problem = f"LNbits {LNBITS_VERSION} could not be set up: {exc}"
    else:
        problem = ""
    if problem:  # outside the except block, so that the report shows the reason once, without a traceback
        skip_or_fail(problem)
    try:
        yield server
    finally:
        server.stop()
