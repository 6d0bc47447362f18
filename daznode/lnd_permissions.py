"""What LND must allow for each REST call Daznode makes: the one place the macaroon permissions come from.

The vault (which warns about a macaroon that grants too much or too little) and the source clients (which
name the permission a refused call lacked) both read it, so it lives here, importing nothing, left of both.
Each permission is the one LND's own RPC permission map (lnd's rpcserver.go, MainRPCServerPermissions) gives
the gRPC method behind the REST path, as in ../shared/lnd/ENDPOINTS.md. The read set, the write set and the
`lncli bakemacaroon` line are derived from this table, so a call added to the client without its permission
shows up as a test failure (tests/sources/test_permissions.py), not as a sync that fails on every real node.
"""

import re
from dataclasses import dataclass

READ_ACTION = "read"


@dataclass(frozen=True)
class LndCall:
    rpc: str  # the gRPC method, as LND's permission map names it
    method: str
    path: str  # the REST path, with {placeholders} for path parameters
    permission: str  # "entity:action"

    @property
    def writes(self) -> bool:
        return not self.permission.endswith(f":{READ_ACTION}")

    def matches(self, *, method: str, path: str) -> bool:
        pattern = re.sub(r"\\{\w+\\}", "[^/]+", re.escape(self.path))
        return method.upper() == self.method and re.fullmatch(pattern, path) is not None


LND_CALLS = (
    LndCall("GetInfo", "GET", "/v1/getinfo", "info:read"),
    LndCall("DescribeGraph", "GET", "/v1/graph", "info:read"),
    LndCall("GetNodeInfo", "GET", "/v1/graph/node/{pub_key}", "info:read"),
    LndCall("GetChanInfo", "GET", "/v1/graph/edge/{chan_id}", "info:read"),
    LndCall("ListChannels", "GET", "/v1/channels", "offchain:read"),
    LndCall("FeeReport", "GET", "/v1/fees", "offchain:read"),
    LndCall("ChannelBalance", "GET", "/v1/balance/channels", "offchain:read"),
    LndCall("ListPeers", "GET", "/v1/peers", "peers:read"),
    LndCall("ForwardingHistory", "POST", "/v1/switch", "offchain:read"),
    LndCall("UpdateChannelPolicy", "POST", "/v1/chanpolicy", "offchain:write"),
)

# Reading the node (health checks, graph, channel sync) needs every read; changing fees needs the writes too.
LND_READ_PERMISSIONS = frozenset(call.permission for call in LND_CALLS if not call.writes)
LND_WRITE_PERMISSIONS = frozenset(call.permission for call in LND_CALLS)


def lnd_call_for(*, method: str, path: str) -> LndCall | None:
    return next((call for call in LND_CALLS if call.matches(method=method, path=path)), None)


def lnd_bake_command(*, write: bool) -> str:
    """The `lncli bakemacaroon` line for a macaroon with exactly what Daznode needs, and nothing more."""
    permissions = LND_WRITE_PERMISSIONS if write else LND_READ_PERMISSIONS
    return "lncli bakemacaroon " + " ".join(sorted(permissions))
