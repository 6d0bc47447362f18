"""Our node as LND reports it, copied into Node, Channel and ChannelActivity rows.

One read gathers everything (getinfo, listchannels, feereport, our node's edges for the full policy, listpeers,
and the forwarding history of the window), then one transaction writes it: a failed read changes nothing.
The window is whole UTC days (from the midnight `sync_window_days()` days before today's, to now), because
activity is stored in daily buckets: a read from `now - 30 days` would overwrite the oldest day's complete
bucket with the part of that day after the current time of day.
Channels the node no longer lists are marked closed, never deleted: decisions and audit rows point to them.

A policy that differs from the one stored is a change made outside Daznode. The sync does not record it (the
audit log belongs to decisions, a layer above): it returns it in the report, and the caller records it. The
caller also names the channels whose policy a write of its own has in flight or not yet reconciled: their
stored policy is left alone, for that write or for recovery to settle, never reported as someone else's change.
"""

import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from channels.conf import sync_window_days
from channels.heuristics import activity_window
from channels.models import Channel, ChannelActivity, Node, NodeMetric
from channels.selectors import latest_analysis
from daznode.actors import system_actor
from daznode.lightning import Policy
from sources.clients.errors import SourceError
from sources.clients.lnd import LndChannel, LndChannelFee, LndForward, LndInfo, LndNodeInfo, LndPeer
from sources.factory import DataSourceFactory
from sources.interface import Capability

logger = logging.getLogger(__name__)

SECONDS_PER_BLOCK = 600
BLOCK_SHIFT = 40  # a short channel id is block height << 40 | tx index << 16 | output index


@dataclass(frozen=True)
class NodeReadout:
    info: LndInfo
    channels: list[LndChannel]
    policies: dict[int, Policy]  # our side as the graph shows it, by chan_id (announced channels only)
    fees: dict[int, LndChannelFee]  # every channel's fees, by chan_id (feereport covers unannounced ones too)
    node: LndNodeInfo
    peers: list[LndPeer]
    forwards: list[LndForward]
    read_at: datetime


@dataclass(frozen=True)
class PolicyChange:
    """The node holds `after` where Daznode last knew `before`: someone changed it outside Daznode."""

    channel: Channel
    before: Policy
    after: Policy


@dataclass(frozen=True)
class SyncReport:
    source: str
    channels: int
    closed: int
    activity_rows: int
    read_at: datetime | None = None
    external_changes: tuple[PolicyChange, ...] = field(default=())


def read_node(client, *, now: datetime, window_days: int | None = None) -> NodeReadout:
    """Everything about our node; forwards from midnight UTC `window_days` (default: sync_window_days()) days
    before today's, to now."""
    forwards_from, _ = activity_window(now, window_days or sync_window_days())
    info = client.get_info()
    node = client.get_node_info(info.identity_pubkey, include_channels=True)
    policies = {}
    for edge in node.channels:
        policy = edge.policy_of(info.identity_pubkey)
        if policy is not None:
            policies[edge.channel_id] = policy
    fees = {fee.chan_id: fee for fee in client.fee_report().channel_fees}
    for chan_id, fee in fees.items():
        if chan_id in policies:  # feereport is the node's own word on fees; the graph may lag a gossip round
            base = policies[chan_id]
            policies[chan_id] = Policy(
                **{
                    **base.to_dict(),
                    "base_fee_msat": fee.base_fee_msat,
                    "fee_rate_ppm": fee.fee_rate_ppm,
                    "inbound_base_fee_msat": fee.inbound_base_fee_msat,
                    "inbound_fee_rate_ppm": fee.inbound_fee_rate_ppm,
                }
            )
    return NodeReadout(
        info=info,
        channels=client.list_channels(),
        policies=policies,
        fees=fees,
        node=node,
        peers=client.list_peers(),
        forwards=client.forwarding_history(start=forwards_from, end=now),
        read_at=now,
    )


class OtherNode(SourceError):
    """The source that answered is another node than ours: syncing it would close all our channels."""


def node_read(*, factory: DataSourceFactory | None = None, now: datetime | None = None) -> tuple[NodeReadout, str]:
    """Everything the sync needs, from the first LND source that answers, and that source's name."""
    now = now or timezone.now()
    factory = factory or DataSourceFactory(actor=system_actor("sync-channels"))
    answer = factory.call(Capability.CHANNELS, lambda client: read_node(client, now=now))
    return answer.value, answer.source.name


def sync_node(
    *,
    factory: DataSourceFactory | None = None,
    now: datetime | None = None,
    adopt_node: bool = False,
    hold_policy: Collection[int] = (),
) -> SyncReport:
    """Read and store. The report's external_changes are for the caller to record."""
    readout, source_name = node_read(factory=factory, now=now)
    return store_readout(readout, source_name=source_name, adopt_node=adopt_node, hold_policy=hold_policy)


def _opened_at(chan_id: int, *, tip: int, now: datetime) -> datetime | None:
    height = chan_id >> BLOCK_SHIFT
    if not 0 < height <= tip:
        return None
    return now - timedelta(seconds=(tip - height) * SECONDS_PER_BLOCK)


def _refuse_another_node(readout: NodeReadout, source_name: str) -> None:
    current = Node.objects.filter(is_ours=True).exclude(pubkey=readout.info.identity_pubkey).first()
    if current is not None and Channel.objects.filter(closed_at__isnull=True).exists():
        raise OtherNode(
            f"it is node {readout.info.identity_pubkey[:16]}…, but our node is {current.pubkey[:16]}… "
            f"({current.alias}) with open channels; disable one of the LND sources, or, if you moved to a new "
            f"node, run sync_channels --adopt-node",
            source=source_name,
        )


@transaction.atomic
def store_readout(
    readout: NodeReadout, *, source_name: str, adopt_node: bool = False, hold_policy: Collection[int] = ()
) -> SyncReport:
    """Write one readout. `hold_policy`: ids of channels whose stored policy a write in flight settles."""
    if not adopt_node:
        _refuse_another_node(readout, source_name)
    ours = _our_node(readout)
    peer_nodes = _peers(readout)
    seen = [lnd_channel.chan_id for lnd_channel in readout.channels]  # listed means open, announced or not
    stored = {channel.chan_id: channel for channel in Channel.objects.filter(chan_id__in=seen)}
    external_changes, new, updated = [], [], []
    for lnd_channel in readout.channels:
        known = stored.get(lnd_channel.chan_id)
        policy = readout.policies.get(lnd_channel.chan_id) or _known_policy(known, lnd_channel, readout)
        if policy is None:
            logger.warning(
                "sync: channel %s is not in the graph yet (unannounced); stored once it is", lnd_channel.chan_id
            )
            continue
        channel = known or Channel(chan_id=lnd_channel.chan_id)
        before = _values(channel) if known else {}
        held = channel.pk is not None and channel.pk in hold_policy
        change = _copy_channel(channel, lnd_channel, policy, peer_nodes[lnd_channel.remote_pubkey], readout, held)
        if known is None:
            new.append(channel)
        elif changed := {name: value for name, value in _values(channel).items() if before[name] != value}:
            updated.append((channel.pk, changed))
        if change is not None:
            external_changes.append(change)
    # Only what changed is written, and the sync time in one statement: a 500-channel node syncs in well under
    # a second, where saving every row (or bulk_update's CASE per field) took seconds on PostgreSQL.
    Channel.objects.bulk_create(new)
    for pk, changed in updated:
        Channel.objects.filter(pk=pk).update(**changed)
    Channel.objects.filter(chan_id__in=stored).update(synced_at=readout.read_at)
    closed = Channel.objects.filter(closed_at__isnull=True).exclude(chan_id__in=seen).update(closed_at=readout.read_at)
    activity_rows = _store_activity(readout)
    logger.info(
        "sync from %s: %d channels of %s, %d closed, %d activity rows",
        source_name,
        len(seen),
        ours.alias or ours.pubkey[:12],
        closed,
        activity_rows,
    )
    return SyncReport(
        source=source_name,
        channels=len(seen),
        closed=closed,
        activity_rows=activity_rows,
        read_at=readout.read_at,
        external_changes=tuple(external_changes),
    )


def _known_policy(stored: Channel | None, lnd_channel: LndChannel, readout: NodeReadout) -> Policy | None:
    """For a channel the graph does not show (private, or not announced yet): the policy we stored before, with
    today's fees from feereport; None when we never saw its time lock delta and HTLC limits."""
    if stored is None:
        return None
    fee = readout.fees.get(lnd_channel.chan_id)
    if fee is None:
        return stored.policy()
    fees = {
        "base_fee_msat": fee.base_fee_msat,
        "fee_rate_ppm": fee.fee_rate_ppm,
        "inbound_base_fee_msat": fee.inbound_base_fee_msat,
        "inbound_fee_rate_ppm": fee.inbound_fee_rate_ppm,
    }
    return Policy(**{**stored.policy().to_dict(), **fees})


def _our_node(readout: NodeReadout) -> Node:
    Node.objects.filter(is_ours=True).exclude(pubkey=readout.info.identity_pubkey).update(is_ours=False)
    node, _ = Node.objects.update_or_create(
        pubkey=readout.info.identity_pubkey, defaults={"alias": readout.info.alias[:64], "is_ours": True}
    )
    return node


def _peers(readout: NodeReadout) -> dict[str, Node]:
    flaps = {peer.pub_key: peer.flap_count for peer in readout.peers}
    pubkeys = {channel.remote_pubkey for channel in readout.channels}
    aliases = _graph_aliases(pubkeys)
    new = [Node(pubkey=pubkey, alias=aliases.get(pubkey, "")) for pubkey in pubkeys]
    Node.objects.bulk_create(new, ignore_conflicts=True)  # only the new ones are inserted
    nodes = {node.pubkey: node for node in Node.objects.filter(pubkey__in=pubkeys)}
    for pubkey, node in nodes.items():
        node.alias = aliases.get(pubkey) or node.alias
        node.flap_count = flaps.get(pubkey)
        node.updated_at = readout.read_at
    Node.objects.bulk_update(nodes.values(), ["alias", "flap_count", "updated_at"], batch_size=500)
    return nodes


def _graph_aliases(pubkeys: Collection[str]) -> dict[str, str]:
    """The aliases the latest analysed graph gossips for these nodes. The analysis fills in the aliases of the
    peers that exist when it runs; a peer the sync creates afterwards (the first cycle analyses before it syncs)
    takes its alias from here, instead of waiting for the next snapshot, hours later."""
    analysis = latest_analysis()
    if analysis is None:
        return {}
    metrics = NodeMetric.objects.filter(analysis=analysis, pubkey__in=pubkeys).exclude(alias="")
    return dict(metrics.values_list("pubkey", "alias"))


CHANNEL_FIELDS = [
    "chan_point",
    "peer",
    "capacity_sat",
    "local_balance_sat",
    "remote_balance_sat",
    "pending_htlc_count",
    "pending_outgoing_sat",
    "pending_incoming_sat",
    "active",
    "private",
    "uptime_s",
    "lifetime_s",
    "opened_at",
    "closed_at",
    "base_fee_msat",
    "fee_rate_ppm",
    "time_lock_delta",
    "min_htlc_msat",
    "max_htlc_msat",
    "inbound_base_fee_msat",
    "inbound_fee_rate_ppm",
    "policy_disabled",
]


def _values(channel: Channel) -> dict:
    return {name: getattr(channel, name) for name in CHANNEL_FIELDS}


def _copy_channel(
    channel: Channel, lnd_channel: LndChannel, policy: Policy, peer: Node, readout: NodeReadout, held: bool
) -> PolicyChange | None:
    """Copy the node's view into the row (unsaved); the change when its policy changed outside Daznode."""
    change = None
    channel.chan_point = lnd_channel.channel_point
    channel.peer = peer
    channel.capacity_sat = lnd_channel.capacity_sat
    channel.local_balance_sat = lnd_channel.local_balance_sat
    channel.remote_balance_sat = lnd_channel.remote_balance_sat
    channel.pending_htlc_count = len(lnd_channel.pending_htlcs)
    channel.pending_outgoing_sat = lnd_channel.pending_outgoing_sat
    channel.pending_incoming_sat = lnd_channel.pending_incoming_sat
    channel.active, channel.private = lnd_channel.active, lnd_channel.private
    channel.uptime_s, channel.lifetime_s = lnd_channel.uptime_s, lnd_channel.lifetime_s
    channel.opened_at = channel.opened_at or _opened_at(
        lnd_channel.chan_id, tip=readout.info.block_height, now=readout.read_at
    )
    channel.closed_at = None
    # A policy Daznode wrote after this readout was taken is newer than what the readout says, and one it is
    # writing (held) is settled by that write or by recovery.
    if not held and (channel.policy_set_at is None or channel.policy_set_at <= readout.read_at):
        if channel.pk is not None and not channel.policy().same_terms(policy):
            change = PolicyChange(channel, channel.policy(), policy)
        channel.set_policy(policy)
    channel.synced_at = readout.read_at
    return change


def _day(timestamp_ns: int) -> datetime:
    moment = datetime.fromtimestamp(timestamp_ns / 1e9, tz=UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _store_activity(readout: NodeReadout) -> int:
    """Daily aggregates of the window, recomputed from the forwards LND reports (so a rerun is idempotent)."""
    ids = dict(
        Channel.objects.filter(
            chan_id__in={f.chan_id_in for f in readout.forwards} | {f.chan_id_out for f in readout.forwards}
        ).values_list("chan_id", "id")
    )
    buckets: dict[tuple[int, datetime], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for forward in readout.forwards:
        day = _day(forward.timestamp_ns)
        if forward.chan_id_in in ids:
            bucket = buckets[(ids[forward.chan_id_in], day)]
            bucket["forwards_in_count"] += 1
            bucket["amount_in_msat"] += forward.amt_in_msat
        if forward.chan_id_out in ids:
            bucket = buckets[(ids[forward.chan_id_out], day)]
            bucket["forwards_out_count"] += 1
            bucket["amount_out_msat"] += forward.amt_out_msat
            bucket["fees_earned_msat"] += forward.fee_msat
    rows = [
        ChannelActivity(channel_id=channel_id, period_start=day, period_end=day + timedelta(days=1), **counts)
        for (channel_id, day), counts in buckets.items()
    ]
    ChannelActivity.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["channel", "period_start"],
        update_fields=[
            "period_end",
            "forwards_in_count",
            "forwards_out_count",
            "amount_in_msat",
            "amount_out_msat",
            "fees_earned_msat",
        ],
    )
    return len(rows)
