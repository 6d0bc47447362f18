"""What every data source offers Daznode: a ping, and the operations its capabilities name."""

from abc import ABC, abstractmethod
from enum import StrEnum

from sources.clients.errors import NotSupported
from sources.graph import GraphDocument


class Capability(StrEnum):
    GRAPH = "graph"
    INFO = "info"
    CHANNELS = "channels"
    FEES = "fees"
    FORWARDS = "forwards"
    PEERS = "peers"
    BALANCE = "balance"
    POLICY_UPDATE = "policy_update"
    WALLET = "wallet"
    PAYMENTS = "payments"
    INVOICES = "invoices"
    NODE = "node"


class DataSourceInterface(ABC):
    """A client for one source. Operations outside `capabilities` raise NotSupported."""

    name: str = "source"
    capabilities: frozenset[Capability] = frozenset()

    @abstractmethod
    def ping(self) -> float:
        """Milliseconds for the cheapest authenticated round trip; raises a SourceError when it fails."""

    def describe_graph(self) -> GraphDocument:
        raise NotSupported("the network graph is not offered by this source", source=self.name)

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        pass

    def __enter__(self) -> "DataSourceInterface":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
