import threading
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sources.simulator import GraphError, Role, RunningSimulator, SimulatedNode, create_simulator


class Command(BaseCommand):
    help = (
        "Serve a simulated LND REST API (getinfo, graph, channels, fees, forwarding history, chanpolicy) over a "
        "synthetic graph or a describegraph file, in the foreground until Ctrl-C."
    )
    # The simulator stands in for a node, not for Daznode: it must start even where Daznode is not configured.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--graph", type=Path, help="A describegraph file (.json or .json.gz); default: synthetic")
        parser.add_argument("--seed", type=int, default=1, help="Seed of the synthetic graph and of our node's state")
        parser.add_argument("--nodes", type=int, default=2000, help="Size of the synthetic graph (without --graph)")
        parser.add_argument("--pubkey", help="Which node of the graph we are (default: a mid-size routing node)")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8080, help="LND's REST port by default")
        parser.add_argument("--tls-dir", type=Path, help="Serve HTTPS with tls.cert/tls.key here (made if missing)")
        parser.add_argument("--macaroon-out", type=Path, help="Write the admin macaroon (binary, as LND) here")
        parser.add_argument(
            "--register-source",
            metavar="NAME",
            help="Store the macaroon in the vault and make this node the LND source NAME, unless "
            "another LND source is configured; then take a first health check and graph snapshot",
        )

    def handle(self, *args, graph: Path | None, seed: int, nodes: int, host: str, port: int, **options) -> None:
        if not 0 <= port <= 65535:
            raise CommandError(f"--port must be between 0 and 65535, not {port}")
        if graph is None and nodes < 10:
            raise CommandError("--nodes must be at least 10")
        simulator = self._create(
            graph, seed=seed, nodes=nodes, host=host, port=port, tls_dir=options["tls_dir"], pubkey=options["pubkey"]
        )
        try:
            macaroon_path = self._write_macaroon(simulator, options["macaroon_out"])
            self.stdout.write(self._banner(simulator, macaroon_path))
            if options["register_source"]:
                self._register(simulator, options["register_source"])
            self.stdout.flush()
            simulator.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
        finally:
            simulator.stop()

    def _create(
        self, graph: Path | None, *, seed: int, nodes: int, host: str, port: int, tls_dir, pubkey: str | None
    ) -> RunningSimulator:
        try:
            return create_simulator(
                graph_path=graph,
                seed=seed,
                node_count=nodes,
                host=host,
                port=port,
                tls_dir=tls_dir,
                our_pubkey=pubkey,
            )
        except GraphError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port} or write the certificate: {exc.strerror or exc}"
            ) from None

    def _register(self, simulator: RunningSimulator, name: str) -> None:
        from sources.demo import other_lnd_source, simulated_node_register, simulated_node_warm_up

        other = other_lnd_source(name)
        if other is not None:
            self.stdout.write(f"Not registered as a source: your node '{other.name}' is configured.")
            return
        simulated_node_register(
            name=name, url=simulator.url, macaroon=simulator.admin_macaroon, cert_pem=simulator.cert_pem
        )
        threading.Thread(target=simulated_node_warm_up, args=(name,), name="warm-up", daemon=True).start()
        self.stdout.write(f"Registered as the LND source '{name}'; taking a first graph snapshot.")

    def _write_macaroon(self, simulator: RunningSimulator, path: Path | None) -> Path | None:
        if path is None:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.chmod(0o600)  # a macaroon is a bearer credential: readable by its owner only
            path.write_bytes(simulator.admin_macaroon)
        except OSError as exc:
            raise CommandError(f"cannot write the macaroon to {path}: {exc.strerror or exc}") from None
        return path.resolve()

    def _mix(self, node: SimulatedNode) -> str:
        """How many channels of each kind (sources.simulator.roles), so a newcomer knows what to look for."""
        counts = Counter(channel.role for channel in node.channels)
        return ", ".join(f"{counts[role]} {role.replace('_', ' ')}" for role in Role if counts[role])

    def _banner(self, simulator: RunningSimulator, macaroon_path: Path | None) -> str:
        node = simulator.node
        macaroon = str(macaroon_path) if macaroon_path else "not written (use --macaroon-out PATH)"
        cert = str(simulator.cert_path.resolve()) if simulator.cert_path else "none: plain HTTP (use --tls-dir DIR)"
        return "\n".join(
            [
                f"Simulated LND REST listening on {simulator.url}",
                f"  Our node:  {node.pubkey} ({node.alias_of(node.pubkey) or 'no alias'})",
                f"  Channels:  {len(node.channels)}, forwards in the last 30 days: {len(node.forwards)}",
                f"  Mix:       {self._mix(node)}",
                f"  Macaroon:  {macaroon}",
                f"  TLS cert:  {cert}",
                "Ctrl-C to stop.",
            ]
        )
