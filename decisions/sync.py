"""Syncing our node from the decisions side: the sync (channels.sync) reports the policies changed outside
Daznode, and this records them in the audit log, in the transaction that stores the readout.

Channels with an unsettled policy write (decisions.policy_change journals every write before sending it) or a
decision being applied or rolled back are held: their policy is Daznode's own write in flight, or one that was
interrupted and that recovery (decisions.recovery) settles by reading the node. Recording it as a change by the
node would put the channel in its cooldown for a change Daznode made.
"""

from datetime import datetime

from django.db import transaction

from channels.sync import SyncReport, node_read, store_readout
from decisions.audit import record_external_changes
from decisions.models import Decision
from decisions.policy_change import unsettled_write_channels
from sources.factory import DataSourceFactory


def writes_in_flight() -> set[int]:
    """Ids of the channels whose policy a write of Daznode's may be changing right now, or left unreconciled."""
    claimed = Decision.objects.filter(status__in=(Decision.Status.APPLYING, Decision.Status.ROLLING_BACK))
    return unsettled_write_channels() | set(claimed.values_list("channel_id", flat=True))


def node_sync(
    *, factory: DataSourceFactory | None = None, now: datetime | None = None, adopt_node: bool = False
) -> SyncReport:
    """Read our node, store what it says, and audit the policies changed outside Daznode. A failed read changes
    nothing (SourceError)."""
    readout, source_name = node_read(factory=factory, now=now)
    with transaction.atomic():
        # Read inside the transaction: a write claimed after the readout was taken is held as well.
        report = store_readout(readout, source_name=source_name, adopt_node=adopt_node, hold_policy=writes_in_flight())
        record_external_changes(report.external_changes, source=source_name, at=readout.read_at)
    return report
