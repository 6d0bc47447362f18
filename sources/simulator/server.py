"""An HTTP(S) server that answers like LND's REST proxy: routes, macaroon checks, rpcStatus errors, faults.

Order of work per request, as with grpc-gateway in front of LND: injected faults first (they stand for the
network and proxies), then routing (404 / 501 before any authentication), body decoding (400), the macaroon
(500 with LND's message), and finally the node. A hang after apply is the one fault that comes after the node:
the request is carried out, then the answer never comes. /_simulator/faults is never subject to faults, so that
a test can always clear them.
"""

import contextlib
import json
import logging
import secrets
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sources.simulator import lndjson
from sources.simulator.faults import Fault, FaultKind, Faults
from sources.simulator.macaroon import (
    ADMIN_PERMISSIONS,
    READONLY_PERMISSIONS,
    MacaroonError,
    mint_macaroon,
    verify_macaroon,
)
from sources.simulator.node import SimulatedNode
from sources.simulator.policy import GRPC_INVALID_ARGUMENT, GRPC_NOT_FOUND, GRPC_UNKNOWN, RpcError
from sources.simulator.rest import ROUTES, Request, Route
from sources.simulator.tls import ensure_certificate

logger = logging.getLogger("sources.simulator")

MACAROON_HEADER = "Grpc-Metadata-macaroon"
FAULTS_PATH = "/_simulator/faults"
FAULTS_PERMISSION = "macaroon:write"  # only the admin macaroon has it among those the simulator mints
GRPC_UNIMPLEMENTED, GRPC_INTERNAL, GRPC_UNAVAILABLE = 12, 13, 14
# grpc-gateway's runtime.HTTPStatusFromCode for the codes LND uses.
HTTP_STATUS_BY_GRPC_CODE = {2: 500, 3: 400, 4: 504, 5: 404, 7: 403, 12: 501, 13: 500, 14: 503, 16: 401}
HANDSHAKE_TIMEOUT_S = 10
FAULTS_INSTEAD_OF_HANDLING = frozenset({FaultKind.UNAVAILABLE, FaultKind.HTML, FaultKind.DROP, FaultKind.HANG})
HANGS = frozenset({FaultKind.HANG, FaultKind.HANG_AFTER_APPLY})
SHUTDOWN_POLL_S = 0.05  # how soon stop() is noticed; the default half second adds up over a test suite
IDLE_CONNECTION_TIMEOUT_S = 120
HTML_ERROR_PAGE = (  # what nginx answers when the upstream LND is down or slow
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>{status} {phrase}</h1>"
    "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, node: SimulatedNode, faults: Faults, root_key: bytes, tls=None):
        self.node, self.faults, self.root_key, self.tls = node, faults, root_key, tls
        super().__init__(address, LndRestHandler)

    def handle_error(self, request, client_address) -> None:
        """A client that goes away mid-answer is normal here (timeouts, faults): no traceback on stderr for it."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError | ssl.SSLError):
            logger.debug("connection from %s ended: %s", client_address[0], error)
        else:
            logger.exception("simulator error serving %s", client_address[0])

    def finish_request(self, request, client_address) -> None:
        """TLS is negotiated here, in the connection's own thread, so a slow or failed handshake blocks no one."""
        if self.tls is None:
            return super().finish_request(request, client_address)
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            connection = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return None  # the client refused our certificate, or spoke plain HTTP
        try:
            self.RequestHandlerClass(connection, client_address, self)
        finally:
            connection.close()
        return None


class LndRestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections to LND
    server_version, sys_version = "lnd-rest-simulator", ""  # say what answers: it is not a real LND
    timeout = IDLE_CONNECTION_TIMEOUT_S
    # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms to every answer.
    disable_nagle_algorithm = True
    server: SimulatorHTTPServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        # Only the request line: never the headers, which carry the macaroon.
        logger.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        url = urlsplit(self.path)
        try:
            raw_body = self._read_body()
        except ValueError:
            self.close_connection = True  # the framing is lost: nothing after this can be trusted
            self._send(400, _json(lndjson.rpc_status(GRPC_INVALID_ARGUMENT, "malformed request body framing")))
            return
        fault = None if url.path.startswith("/_simulator/") else self._take_fault(url.path)
        if fault and fault.kind in FAULTS_INSTEAD_OF_HANDLING:
            self._suffer(fault)
            return
        status, payload = self._dispatch(url.path, parse_qs(url.query), raw_body)
        if fault and fault.kind == FaultKind.HANG_AFTER_APPLY:
            self._suffer(fault)  # the node has done the work; only the answer is lost
            return
        self._send(status, payload, fault=fault)

    def _read_body(self) -> bytes:
        """The request body, sized by Content-Length or sent in chunks. ValueError when the framing is broken."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():
                pass  # trailers
            return b"".join(chunks)
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            raise ValueError(f"bad Content-Length {length!r}")
        return self.rfile.read(int(length))

    def _take_fault(self, path: str) -> Fault | None:
        faults = self.server.faults
        if faults.latency_ms:
            faults.released.wait(faults.latency_ms / 1000)
        return faults.take(path)

    def _suffer(self, fault: Fault) -> None:
        if fault.kind == FaultKind.UNAVAILABLE:
            self._send(503, _json(lndjson.rpc_status(GRPC_UNAVAILABLE, "unavailable")))
        elif fault.kind == FaultKind.HTML:
            page = HTML_ERROR_PAGE.format(status=fault.status, phrase=_phrase(fault.status))
            self._send(fault.status, page.encode(), content_type="text/html")
        else:
            if fault.kind in HANGS:
                self.server.faults.released.wait(fault.hang_s)
            self._drop()

    def _dispatch(self, path: str, query: dict[str, list[str]], raw_body: bytes) -> tuple[int, bytes]:
        try:
            if path == FAULTS_PATH:
                return 200, _json(self._faults_endpoint(raw_body))
            route, params = _resolve(self.command, path)
            body = _decode_body(raw_body) if self.command == "POST" else {}
            self._authorize(route.permission)
            faults = self.server.faults
            request = Request(
                query=query,
                body=body,
                params=params,
                policy_failures=faults.policy_failures(),
                ignored_updates=faults.ignored_updates(),
            )
            result = route.handler(self.server.node, request)
        except RpcError as exc:
            status = HTTP_STATUS_BY_GRPC_CODE.get(exc.code, 500)
            return status, _json(lndjson.rpc_status(exc.code, exc.message))
        except Exception:
            logger.exception("simulator error on %s %s", self.command, path)
            return 500, _json(lndjson.rpc_status(GRPC_INTERNAL, "internal simulator error"))
        return 200, result if isinstance(result, bytes) else _json(result)

    def _authorize(self, permission: str) -> None:
        headers = self.headers.get_all(MACAROON_HEADER) or []
        if len(headers) != 1:
            raise RpcError(GRPC_UNKNOWN, f"expected 1 macaroon, got {len(headers)}")
        try:
            raw = bytes.fromhex(headers[0].strip())
        except ValueError:
            raise RpcError(GRPC_UNKNOWN, "encoding/hex: invalid byte in macaroon") from None
        try:
            verify_macaroon(
                raw,
                root_key=self.server.root_key,
                required=[permission],
                now=datetime.now(UTC),
                client_ip=self.client_address[0],
            )
        except MacaroonError as exc:
            raise RpcError(GRPC_UNKNOWN, str(exc)) from None

    def _faults_endpoint(self, raw_body: bytes) -> dict:
        self._authorize(FAULTS_PERMISSION)
        faults = self.server.faults
        if self.command == "DELETE":
            faults.clear()
        elif self.command == "POST":
            try:
                faults.configure(_decode_body(raw_body))
            except (KeyError, TypeError, ValueError) as exc:
                raise RpcError(GRPC_INVALID_ARGUMENT, f"bad fault configuration: {exc}") from None
        elif self.command != "GET":
            raise RpcError(GRPC_UNIMPLEMENTED, "Method Not Allowed")
        return faults.snapshot()

    def _send(
        self, status: int, payload: bytes, *, fault: Fault | None = None, content_type="application/json"
    ) -> None:
        if fault and fault.kind == FaultKind.MALFORMED_JSON:
            payload = payload[: len(payload) // 2]  # cut inside the JSON, with a Content-Length that matches it
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if fault and fault.kind == FaultKind.TRUNCATE:
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self._drop()
            return
        self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the connection without a (complete) response."""
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may have gone away first
            self.connection.shutdown(socket.SHUT_RDWR)


def _phrase(status: int) -> str:
    """The reason phrase, also for statuses outside the standard (a CDN's 520, for instance)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _resolve(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """grpc-gateway's routing: unknown path 404 (code 5), known path with another method 501 (code 12)."""
    matches = [(route, match) for route in ROUTES if (match := route.pattern.match(path))]
    for route, match in matches:
        if route.method == method:
            return route, match.groupdict()
    if matches:
        raise RpcError(GRPC_UNIMPLEMENTED, "Method Not Allowed")
    raise RpcError(GRPC_NOT_FOUND, "Not Found")


def _decode_body(raw_body: bytes) -> dict:
    if not raw_body.strip():
        return {}
    try:
        body = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RpcError(GRPC_INVALID_ARGUMENT, f"proto: syntax error: {exc}") from None
    if not isinstance(body, dict):
        raise RpcError(GRPC_INVALID_ARGUMENT, "proto: syntax error: the body must be a JSON object")
    return body


def _json(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()  # compact, as grpc-gateway


class RunningSimulator:
    """The server, its node and what a client needs: URL, macaroons, certificate. A context manager."""

    def __init__(self, *, server: SimulatorHTTPServer, cert_path: Path | None, key_path: Path | None):
        self._server, self._thread = server, None
        self.node, self.faults, self.cert_path, self.key_path = server.node, server.faults, cert_path, key_path
        self.cert_pem = cert_path.read_bytes() if cert_path else None
        self.admin_macaroon = self.mint(ADMIN_PERMISSIONS)
        self.readonly_macaroon = self.mint(READONLY_PERMISSIONS)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        scheme = "https" if self.cert_path else "http"
        return f"{scheme}://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"  # noqa: S104 - a display fix

    def mint(self, permissions: list[str], caveats: list[str] | tuple[str, ...] = ()) -> bytes:
        """A macaroon this node accepts, like `lncli bakemacaroon` (caveats such as "time-before <RFC 3339>")."""
        return mint_macaroon(
            root_key=self._server.root_key, permissions=permissions, caveats=caveats, nonce=secrets.token_bytes(16)
        )

    def start(self) -> "RunningSimulator":
        self._thread = threading.Thread(target=self.serve_forever, name="lnd-simulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=SHUTDOWN_POLL_S)

    def stop(self) -> None:
        self.faults.released.set()  # ends hanging requests and pending latency
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> "RunningSimulator":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def create_simulator(
    *,
    graph_path: Path | None = None,
    seed: int = 1,
    node_count: int = 2000,
    tls_dir: Path | None = None,
    expired_cert: bool = False,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Callable[[], float] = time.time,
    our_pubkey: str | None = None,
) -> RunningSimulator:
    """Build the node and bind the server, without serving yet. Raises GraphError, OSError (port in use).
    `our_pubkey` chooses which node of the graph we are; by default a mid-size routing node."""
    if graph_path is not None:
        node = SimulatedNode.from_path(graph_path, seed=seed, clock=clock, our_pubkey=our_pubkey)
    else:
        node = SimulatedNode.synthetic(seed=seed, node_count=node_count, clock=clock, our_pubkey=our_pubkey)
    cert_path = key_path = tls = None
    if tls_dir is not None:
        cert_path, key_path = ensure_certificate(tls_dir, expired=expired_cert)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(cert_path, key_path)
    server = SimulatorHTTPServer((host, port), node=node, faults=Faults(), root_key=secrets.token_bytes(32), tls=tls)
    return RunningSimulator(server=server, cert_path=cert_path, key_path=key_path)


def start_simulator(
    *,
    graph_path: Path | None = None,
    seed: int = 1,
    node_count: int = 2000,
    tls_dir: Path | None = None,
    expired_cert: bool = False,
    clock: Callable[[], float] = time.time,
) -> RunningSimulator:
    """A simulator serving on 127.0.0.1 (a free port) in a daemon thread, until stop() or the `with` block ends."""
    return create_simulator(
        graph_path=graph_path, seed=seed, node_count=node_count, tls_dir=tls_dir, expired_cert=expired_cert, clock=clock
    ).start()
