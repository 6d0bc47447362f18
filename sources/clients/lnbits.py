"""LNbits' REST API (as of LNbits 1.6): the only module that speaks HTTP to LNbits.

A wallet key travels in the X-Api-Key header. LNbits has two: the admin key may do everything, the invoice key
may read and create invoices but not pay. Amounts are msat as LNbits sends them, except that an invoice is
requested in sat (LNbits' own unit for it). Every answer is parsed strictly.

Routes, from LNbits' source (lnbits/core/views/):
  GET  /api/v1/wallet                      wallet_api.py   name, balance (msat); id for the admin key only
  GET  /api/v1/payments/paginated          payment_api.py  {"data": [Payment...], "total": n}, limit/offset
  POST /api/v1/payments                    payment_api.py  out=false creates an invoice, out=true pays one
  GET  /api/v1/payments/{payment_hash}     payment_api.py  {"paid": bool, "status": ..., "preimage": ...}
  POST /api/v1/payments/decode             payment_api.py  the bolt11 fields
  GET  /node/api/v1/info, /channels        node_api.py     only for an admin user's access token and a funding
                                                           source with node management (LND, CLN, ...)
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sources.clients.errors import AuthenticationError, ContractViolation, NotSupported, RequestRejected
from sources.clients.http import CircuitBreaker, ClientConfig, HttpClient, RateLimiter, error_message
from sources.clients.parsing import Fields
from sources.interface import Capability, DataSourceInterface

MSAT_PER_SAT = 1000
DEFAULT_PAGE_SIZE = 100
NODE_PREFIX = "/node/api/v1"
PAYMENT_HASH = re.compile(r"\A[0-9a-f]{64}\Z")  # \Z: `$` would accept a trailing newline
# LNbits answers a payment or invoice it refuses (insufficient balance, a bad invoice) with this made-up status.
LNBITS_PAYMENT_ERROR = 520
# A wrong key is a 404 with this detail (lnbits/decorators.py), not a 401.
WALLET_NOT_FOUND = "Wallet not found."
# The node API checks for an admin *user* (access token) before anything else, so a wallet key gets a 401 there;
# 404 is an LNbits without the node API, 501 a funding source without node management, 503 the node UI disabled.
NODE_NOT_OFFERED = {401, 404, 501}
NODE_DISABLED_WORDS = ("not enabled", "enable node")


class PaymentStatus:
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"


@dataclass(frozen=True)
class WalletInfo:
    name: str
    balance_msat: int
    id: str | None  # LNbits tells the wallet id to the admin key only

    @property
    def balance_sat(self) -> int:
        return self.balance_msat // MSAT_PER_SAT


@dataclass(frozen=True)
class Payment:
    """A row of the wallet's history: an invoice it issued (amount > 0) or a payment it made (amount < 0)."""

    checking_id: str
    payment_hash: str
    wallet_id: str
    amount_msat: int
    fee_msat: int
    bolt11: str
    status: str
    memo: str
    created_at: datetime
    preimage: str | None

    @property
    def paid(self) -> bool:
        return self.status == PaymentStatus.SUCCESS

    @property
    def outgoing(self) -> bool:
        return self.amount_msat < 0


@dataclass(frozen=True)
class PaymentsPage:
    payments: tuple[Payment, ...]
    total: int


@dataclass(frozen=True)
class Invoice:
    payment_hash: str
    bolt11: str
    amount_msat: int
    memo: str
    expires_at: datetime | None


@dataclass(frozen=True)
class PaymentCheck:
    payment_hash: str
    paid: bool
    status: str
    preimage: str | None


@dataclass(frozen=True)
class DecodedInvoice:
    payment_hash: str
    amount_msat: int  # 0 for an invoice without an amount
    description: str
    description_hash: str | None
    payee: str | None
    created_at: datetime
    expiry_s: int

    @property
    def expires_at(self) -> datetime:
        return self.created_at + timedelta(seconds=self.expiry_s)


@dataclass(frozen=True)
class NodeInfo:
    id: str
    alias: str
    backend_name: str
    num_peers: int | None
    blockheight: int | None
    balance_msat: int
    onchain_balance_sat: int


@dataclass(frozen=True)
class NodeChannel:
    peer_id: str
    state: str
    local_msat: int
    remote_msat: int
    total_msat: int
    id: str | None
    short_id: str | None
    fee_ppm: int | None
    fee_base_msat: int | None


class LnbitsHttpClient(HttpClient):
    def raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        message, name = error_message(response), self.config.name
        if response.request.url.path.startswith(NODE_PREFIX) and _node_not_offered(status, message):
            raise NotSupported(f"the node API is not supported by this source (HTTP {status}: {message})", source=name)
        if status == httpx.codes.NOT_FOUND and message == WALLET_NOT_FOUND:
            raise AuthenticationError("no wallet has this API key", source=name)
        if status == LNBITS_PAYMENT_ERROR:
            raise RequestRejected(f"LNbits refused: {message}", source=name)
        super().raise_for_status(response)


def _node_not_offered(status: int, message: str) -> bool:
    if status in NODE_NOT_OFFERED:
        return True
    return status == httpx.codes.SERVICE_UNAVAILABLE and any(word in message.lower() for word in NODE_DISABLED_WORDS)


class LnbitsClient(DataSourceInterface):
    """One LNbits wallet, by its admin or invoice key. Paying is never retried: a retry could pay twice."""

    # Not NODE: LNbits 1.6 opens its node API to an admin user's session only, never to a wallet key, so the
    # factory must not route node requests here. node_info() and node_channels() still say so if called.
    capabilities = frozenset({Capability.WALLET, Capability.PAYMENTS, Capability.INVOICES})

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        name: str = "lnbits",
        timeout_s: float = 30.0,
        rate_per_minute: int = 100,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
        limiter: RateLimiter | None = None,
    ):
        if not api_key.strip():
            raise ValueError("an LNbits API key is required")
        config = ClientConfig(
            name=name, base_url=url, timeout_s=timeout_s, rate_per_minute=rate_per_minute, max_retries=max_retries
        )
        self.name = name
        self.http = LnbitsHttpClient(
            config, headers={"X-Api-Key": api_key.strip()}, transport=transport, breaker=breaker, limiter=limiter
        )

    def close(self) -> None:
        self.http.close()

    def _json(self, method: str, path: str, **options: Any) -> Any:
        return self.http.request_json(method, path, **options)

    def _fields(self, method: str, path: str, **options: Any) -> Fields:
        return Fields(self._json(method, path, **options), "", self.name)

    def ping(self) -> float:
        """Milliseconds for a wallet read, the cheapest call that proves the key."""
        started = time.perf_counter()
        self.wallet_info()
        return (time.perf_counter() - started) * 1000

    def wallet_info(self) -> WalletInfo:
        f = self._fields("GET", "/api/v1/wallet")
        return WalletInfo(name=f.string("name"), balance_msat=f.integer("balance"), id=_optional_str(f, "id"))

    def payments_page(self, *, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0) -> PaymentsPage:
        """Oldest first: payments made while paging land after the pages already read instead of shifting them."""
        params = {"limit": limit, "offset": offset, "sortby": "time", "direction": "asc"}
        f = self._fields("GET", "/api/v1/payments/paginated", params=params)
        return PaymentsPage(payments=tuple(_payment(p) for p in f.object_list("data")), total=f.integer("total"))

    def iter_payments(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Payment]:
        """Every payment of the wallet, oldest first, a page at a time."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        offset = 0
        while True:
            page = self.payments_page(limit=page_size, offset=offset)
            yield from page.payments
            offset += len(page.payments)
            if len(page.payments) < page_size or offset >= page.total:
                return

    def create_invoice(self, *, amount_sat: int, memo: str = "", expiry_s: int | None = None) -> Invoice:
        if isinstance(amount_sat, bool) or not isinstance(amount_sat, int) or amount_sat <= 0:
            raise ValueError(f"amount_sat must be a positive whole number of sat, not {amount_sat!r}")
        body: dict[str, Any] = {"out": False, "amount": amount_sat, "unit": "sat", "memo": memo}
        if expiry_s is not None:
            body["expiry"] = expiry_s
        f = self._fields("POST", "/api/v1/payments", json_body=body)
        return Invoice(
            payment_hash=f.string("payment_hash"),
            bolt11=f.string("bolt11"),
            amount_msat=f.integer("amount"),
            memo=_optional_str(f, "memo") or "",
            expires_at=_optional_time(f, "expiry"),
        )

    def check_payment(self, payment_hash: str) -> PaymentCheck:
        """Paid or not, for an invoice this wallet issued or a payment it made."""
        payment_hash = payment_hash.lower()
        if not PAYMENT_HASH.match(payment_hash):
            raise ValueError("a payment hash is 64 hex characters")
        f = self._fields("GET", f"/api/v1/payments/{payment_hash}")
        paid = f.boolean("paid")
        implied = PaymentStatus.SUCCESS if paid else PaymentStatus.PENDING  # LNbits omits it for settled ones
        return PaymentCheck(
            payment_hash=payment_hash,
            paid=paid,
            status=_optional_str(f, "status") or implied,
            preimage=_optional_str(f, "preimage"),
        )

    def decode_invoice(self, bolt11: str) -> DecodedInvoice:
        # Decoding changes nothing on the server, so it may be retried like a GET.
        f = self._fields("POST", "/api/v1/payments/decode", json_body={"data": bolt11}, idempotent=True)
        return DecodedInvoice(
            payment_hash=f.string("payment_hash"),
            amount_msat=f.integer("amount_msat"),
            description=_optional_str(f, "description") or "",
            description_hash=_optional_str(f, "description_hash"),
            payee=_optional_str(f, "payee"),
            created_at=_unix_time(f, "date"),
            expiry_s=f.integer("expiry"),
        )

    def pay_invoice(self, bolt11: str) -> Payment:
        """Pay from this wallet (admin key only); the answer may still be pending while a payment is in flight.

        Sent exactly once: after a timeout or a 5xx the payment may or may not have gone out, so the caller checks
        it by payment hash (check_payment) instead of trying again."""
        body = {"out": True, "bolt11": bolt11}
        return _payment(self._fields("POST", "/api/v1/payments", json_body=body, idempotent=False))

    def node_info(self) -> NodeInfo:
        f = self._node_fields("/info")
        return NodeInfo(
            id=f.string("id"),
            alias=f.string("alias"),
            backend_name=f.string("backend_name"),
            num_peers=_optional_int(f, "num_peers"),
            blockheight=_optional_int(f, "blockheight"),
            balance_msat=f.integer("balance_msat"),
            onchain_balance_sat=f.integer("onchain_balance_sat"),
        )

    def node_channels(self) -> tuple[NodeChannel, ...]:
        body = self._json("GET", f"{NODE_PREFIX}/channels")
        if body is None:
            raise NotSupported("node channels are not supported by this source (it answered null)", source=self.name)
        return tuple(_channel(f) for f in Fields({"channels": body}, "", self.name).object_list("channels"))

    def _node_fields(self, path: str) -> Fields:
        body = self._json("GET", f"{NODE_PREFIX}{path}")
        if body is None:  # LNbits' node API answers null when the node cannot tell
            raise NotSupported(f"node {path.strip('/')} is not supported by this source", source=self.name)
        return Fields(body, "", self.name)


def _optional_str(f: Fields, key: str) -> str | None:
    return None if f.data.get(key) is None else f.string(key)


def _optional_int(f: Fields, key: str) -> int | None:
    return None if f.data.get(key) is None else f.integer(key)


def _time(f: Fields, key: str) -> datetime:
    try:
        moment = datetime.fromisoformat(f.string(key))
    except ValueError:
        where = f"{f.path}.{key}" if f.path else key
        raise ContractViolation("expected an ISO 8601 time", source=f.source, field=where) from None
    # LNbits writes some times without an offset (an invoice's expiry); they are UTC like the rest.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _optional_time(f: Fields, key: str) -> datetime | None:
    return None if f.data.get(key) is None else _time(f, key)


def _unix_time(f: Fields, key: str) -> datetime:
    return datetime.fromtimestamp(f.integer(key), tz=UTC)


def _payment(f: Fields) -> Payment:
    return Payment(
        checking_id=f.string("checking_id"),
        payment_hash=f.string("payment_hash"),
        wallet_id=f.string("wallet_id"),
        amount_msat=f.integer("amount"),
        fee_msat=f.integer("fee"),
        bolt11=f.string("bolt11"),
        status=f.string("status"),
        memo=_optional_str(f, "memo") or "",
        created_at=_time(f, "time"),
        preimage=_optional_str(f, "preimage"),
    )


def _channel(f: Fields) -> NodeChannel:
    balance = f.obj("balance")
    return NodeChannel(
        peer_id=f.string("peer_id"),
        state=f.string("state"),
        local_msat=balance.integer("local_msat"),
        remote_msat=balance.integer("remote_msat"),
        total_msat=balance.integer("total_msat"),
        id=_optional_str(f, "id"),
        short_id=_optional_str(f, "short_id"),
        fee_ppm=_optional_int(f, "fee_ppm"),
        fee_base_msat=_optional_int(f, "fee_base_msat"),
    )
