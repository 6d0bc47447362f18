"""A synthetic Lightning graph in LND's describegraph shape, deterministic from a seed.

It imitates what the mainnet graph looks like to a fee manager (see ../shared/graph/README.md): growth by
preferential attachment gives a few hubs and a heavy tail, about half the nodes are leaves with one channel,
some peers share several channels, capacities are log-normal, and policies cluster on the values operators
really pick (base fee 0, 1 or 1000 msat, fee rates around 100 ppm, cltv deltas 18 to 144). About a third of
the directions are disabled with zeroed values, as gossip snapshots show them, and a few are null, as LND
writes a direction it never received an update for.
"""

import hashlib
import math
import random

from cryptography.hazmat.primitives.asymmetric import ec

SNAPSHOT_TIME_S = 1_770_076_800  # 2026-02-03, the date of the mainnet snapshot next to this project
FIRST_BLOCK, LAST_BLOCK = 505_000, 933_000  # from the first mainnet channels to early 2026
MIN_CAPACITY_SAT, MAX_CAPACITY_SAT = 20_000, 1_000_000_000
MEDIAN_CAPACITY_SAT = 3_000_000
SEED_HUBS = 6  # the first nodes form a clique, the core later nodes attach to
LEAF_SHARE = 0.42  # nodes that open one channel and are never chosen as a peer
# Chance that a newcomer also triggers a second channel between a recent pair: about 6% of channels, as on mainnet.
PARALLEL_CHANNEL_CHANCE = 0.15
DISABLED_SHARE = 0.32
NULL_POLICY_SHARE = 0.02
CLTV_DELTAS = (18, 34, 40, 80, 144)
CLTV_WEIGHTS = (0.05, 0.12, 0.22, 0.30, 0.31)
COMMON_BASE_FEES_MSAT = (0, 1, 1000)
MAX_FEE_RATE_PPM = 5000
MEDIAN_FEE_RATE_PPM = 120  # before the 8% of 0 and 1 ppm rates, which bring the median near 100
ALIAS_WORDS = (
    "amber", "bolt", "cedar", "delta", "ember", "falcon", "granite", "harbor", "iris", "juniper", "kestrel",
    "lumen", "maple", "nova", "onyx", "pine", "quartz", "raven", "sable", "tundra", "umber", "vortex", "willow",
    "xenon", "yarrow", "zephyr",
)  # fmt: skip
ALIAS_SUFFIXES = ("node", "ln", "lightning", "routing", "sats", "relay", "hub", "pay")
# What a typical LND node announces: data-loss-protect, tlv onion, static remote key, payment addr, mpp, anchors.
LND_FEATURES = {
    "0": {"name": "data-loss-protect", "is_required": True, "is_known": True},
    "9": {"name": "tlv-onion", "is_required": False, "is_known": True},
    "12": {"name": "static-remote-key", "is_required": True, "is_known": True},
    "14": {"name": "payment-addr", "is_required": True, "is_known": True},
    "17": {"name": "multi-path-payments", "is_required": False, "is_known": True},
    "23": {"name": "anchors-zero-fee-htlc-tx", "is_required": False, "is_known": True},
}


def synthetic_graph(*, seed: int, node_count: int = 2000) -> dict:
    """A describegraph dict ({"nodes": [...], "edges": [...]}) with LND's exact fields and JSON types."""
    if node_count < SEED_HUBS + 2:
        raise ValueError(f"node_count must be at least {SEED_HUBS + 2}")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not cryptography
    pubkeys = [_pubkey(seed, index) for index in range(node_count)]
    pairs = _channel_pairs(rng, node_count)
    nodes = [_node(rng, pubkey, index) for index, pubkey in enumerate(pubkeys)]
    profiles = [_fee_profile(rng) for _ in range(node_count)]
    blocks = sorted(rng.randint(FIRST_BLOCK, LAST_BLOCK) for _ in pairs)
    edges = [
        _edge(rng, seed, index, pubkeys[a], pubkeys[b], profiles[a], profiles[b], blocks[index])
        for index, (a, b) in enumerate(pairs)
    ]
    return {"nodes": nodes, "edges": edges}


def _pubkey(seed: int, index: int) -> str:
    """A valid compressed secp256k1 point: hash until the hash is the x of a point (about one try in two).

    Deriving a private key would be ten times slower, and nothing here signs.
    """
    counter = 0
    while True:
        digest = hashlib.sha256(f"daznode-simulator:{seed}:node:{index}:{counter}".encode()).digest()
        encoded = (b"\x02" if digest[-1] % 2 == 0 else b"\x03") + digest
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), encoded)
        except ValueError:
            counter += 1
            continue
        return encoded.hex()


def _channel_pairs(rng: random.Random, node_count: int) -> list[tuple[int, int]]:
    """Who opened a channel with whom: a seed clique, then each newcomer attaches preferentially by degree."""
    pairs = [(a, b) for a in range(SEED_HUBS) for b in range(a + 1, SEED_HUBS)]
    # One entry per channel end plus one per routing node: drawing from it is drawing proportionally to degree + 1.
    attachable = [end for pair in pairs for end in pair] + list(range(SEED_HUBS))
    for newcomer in range(SEED_HUBS, node_count):
        is_leaf = rng.random() < LEAF_SHARE
        for peer in _pick_peers(rng, attachable, 1 if is_leaf else _routing_channel_count(rng, newcomer)):
            pairs.append((newcomer, peer))
            attachable.append(peer)
            if not is_leaf:
                attachable.append(newcomer)
        if not is_leaf:
            attachable.append(newcomer)
        if pairs and rng.random() < PARALLEL_CHANNEL_CHANCE:
            pairs.append(rng.choice(pairs[-20:]))  # a second channel to a recent peer
    return pairs


def _routing_channel_count(rng: random.Random, newcomer: int) -> int:
    """Heavy-tailed (Pareto) channel count of a routing node, capped by how many nodes exist so far."""
    return max(1, min(int(rng.paretovariate(1.3)), newcomer // 2, 150))


def _pick_peers(rng: random.Random, attachable: list[int], count: int) -> set[int]:
    peers: set[int] = set()
    for _ in range(count * 4):  # bounded: a tiny graph may not have `count` distinct peers
        if len(peers) == count:
            break
        peers.add(rng.choice(attachable))
    return peers


def _node(rng: random.Random, pubkey: str, index: int) -> dict:
    has_address = rng.random() < 0.6
    return {
        "last_update": SNAPSHOT_TIME_S - rng.randint(0, 14 * 86_400),
        "pub_key": pubkey,
        "alias": f"{ALIAS_WORDS[index % len(ALIAS_WORDS)]}-{rng.choice(ALIAS_SUFFIXES)}-{index}",
        "addresses": [_address(rng)] if has_address else [],
        "color": f"#{rng.randrange(0x1000000):06x}",
        "features": {bit: dict(feature) for bit, feature in LND_FEATURES.items()} if has_address else {},
        "custom_records": {},
    }


def _address(rng: random.Random) -> dict:
    if rng.random() < 0.5:
        onion = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(56))
        return {"network": "tcp", "addr": f"{onion}.onion:9735"}
    return {
        "network": "tcp",
        "addr": f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}:9735",
    }


def _fee_profile(rng: random.Random) -> dict:
    """How one operator sets fees: a usual base fee and cltv, rates around its own centre."""
    return {
        "base_fee_msat": _base_fee_msat(rng),
        "fee_rate_ppm": math.exp(rng.gauss(math.log(MEDIAN_FEE_RATE_PPM), 1.5)),
        "cltv": rng.choices(CLTV_DELTAS, weights=CLTV_WEIGHTS)[0],
        "offline": rng.random() < 0.15,  # a node that is often offline has most of its directions disabled
    }


def _edge(
    rng: random.Random, seed: int, index: int, pub_a: str, pub_b: str, profile_a: dict, profile_b: dict, block: int
) -> dict:
    # LND orders a channel's ends by their serialized pubkeys: node1 is the lower one.
    (node1, profile1), (node2, profile2) = sorted(((pub_a, profile_a), (pub_b, profile_b)), key=lambda end: end[0])
    capacity_sat = _capacity_sat(rng)
    output_index = rng.choice((0, 0, 0, 1, 1, 2))
    policy1, policy2 = _policy(rng, profile1, capacity_sat), _policy(rng, profile2, capacity_sat)
    updates = [policy["last_update"] for policy in (policy1, policy2) if policy]
    return {
        "channel_id": str(block << 40 | rng.randint(1, 3000) << 16 | output_index),
        "chan_point": f"{_txid(seed, index)}:{output_index}",
        "last_update": max(updates, default=0),
        "node1_pub": node1,
        "node2_pub": node2,
        "capacity": str(capacity_sat),
        "node1_policy": policy1,
        "node2_policy": policy2,
        "custom_records": {},
        "auth_proof": None,
    }


def _txid(seed: int, index: int) -> str:
    return hashlib.sha256(f"daznode-simulator:{seed}:funding:{index}".encode()).hexdigest()


def _capacity_sat(rng: random.Random) -> int:
    capacity_sat = math.exp(rng.gauss(math.log(MEDIAN_CAPACITY_SAT), 1.4))
    if rng.random() < 0.5:  # operators like round sizes: 1M, 2M, 5M, 10M sat
        capacity_sat = round(capacity_sat, -int(math.log10(max(capacity_sat, 10))))
    return int(min(max(capacity_sat, MIN_CAPACITY_SAT), MAX_CAPACITY_SAT))


def _policy(rng: random.Random, profile: dict, capacity_sat: int) -> dict | None:
    draw = rng.random()
    if draw < NULL_POLICY_SHARE:
        return None
    disabled_share = 0.85 if profile["offline"] else (DISABLED_SHARE - 0.15 * 0.85) / 0.85
    if draw < NULL_POLICY_SHARE + disabled_share:
        return _routing_policy(
            rng, cltv=0, min_htlc_msat=0, base_fee_msat=0, fee_rate_ppm=0, max_htlc_msat=0, disabled=True
        )
    return _routing_policy(
        rng,
        cltv=profile["cltv"],
        min_htlc_msat=rng.choices((1000, 1, 0), weights=(0.85, 0.12, 0.03))[0],
        # Half the operators keep one base fee everywhere: hubs would otherwise pull the median to their value.
        base_fee_msat=profile["base_fee_msat"] if rng.random() < 0.5 else _base_fee_msat(rng),
        fee_rate_ppm=_fee_rate_ppm(rng, profile["fee_rate_ppm"]),
        max_htlc_msat=capacity_sat * 990,  # LND's default: 99% of the capacity
        disabled=False,
    )


def _base_fee_msat(rng: random.Random) -> int:
    """0, 1 and 1000 msat are the usual choices; the rest spread log-uniformly, which puts the median near 30."""
    base_fee_msat = rng.choices((*COMMON_BASE_FEES_MSAT, -1), weights=(0.33, 0.06, 0.30, 0.31))[0]
    if base_fee_msat < 0:
        return int(math.exp(rng.uniform(math.log(2), math.log(5000))))
    return base_fee_msat


def _fee_rate_ppm(rng: random.Random, centre_ppm: float) -> int:
    if rng.random() < 0.08:
        return rng.choice((0, 1))
    return min(MAX_FEE_RATE_PPM, max(0, round(centre_ppm * math.exp(rng.gauss(0, 0.5)))))


def _routing_policy(
    rng: random.Random,
    *,
    cltv: int,
    min_htlc_msat: int,
    base_fee_msat: int,
    fee_rate_ppm: int,
    max_htlc_msat: int,
    disabled: bool,
) -> dict:
    inbound_discount = not disabled and rng.random() < 0.03
    return {
        "time_lock_delta": cltv,
        "min_htlc": str(min_htlc_msat),
        "fee_base_msat": str(base_fee_msat),
        "fee_rate_milli_msat": str(fee_rate_ppm),
        "disabled": disabled,
        "max_htlc_msat": str(max_htlc_msat),
        "last_update": SNAPSHOT_TIME_S - rng.randint(0, 30 * 86_400),
        "custom_records": {},
        "inbound_fee_base_msat": 0,
        "inbound_fee_rate_milli_msat": -min(fee_rate_ppm, rng.choice((10, 25, 50))) if inbound_discount else 0,
    }
