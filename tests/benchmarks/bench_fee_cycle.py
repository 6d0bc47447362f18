"""Issue target for the decisions: a full dry-run fee cycle for a node with 500 channels in <= 2 s (graph
analytics excluded).

Our node is the mainnet node whose channel count is nearest 500, served by the LND simulator in its own
process over loopback, so the figures are Daznode's alone. The cycle is what the beat task runs: sync the
node (channels, policies, peers, 30 days of forwards), score every channel, decide, validate, store the
decisions and their audit rows. It runs once untimed first (the first sync creates the rows), then timed, with
every channel row changed in between as between two real syncs.
Uses DATABASE_URL and REDIS_URL when set, otherwise SQLite and the file cache in a temporary data directory.

    .venv/bin/python -m tests.benchmarks.bench_fee_cycle
"""

import os
import subprocess
import sys

from tests.benchmarks.bench_graph_cache import migrated_environment, start_simulator
from tests.benchmarks.measure import MAINNET_GRAPH, measure, report, require_shared

TARGET_CHANNELS = 500
TARGET_S = 2.0

CYCLE = """
from auth_vault.services import secret_create
from decisions.cycle import fee_cycle
from decisions.models import Decision
from sources.models import Source
macaroon = secret_create(name="bench-macaroon", kind="macaroon", value=open({macaroon!r}, "rb").read(), actor="bench")
Source.objects.create(name="bench-lnd", kind="lnd", url={url!r}, credential=macaroon)
warm = fee_cycle(mode="dry_run")
assert not warm.error, warm.error
# On a real node uptime and lifetime grow between two syncs, so every row is rewritten: do the same here.
from channels.models import Channel
Channel.objects.update(uptime_s=0, lifetime_s=0)
with timed("cycle"):
    report = fee_cycle(mode="dry_run")
assert not report.error, report.error
with timed("decide"):
    decide_only = fee_cycle(mode="dry_run", sync=False)
print("channels", len(report.decisions), "decisions", dict(report.cycle.summary["decisions"]))
"""


NODE_WITH_ABOUT = """
import gzip, json, sys
from collections import Counter
with gzip.open(sys.argv[1], "rt") as handle:
    edges = json.load(handle)["edges"]
degree = Counter(pub for edge in edges for pub in (edge["node1_pub"], edge["node2_pub"]))
pubkey, count = min(degree.items(), key=lambda item: (abs(item[1] - int(sys.argv[2])), item[0]))
print(pubkey, count)
"""


def node_with_about(channel_count: int) -> tuple[str, int]:
    """In a process of its own: Linux keeps a process's peak RSS across exec, so loading the graph here would
    show up in the measured child's figure."""
    found = subprocess.run(
        [sys.executable, "-c", NODE_WITH_ABOUT, str(MAINNET_GRAPH), str(channel_count)],
        capture_output=True,
        text=True,
        check=True,
    )
    pubkey, count = found.stdout.split()
    return pubkey, int(count)


def main() -> int:
    require_shared()
    pubkey, count = node_with_about(TARGET_CHANNELS)
    with migrated_environment() as (env, data_dir):
        simulator, url, macaroon = start_simulator(env, data_dir, extra_args=["--pubkey", pubkey])
        try:
            cycle = measure(CYCLE.format(macaroon=str(macaroon), url=url), env=env)
        finally:
            simulator.terminate()
            simulator.wait()
    backend = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    cache_name = "Redis" if os.environ.get("REDIS_URL") else "file cache"
    print(f"Fee cycle, dry run, a mainnet node with {count} channels, {backend} + {cache_name}:")
    ok = report(
        "sync + score + decide + validate + store (dry run)",
        cycle.seconds["cycle"],
        cycle.peak_rss_mb,
        target_s=TARGET_S,
        target_mb=None,
    )
    report(
        "of which decide + validate + store",
        cycle.seconds["decide"],
        cycle.peak_rss_mb,
        target_s=TARGET_S,
        target_mb=None,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
