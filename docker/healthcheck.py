"""The container healthcheck, one per role: `python docker/healthcheck.py web|worker|beat`. Exit 0 when healthy.

Each check fails when the role is broken, not merely when its process is gone: web must answer /healthz (which
reaches the database), the worker must answer a ping through the broker, beat's loop must have ticked recently.
"""

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daznode.heartbeat import heartbeat_is_fresh, heartbeat_path

DEFAULT_BIND = "0.0.0.0:8000"
TIMEOUT_SECONDS = 10
# A name every ALLOWED_HOSTS accepts for /healthz (daznode.middleware.HealthzMiddleware answers any host).
PROBE_HOST = "localhost"
# gunicorn listening on every interface is reached on the loopback.
WILDCARD_HOSTS = ("0.0.0.0", "", "[::]")  # noqa: S104 - compared with, never bound


def probe_url(*, bind: str) -> str:
    host, _, port = bind.rpartition(":")
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    return f"http://{host}:{port}/healthz"


def web_is_healthy() -> bool:
    # Always http:// built above, never a scheme taken from outside.
    request = urllib.request.Request(probe_url(bind=os.environ.get("DAZNODE_BIND", DEFAULT_BIND)))  # noqa: S310
    request.add_header("Host", PROBE_HOST)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def worker_is_healthy() -> bool:
    # The node name the worker took: Celery's default, celery@ and this host's name.
    node = f"celery@{os.uname().nodename}"
    command = ["celery", "-A", "daznode", "inspect", "ping", "-d", node, "--timeout", str(TIMEOUT_SECONDS)]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0  # noqa: S603 - fixed argv


def beat_is_healthy() -> bool:
    return heartbeat_is_fresh(path=heartbeat_path(data_dir=Path(os.environ.get("DAZNODE_DATA_DIR", "/data"))))


CHECKS = {"web": web_is_healthy, "worker": worker_is_healthy, "beat": beat_is_healthy}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CHECKS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(CHECKS)}")
    sys.exit(0 if CHECKS[sys.argv[1]]() else 1)
