"""Small describegraph documents for tests, built here (never copied from ../shared)."""

import copy


def pubkey(i: int) -> str:
    return f"02{i:064x}"


def policy(*, rate_ppm: int = 100, base_msat: int = 1000, disabled: bool = False) -> dict:
    return {
        "time_lock_delta": 80,
        "min_htlc": "1000",
        "fee_base_msat": str(base_msat),
        "fee_rate_milli_msat": str(rate_ppm),
        "disabled": disabled,
        "max_htlc_msat": "990000000",
        "last_update": 1770076800,
        "custom_records": {},
        "inbound_fee_base_msat": 0,
        "inbound_fee_rate_milli_msat": 0,
    }


def edge(
    i: int, a: int, b: int, *, capacity_sat: int = 1_000_000, first: dict | None = None, second: dict | None = None
) -> dict:
    return {
        "channel_id": str((800_000 + i) << 40),
        "chan_point": f"{i:064x}:0",
        "last_update": 1770076800,
        "node1_pub": pubkey(a),
        "node2_pub": pubkey(b),
        "capacity": str(capacity_sat),
        "node1_policy": first,
        "node2_policy": second,
        "custom_records": {},
    }


def star_graph(leaves: int = 4) -> dict:
    """A hub (node 0) with `leaves` peers, one channel each; one direction has no policy yet (null)."""
    nodes = [
        {
            "pub_key": pubkey(i),
            "alias": f"node-{i}",
            "last_update": 1770076800,
            "addresses": [],
            "color": "#000000",
            "features": {},
            "custom_records": {},
        }
        for i in range(leaves + 1)
    ]
    edges = [
        edge(i, 0, i, first=policy(rate_ppm=10 * i), second=policy() if i > 1 else None) for i in range(1, leaves + 1)
    ]
    return {"nodes": nodes, "edges": edges}


def broken(graph: dict, path: str, value) -> dict:
    """A deep copy of graph with the field at `path` (such as "edges.1.capacity") set to value (or removed)."""
    result = copy.deepcopy(graph)
    *parents, last = path.split(".")
    target = result
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is KeyError:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return result
