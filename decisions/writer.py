"""Our node's LND, opened for writing policies.

Reads may fail over between sources; a write may not. This picks one enabled LND source whose macaroon allows
`offchain:write` and which answers as our node (getinfo's identity key), and every read, send and read-back of
an operation then goes to that one source. Trying the next source is only safe before anything was sent.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from channels.models import Channel, Node
from daznode.lightning import Policy
from sources.clients.errors import ContractViolation, SourceError
from sources.clients.http import CircuitBreaker
from sources.clients.lnd import LndClient
from sources.connect import breaker_for, client_for
from sources.factory import DataSourceFactory
from sources.interface import Capability
from sources.models import Source

logger = logging.getLogger(__name__)

READ_ATTEMPTS = 2


class NoNodeWriter(SourceError):
    """No source can write our node's policies: none configured, none answering, or none is our node."""


class NodeWriter:
    def __init__(self, client: LndClient, *, source: Source, pubkey: str):
        self.client, self.source, self.pubkey = client, source, pubkey

    def read(self, channel: Channel) -> Policy:
        """Our side's policy as the node holds it now."""
        policy = self.client.get_chan_info(channel.chan_id).policy_of(self.pubkey)
        if policy is None:
            raise ContractViolation(
                f"the node reports no policy on our side of channel {channel.chan_id}", source=self.source.name
            )
        return policy

    def send(self, channel: Channel, policy: Policy) -> None:
        """One update, never retried here: see decisions.policy_change for why and how it is verified."""
        self.client.update_channel_policy(chan_point=channel.chan_point, policy=policy)

    def read_or_none(self, channel: Channel) -> Policy | None:
        """The policy, or None when it cannot be read. A garbled answer gets one more read (the HTTP layer already
        retries timeouts and 5xx): after a write, not knowing is expensive."""
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return self.read(channel)
            except SourceError as exc:
                logger.warning("reading channel %s failed (attempt %d): %s", channel.chan_id, attempt, exc)
                if not isinstance(exc, ContractViolation):
                    break
        return None


@contextmanager
def node_writer(*, actor: str) -> Iterator[NodeWriter]:
    ours = Node.objects.filter(is_ours=True).first()
    if ours is None:
        raise NoNodeWriter("our node is not known yet: run sync_channels first")
    tried = []
    for source in DataSourceFactory().candidates(Capability.POLICY_UPDATE):
        if breaker_for(source).state() == CircuitBreaker.OPEN:
            tried.append(f"{source.name}: circuit open")
            continue
        try:
            client = client_for(source, actor=actor, write=True)
        except SourceError as exc:
            tried.append(str(exc))
            continue
        with client:
            if not isinstance(client, LndClient):  # writing policies is LND's REST API, whatever a source declares
                tried.append(f"{source.name}: not an LND source")
                continue
            try:
                identity = client.get_info().identity_pubkey
            except SourceError as exc:
                tried.append(str(exc))
                continue
            if identity != ours.pubkey:
                tried.append(f"{source.name}: is node {identity[:16]}…, not ours ({ours.pubkey[:16]}…)")
                continue
            yield NodeWriter(client, source=source, pubkey=ours.pubkey)
            return
    raise NoNodeWriter(
        "no LND source of our node can update policies (" + ("; ".join(tried) or "no enabled LND source") + ")"
    )
