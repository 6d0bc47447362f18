"""The project's settings, unchanged, except that a test never writes into the runtime data folder `./data`, even
when run as a bare `pytest` rather than `make test` (which sets DAZNODE_DATA_DIR itself)."""

import os
from pathlib import Path

os.environ.setdefault("DAZNODE_DATA_DIR", str(Path(__file__).resolve().parent.parent / ".test-data"))

from daznode.settings import *  # noqa: F403
