"""Run a piece of Daznode in a fresh process and report its wall time and peak RSS.

A benchmark is never a timed test: it prints figures (and compares them with the target it names) so that
`make bench` shows them, and it runs only there, never in `make test`.
"""

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

from tests.conftest import REPO, SHARED, skipping_forbidden

MAINNET_GRAPH = SHARED / "graph" / "mainnet-2026-02-03.describegraph.json.gz"

# Prepended to every measured snippet: Django set up, then `timed()` around the part being measured.
PRELUDE = """
import json, resource, time
import django
django.setup()
_results = {}
class timed:
    def __init__(self, label): self.label = label
    def __enter__(self): self.started = time.perf_counter()
    def __exit__(self, *exc): _results[self.label] = time.perf_counter() - self.started
"""
EPILOGUE = """
_results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("BENCHMARK-RESULT " + json.dumps(_results))
"""


@dataclass(frozen=True)
class Measurement:
    seconds: dict[str, float]
    peak_rss_mb: float


def measure(snippet: str, *, env: dict[str, str]) -> Measurement:
    code = PRELUDE + textwrap.dedent(snippet) + EPILOGUE
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{result.stderr[-3000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("BENCHMARK-RESULT "))
    values = json.loads(line.removeprefix("BENCHMARK-RESULT "))
    peak = values.pop("peak_rss_mb")
    return Measurement(seconds=values, peak_rss_mb=peak)


def report(label: str, seconds: float, peak_rss_mb: float, *, target_s: float, target_mb: float | None) -> bool:
    ok = seconds <= target_s and (target_mb is None or peak_rss_mb <= target_mb)
    memory = f", target <= {target_mb:.0f} MB" if target_mb is not None else ""
    print(
        f"{label:<55} {seconds:7.3f} s  peak RSS {peak_rss_mb:6.0f} MB   "
        f"(target <= {target_s:g} s{memory})  {'OK' if ok else 'OVER TARGET'}"
    )
    return ok


def require_shared() -> None:
    """As the tests' `require_shared`: a clone without ../shared skips, CI fails instead of passing silently."""
    if MAINNET_GRAPH.exists():
        return
    message = f"{MAINNET_GRAPH} is not there (../shared is absent in this clone)"
    if skipping_forbidden():
        sys.exit(f"failed: {message}; CI forbids skipping (CI=true or DAZNODE_TEST_REQUIRE_SERVICES=1)")
    print(f"skipped: {message}")
    sys.exit(0)
