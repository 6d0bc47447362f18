"""Our node's state written as LND's REST proxy writes it: snake_case keys, every field present, int64 and
uint64 as strings, int32 and uint32 as numbers, bytes as base64, unset sub-messages as null."""

import base64

from sources.simulator.ledger import (
    DUST_LIMIT_SAT,
    MAX_ACCEPTED_HTLCS,
    MIN_HTLC_PARAMETER_MSAT,
    NS_PER_S,
    ForwardingEvent,
    OurChannel,
    PendingHtlc,
    max_pending_amount_msat,
)

PPM = 1_000_000
MSAT_PER_SAT = 1000
LND_VERSION = "0.21.2-beta commit=v0.21.2-beta"
LND_COMMIT = "29257ecc8892af0c882fa627b66a556190c84fd9"
COMMITMENT_TYPE = "ANCHORS"
CHAN_STATUS_DEFAULT = "ChanStatusDefault"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def amount(sat: int) -> dict:
    return {"sat": str(sat), "msat": str(sat * MSAT_PER_SAT)}


def channel(channel: OurChannel, *, peer_alias: str) -> dict:
    unsettled_sat = sum(htlc.amount_sat for htlc in channel.pending_htlcs)
    return {
        "active": channel.active,
        "remote_pubkey": channel.remote_pubkey,
        "channel_point": channel.chan_point,
        "chan_id": channel.chan_id,
        "capacity": str(channel.capacity_sat),
        "local_balance": str(channel.local_balance_sat),
        "remote_balance": str(channel.remote_balance_sat),
        "commit_fee": str(channel.commit_fee_sat),
        "commit_weight": str(channel.commit_weight),
        "fee_per_kw": str(channel.fee_per_kw),
        "unsettled_balance": str(unsettled_sat),
        "total_satoshis_sent": str(channel.total_sent_sat),
        "total_satoshis_received": str(channel.total_received_sat),
        "num_updates": str(channel.num_updates),
        "pending_htlcs": [htlc(pending) for pending in channel.pending_htlcs],
        "csv_delay": channel.csv_delay,
        "private": False,
        "initiator": channel.initiator,
        "chan_status_flags": CHAN_STATUS_DEFAULT,
        "local_chan_reserve_sat": str(channel.reserve_sat),
        "remote_chan_reserve_sat": str(channel.reserve_sat),
        "static_remote_key": True,
        "commitment_type": COMMITMENT_TYPE,
        "lifetime": str(channel.lifetime_s),
        "uptime": str(channel.uptime_s),
        "close_address": "",
        "push_amount_sat": "0",
        "thaw_height": 0,
        "local_constraints": constraints(channel),
        "remote_constraints": constraints(channel),
        "alias_scids": [],
        "zero_conf": False,
        "zero_conf_confirmed_scid": "0",
        "peer_alias": peer_alias,
        "peer_scid_alias": "0",
        "memo": "",
        "custom_channel_data": "",
    }


def constraints(channel: OurChannel) -> dict:
    return {
        "csv_delay": channel.csv_delay,
        "chan_reserve_sat": str(channel.reserve_sat),
        "dust_limit_sat": str(DUST_LIMIT_SAT),
        "max_pending_amt_msat": str(max_pending_amount_msat(channel)),
        "min_htlc_msat": str(MIN_HTLC_PARAMETER_MSAT),
        "max_accepted_htlcs": MAX_ACCEPTED_HTLCS,
    }


def htlc(pending: PendingHtlc) -> dict:
    return {
        "incoming": pending.incoming,
        "amount": str(pending.amount_sat),
        "hash_lock": b64(pending.hash_lock),
        "expiration_height": pending.expiration_height,
        "htlc_index": str(pending.htlc_index),
        "forwarding_channel": pending.forwarding_channel,
        "forwarding_htlc_index": str(pending.forwarding_htlc_index),
        "locked_in": True,
    }


def fee_report_entry(channel: OurChannel, policy: dict) -> dict:
    fee_rate_ppm = int(policy["fee_rate_milli_msat"])
    return {
        "chan_id": channel.chan_id,
        "channel_point": channel.chan_point,
        "base_fee_msat": policy["fee_base_msat"],
        "fee_per_mil": str(fee_rate_ppm),
        "fee_rate": fee_rate_ppm / PPM,
        "inbound_base_fee_msat": policy["inbound_fee_base_msat"],
        "inbound_fee_per_mil": policy["inbound_fee_rate_milli_msat"],
    }


def forwarding_event(event: ForwardingEvent, *, alias_in: str, alias_out: str) -> dict:
    return {
        "timestamp": str(event.timestamp_ns // NS_PER_S),
        "chan_id_in": event.chan_id_in,
        "chan_id_out": event.chan_id_out,
        "amt_in": str(event.amt_in_msat // MSAT_PER_SAT),
        "amt_out": str(event.amt_out_msat // MSAT_PER_SAT),
        "fee": str(event.fee_msat // MSAT_PER_SAT),
        "fee_msat": str(event.fee_msat),
        "amt_in_msat": str(event.amt_in_msat),
        "amt_out_msat": str(event.amt_out_msat),
        "timestamp_ns": str(event.timestamp_ns),
        "peer_alias_in": alias_in,
        "peer_alias_out": alias_out,
        "incoming_htlc_id": str(event.incoming_htlc_id),
        "outgoing_htlc_id": str(event.outgoing_htlc_id),
    }


def peer(
    *, pubkey: str, address: str, sent_sat: int, received_sat: int, inbound: bool, flap_count: int, features: dict
) -> dict:
    return {
        "pub_key": pubkey,
        "address": address,
        "bytes_sent": str(sent_sat // 50 + 4096),  # gossip and commitment traffic, loosely tied to activity
        "bytes_recv": str(received_sat // 50 + 8192),
        "sat_sent": str(sent_sat),
        "sat_recv": str(received_sat),
        "inbound": inbound,
        "ping_time": str(20_000 + int(pubkey[-4:], 16) % 200_000),  # microseconds
        "sync_type": "ACTIVE_SYNC" if int(pubkey[-1], 16) < 3 else "PASSIVE_SYNC",
        "features": features,
        "errors": [],
        "flap_count": flap_count,
        "last_flap_ns": "0",
        "last_ping_payload": "",
    }


def failed_update(chan_point: str, *, reason: str, error: str) -> dict:
    """LND's FailedUpdate: txid_bytes is the hash in internal byte order, the reverse of the hex string."""
    txid_hex, _, output_index = chan_point.partition(":")
    return {
        "outpoint": {
            "txid_bytes": b64(bytes.fromhex(txid_hex)[::-1]),
            "txid_str": txid_hex,
            "output_index": int(output_index),
        },
        "reason": reason,
        "update_error": error,
    }


def rpc_status(code: int, message: str) -> dict:
    return {"code": code, "message": message, "details": []}
