"""Beat's heartbeat: a file it touches on every scheduler tick, whose age the container's healthcheck reads.

Plain Python, no Django: the healthcheck (docker/healthcheck.py) runs it every few seconds and must stay cheap.
"""

import os
import time
from pathlib import Path

HEARTBEAT_FILE_NAME = "beat-heartbeat"
# Beat ticks at least every 5 s (django-celery-beat's DatabaseScheduler); a minute without one means it is stuck.
HEARTBEAT_MAX_AGE_SECONDS = 60


def heartbeat_path(*, data_dir: Path) -> Path:
    return data_dir / HEARTBEAT_FILE_NAME


def heartbeat_write(*, path: Path) -> None:
    path.touch()
    os.utime(path)


def heartbeat_is_fresh(*, path: Path, max_age_seconds: float = HEARTBEAT_MAX_AGE_SECONDS) -> bool:
    try:
        age_seconds = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age_seconds <= max_age_seconds
