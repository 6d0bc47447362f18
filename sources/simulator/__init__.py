"""An LND REST simulator: a real HTTP(S) server speaking LND's REST contract over a real or synthetic graph, for
Daznode's LND client, its tests and the demo. See server.start_simulator and `manage.py simulate_lnd`."""

from sources.simulator.faults import FaultKind, Faults
from sources.simulator.graphgen import synthetic_graph
from sources.simulator.macaroon import ADMIN_PERMISSIONS, READONLY_PERMISSIONS, mint_macaroon, verify_macaroon
from sources.simulator.node import GraphError, SimulatedNode, load_graph
from sources.simulator.policy import PolicyUpdate, RpcError
from sources.simulator.roles import PROFILES, Role
from sources.simulator.server import RunningSimulator, create_simulator, start_simulator

__all__ = [
    "ADMIN_PERMISSIONS",
    "PROFILES",
    "READONLY_PERMISSIONS",
    "FaultKind",
    "Faults",
    "GraphError",
    "PolicyUpdate",
    "Role",
    "RpcError",
    "RunningSimulator",
    "SimulatedNode",
    "create_simulator",
    "load_graph",
    "mint_macaroon",
    "start_simulator",
    "synthetic_graph",
    "verify_macaroon",
]
