"""LnbitsClient against a real LNbits 1.6.2 (FakeWallet) on loopback, and against scripted loopback servers for
what a real LNbits will not do on demand: fail, answer garbage, or offer a node API."""

import json

import pytest

from auth_vault.models import AccessEvent
from auth_vault.services import secret_create, secret_revoke
from sources.clients.errors import (
    AuthenticationError,
    ContractViolation,
    NotSupported,
    RequestRejected,
    SourceUnavailable,
)
from sources.clients.lnbits import LnbitsClient, PaymentStatus
from sources.connect import client_for
from sources.models import Source
from tests.conftest import assert_not_leaked, free_port
from tests.sources.servers import Reply, scripted_server

MSAT_PER_SAT = 1000
HTML = {"Content-Type": "text/html"}


def lnbits(url: str, key: str, **options) -> LnbitsClient:
    return LnbitsClient(url=url, api_key=key, timeout_s=10, **options)


def json_reply(body, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(body).encode())


# --- against a real LNbits ---


def test_it_reads_the_wallet_name_and_balance_in_msat(lnbits_server):
    wallet = lnbits_server.create_wallet("savings", balance_sat=5000)

    with lnbits(lnbits_server.url, wallet.adminkey) as admin, lnbits(lnbits_server.url, wallet.inkey) as invoice:
        by_admin, by_invoice = admin.wallet_info(), invoice.wallet_info()

    assert (by_admin.name, by_admin.balance_msat, by_admin.balance_sat, by_admin.id) == (
        "savings",
        5_000_000,
        5000,
        wallet.id,
    )
    assert (by_invoice.balance_msat, by_invoice.id) == (5_000_000, None)  # LNbits tells the id to the admin key only


def test_it_pings_with_an_authenticated_call(lnbits_server):
    wallet = lnbits_server.create_wallet()
    with lnbits(lnbits_server.url, wallet.inkey) as client:
        assert client.ping() > 0


def test_it_creates_decodes_checks_and_pays_an_invoice_between_two_wallets(lnbits_server, caplog):
    payee_wallet = lnbits_server.create_wallet("payee")
    payer_wallet = lnbits_server.create_wallet("payer", balance_sat=10_000)

    with (
        lnbits(lnbits_server.url, payee_wallet.inkey) as payee,
        lnbits(lnbits_server.url, payer_wallet.adminkey) as payer,
    ):
        invoice = payee.create_invoice(amount_sat=1234, memo="daznode test")
        decoded = payer.decode_invoice(invoice.bolt11)
        before = payee.check_payment(invoice.payment_hash)
        payment = payer.pay_invoice(invoice.bolt11)
        after = payee.check_payment(invoice.payment_hash)
        payee_balance_msat, payer_balance_msat = payee.wallet_info().balance_msat, payer.wallet_info().balance_msat

    assert (invoice.amount_msat, invoice.memo) == (1_234_000, "daznode test")
    assert (decoded.payment_hash, decoded.amount_msat, decoded.description) == (
        invoice.payment_hash,
        1_234_000,
        "daznode test",
    )
    assert decoded.expires_at > decoded.created_at
    assert (before.paid, before.status) == (False, PaymentStatus.PENDING)
    assert (payment.paid, payment.outgoing, payment.amount_msat) == (True, True, -1_234_000)
    assert (after.paid, after.status) == (True, PaymentStatus.SUCCESS)
    assert after.preimage
    assert payee_balance_msat == 1234 * MSAT_PER_SAT
    assert payer_balance_msat == 10_000 * MSAT_PER_SAT - 1234 * MSAT_PER_SAT - payment.fee_msat
    assert payment.fee_msat == 0  # an invoice of the same LNbits is settled internally, without routing
    assert_not_leaked(caplog.text, payee_wallet.inkey, payer_wallet.adminkey)


def test_it_pages_through_all_payments_oldest_first(lnbits_server):
    wallet = lnbits_server.create_wallet("busy", balance_sat=100)  # the top-up is the first payment
    with lnbits(lnbits_server.url, wallet.inkey) as client:
        for number in range(6):
            client.create_invoice(amount_sat=10 + number, memo=f"invoice {number}")
        payments = list(client.iter_payments(page_size=3))
        last_page = client.payments_page(limit=3, offset=6)

    assert len(payments) == 7
    assert len({payment.payment_hash for payment in payments}) == 7
    assert [payment.memo for payment in payments[1:]] == [f"invoice {number}" for number in range(6)]
    assert [payment.amount_msat for payment in payments[1:]] == [(10 + n) * MSAT_PER_SAT for n in range(6)]
    assert payments == sorted(payments, key=lambda payment: payment.created_at)
    assert (len(last_page.payments), last_page.total) == (1, 7)


def test_it_lets_the_invoice_key_read_and_invoice_but_not_pay(lnbits_server):
    wallet = lnbits_server.create_wallet("shop", balance_sat=1000)
    other = lnbits_server.create_wallet("other")
    with lnbits(lnbits_server.url, other.inkey) as payee, lnbits(lnbits_server.url, wallet.inkey) as client:
        bill = payee.create_invoice(amount_sat=100)
        own_invoice = client.create_invoice(amount_sat=5)
        assert len(list(client.iter_payments())) == 2
        with pytest.raises(AuthenticationError, match="403"):
            client.pay_invoice(bill.bolt11)
        assert client.wallet_info().balance_msat == 1000 * MSAT_PER_SAT
        assert not payee.check_payment(bill.payment_hash).paid
    assert own_invoice.amount_msat == 5 * MSAT_PER_SAT


def test_it_refuses_a_key_no_wallet_has(lnbits_server):
    with lnbits(lnbits_server.url, "0" * 32) as client:
        with pytest.raises(AuthenticationError, match="no wallet has this API key"):
            client.wallet_info()
        with pytest.raises(AuthenticationError):
            client.ping()


def test_it_reports_a_payment_lnbits_refuses_as_rejected(lnbits_server):
    payee_wallet, broke_wallet = lnbits_server.create_wallet("payee"), lnbits_server.create_wallet("broke")
    with (
        lnbits(lnbits_server.url, payee_wallet.inkey) as payee,
        lnbits(lnbits_server.url, broke_wallet.adminkey) as broke,
    ):
        invoice = payee.create_invoice(amount_sat=1234)
        with pytest.raises(RequestRejected, match="Insufficient balance"):
            broke.pay_invoice(invoice.bolt11)
        assert not payee.check_payment(invoice.payment_hash).paid


def test_it_reports_what_lnbits_cannot_find_or_decode_as_rejected(lnbits_server):
    wallet = lnbits_server.create_wallet()
    with lnbits(lnbits_server.url, wallet.inkey) as client:
        with pytest.raises(RequestRejected, match="Failed to decode"):
            client.decode_invoice("lnbc1notaninvoice")
        with pytest.raises(RequestRejected, match="Payment does not exist"):
            client.check_payment("ab" * 32)


def test_it_says_the_node_api_is_not_supported_with_fakewallet_and_a_wallet_key(lnbits_server):
    wallet = lnbits_server.create_wallet()
    with lnbits(lnbits_server.url, wallet.adminkey) as client:
        with pytest.raises(NotSupported, match="not supported by this source"):
            client.node_info()
        with pytest.raises(NotSupported, match="not supported by this source"):
            client.node_channels()


def test_it_reports_a_server_that_is_not_there_as_unavailable():
    with lnbits(f"http://127.0.0.1:{free_port()}", "0" * 32, max_retries=0) as client:
        with pytest.raises(SourceUnavailable, match="connection refused"):
            client.wallet_info()


# --- against scripted servers ---


def test_it_sends_a_payment_exactly_once_even_when_the_server_fails():
    with scripted_server(lambda request: json_reply({"detail": "busy"}, status=503)) as server:
        with lnbits(server.url, "0" * 32, max_retries=1) as client:
            with pytest.raises(SourceUnavailable):
                client.pay_invoice("lnbc1fake")
            paid_requests = len(server.requests)
            with pytest.raises(SourceUnavailable):
                client.wallet_info()

    assert paid_requests == 1  # a retry could pay twice
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", "/api/v1/payments"),
        ("GET", "/api/v1/wallet"),
        ("GET", "/api/v1/wallet"),  # the same client does retry a read
    ]


@pytest.mark.parametrize(
    ("reply", "field", "words"),
    [
        (Reply(body=b'{"name": "w", "balance": 12'), None, "truncated JSON"),
        (Reply(body=b'{"name": "w", balance: 12}'), None, "malformed JSON"),
        (Reply(body=b"<html><body>Please log in</body></html>", headers=HTML), None, "HTML page"),
        (json_reply({"name": "w"}), "balance", "missing"),
        (json_reply({"name": "w", "balance": "lots"}), "balance", "expected an integer"),
        (json_reply(["not", "an", "object"]), "", "expected an object"),
    ],
)
def test_it_refuses_a_wallet_answer_that_breaks_the_contract(reply, field, words):
    with scripted_server(lambda request: reply) as server, lnbits(server.url, "0" * 32) as client:
        with pytest.raises(ContractViolation, match=words) as caught:
            client.wallet_info()
    assert caught.value.field == field


def test_it_names_the_bad_row_in_a_page_of_payments():
    good = {
        "checking_id": "a" * 64,
        "payment_hash": "a" * 64,
        "wallet_id": "w1",
        "amount": 1000,
        "fee": 0,
        "bolt11": "lnbc1",
        "status": "success",
        "memo": None,
        "time": "2026-01-02T03:04:05+00:00",
        "preimage": None,
    }
    page = {"data": [good, {**good, "amount": None}], "total": 2}
    with scripted_server(lambda request: json_reply(page)) as server, lnbits(server.url, "0" * 32) as client:
        with pytest.raises(ContractViolation) as caught:
            list(client.iter_payments())
    assert caught.value.field == "data[1].amount"


def test_it_names_a_time_it_cannot_read():
    page = {"data": [{"checking_id": "c", "payment_hash": "h", "wallet_id": "w", "amount": 1, "fee": 0}], "total": 1}
    page["data"][0].update(bolt11="lnbc1", status="pending", time="yesterday")
    with scripted_server(lambda request: json_reply(page)) as server, lnbits(server.url, "0" * 32) as client:
        with pytest.raises(ContractViolation, match="ISO 8601") as caught:
            client.payments_page()
    assert caught.value.field == "data[0].time"


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (501, "Active backend does not implement Node API"),
        (503, "Not enabled"),
        (404, "Not Found"),
    ],
)
def test_it_reports_a_node_api_the_source_does_not_offer_as_not_supported(status, detail):
    with scripted_server(lambda request: json_reply({"detail": detail}, status=status)) as server:
        with lnbits(server.url, "0" * 32) as client, pytest.raises(NotSupported, match=detail):
            client.node_info()
    assert len(server.requests) == 1  # not retried like an outage


def test_it_reads_node_info_and_channels_where_lnbits_offers_them():
    info = {
        "id": "02" + "ab" * 32,
        "backend_name": "LND",
        "alias": "daznode-test",
        "color": "3399ff",
        "num_peers": 3,
        "blockheight": 870000,
        "channel_stats": {"counts": {}, "avg_size": 0, "biggest_size": None, "smallest_size": None},
        "addresses": [],
        "onchain_balance_sat": 150_000,
        "onchain_confirmed_sat": 150_000,
        "fees": {"total_msat": 0},
        "balance_msat": 2_000_000,
    }
    channel = {
        "peer_id": "03" + "cd" * 32,
        "balance": {"local_msat": 600_000, "remote_msat": 400_000, "total_msat": 1_000_000},
        "state": "active",
        "id": "abc:0",
        "short_id": "870000x1x0",
        "fee_ppm": 250,
        "fee_base_msat": 1000,
    }
    answers = {"/node/api/v1/info": info, "/node/api/v1/channels": [channel, {**channel, "fee_ppm": None}]}
    with scripted_server(lambda request: json_reply(answers[request.path])) as server:
        with lnbits(server.url, "0" * 32) as client:
            node, channels = client.node_info(), client.node_channels()

    assert (node.alias, node.balance_msat, node.onchain_balance_sat, node.num_peers) == (
        "daznode-test",
        2_000_000,
        150_000,
        3,
    )
    assert (channels[0].local_msat, channels[0].remote_msat, channels[0].fee_ppm) == (600_000, 400_000, 250)
    assert channels[1].fee_ppm is None


def test_it_names_the_bad_channel_in_the_node_channel_list():
    channel = {"peer_id": "p", "state": "active", "balance": {"local_msat": 1, "remote_msat": 1}}
    with scripted_server(lambda request: json_reply([channel])) as server, lnbits(server.url, "0" * 32) as client:
        with pytest.raises(ContractViolation) as caught:
            client.node_channels()
    assert caught.value.field == "channels[0].balance.total_msat"


# --- from a Source and its key in the vault ---


@pytest.mark.django_db
def test_it_builds_a_client_from_a_source_and_its_vault_key(lnbits_server):
    wallet = lnbits_server.create_wallet("vaulted", balance_sat=42)
    secret = secret_create(name="lnbits-admin", kind="lnbits_key", value=f"{wallet.adminkey}\n".encode(), actor="test")
    source = Source.objects.create(name="my-lnbits", kind=Source.Kind.LNBITS, url=lnbits_server.url, credential=secret)

    with client_for(source, actor="tester") as client:
        info = client.wallet_info()

    assert isinstance(client, LnbitsClient)
    assert (client.name, info.id, info.balance_msat) == ("my-lnbits", wallet.id, 42 * MSAT_PER_SAT)
    assert AccessEvent.objects.filter(secret=secret, actor="tester", operation=AccessEvent.Operation.READ).exists()


@pytest.mark.django_db
def test_it_refuses_a_source_without_a_usable_lnbits_key():
    source = Source.objects.create(name="keyless", kind=Source.Kind.LNBITS, url="http://127.0.0.1:1")
    with pytest.raises(AuthenticationError, match="no credential"):
        client_for(source, actor="tester")

    source.credential = secret_create(name="revoked", kind="lnbits_key", value=b"f" * 32, actor="test")
    secret_revoke(source.credential, actor="test", reason="leaked")
    with pytest.raises(AuthenticationError, match="revoked"):
        client_for(source, actor="tester")

    source.credential = secret_create(name="mcp-key", kind="api_key", value=b"e" * 32, actor="test")
    with pytest.raises(AuthenticationError, match="of kind api_key, this source takes lnbits_key"):
        client_for(source, actor="tester")
