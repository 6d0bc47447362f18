"""The Lightning value types: policies, identifiers and units, checked against the whole text."""

import pytest

from daznode.lightning import (
    LARGEST_CHAN_ID,
    ChanPoint,
    Policy,
    is_pubkey,
    local_ratio,
    parse_chan_id,
    parse_chan_point,
    parse_pubkey,
)

PUBKEY = "02" + "ab" * 32
TXID = "f" * 64

COMPLETE = {
    "base_fee_msat": 1000,
    "fee_rate_ppm": 100,
    "time_lock_delta": 80,
    "min_htlc_msat": 1000,
    "max_htlc_msat": 990_000_000,
}


def test_it_round_trips_through_a_dict():
    policy = Policy(**COMPLETE, inbound_fee_rate_ppm=-50, disabled=True)
    assert Policy.from_dict(policy.to_dict()) == policy


def test_a_forward_earns_base_fee_plus_proportional_fee_rounded_down():
    policy = Policy.from_dict(COMPLETE)
    assert policy.fee_msat(1_000_000) == 1000 + 100
    assert policy.fee_msat(9_999) == 1000  # 0.9999 msat of proportional fee rounds down to 0


@pytest.mark.parametrize(
    "field", ["base_fee_msat", "fee_rate_ppm", "time_lock_delta", "min_htlc_msat", "max_htlc_msat"]
)
def test_it_refuses_an_incomplete_policy_naming_the_missing_field(field):
    incomplete = {key: value for key, value in COMPLETE.items() if key != field}
    with pytest.raises(ValueError, match=f"policy field\\(s\\) missing: {field}"):
        Policy.from_dict(incomplete)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fee_rate_ppm", "100", "fee_rate_ppm must be an integer"),
        ("base_fee_msat", 1.5, "base_fee_msat must be an integer"),
        ("time_lock_delta", True, "time_lock_delta must be an integer"),
        ("base_fee_msat", -1, "base_fee_msat must be between 0"),
        ("fee_rate_ppm", 2**32, "fee_rate_ppm must be between 0 and 4294967295"),
        ("inbound_fee_rate_ppm", -(2**31) - 1, "inbound_fee_rate_ppm must be between"),
        ("disabled", "no", "disabled must be true or false"),
    ],
)
def test_it_refuses_mistyped_or_out_of_range_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        Policy.from_dict({**COMPLETE, field: value})


def test_it_refuses_unknown_fields_and_non_objects():
    with pytest.raises(ValueError, match="unknown policy field\\(s\\): fee_rate"):
        Policy.from_dict({**COMPLETE, "fee_rate": 0.0001})
    with pytest.raises(ValueError, match="a policy must be an object, got list"):
        Policy.from_dict([1, 2])


def test_negative_inbound_fees_are_discounts_and_allowed():
    assert Policy.from_dict({**COMPLETE, "inbound_base_fee_msat": -1000}).inbound_base_fee_msat == -1000


@pytest.mark.parametrize(
    "text",
    [
        PUBKEY + "\n",  # `$` would match before it
        PUBKEY + " ",
        " " + PUBKEY,
        PUBKEY.upper(),
        "04" + "ab" * 32,
        PUBKEY[:-1],
        PUBKEY[:-1] + "\u0663",  # an Arabic-Indic digit three: a digit to `\\d`, not to [0-9]
        PUBKEY[:-1] + "\uff11",  # a fullwidth one
        None,
        42,
    ],
)
def test_it_refuses_anything_but_exactly_a_public_key(text):
    assert not is_pubkey(text)
    with pytest.raises(ValueError, match="66 lowercase hex"):
        parse_pubkey(text)


def test_it_accepts_a_public_key():
    assert parse_pubkey(PUBKEY) == PUBKEY
    assert parse_pubkey("03" + "0" * 64)


@pytest.mark.parametrize(
    ("text", "chan_id"),
    [
        ("820000000000000001", 820000000000000001),
        ("0", 0),
        (str(LARGEST_CHAN_ID), LARGEST_CHAN_ID),
        ("745800x1234x1", 745800 << 40 | 1234 << 16 | 1),
        ("1x0x0", 1 << 40),
    ],
)
def test_it_parses_a_short_channel_id_as_an_integer_or_block_tx_output(text, chan_id):
    assert parse_chan_id(text) == chan_id


@pytest.mark.parametrize(
    "text",
    [
        "820000000000000001\n",
        " 820000000000000001",
        "820000000000000001 ",
        "\u0661\u0662\u0663",  # Arabic-Indic digits: int() would take them
        "-1",
        "+1",
        "1_000",
        str(LARGEST_CHAN_ID + 1),
        "9" * 25,
        "745800x1234x1\n",
        "745800x1234",
        "16777216x0x0",  # the block number has 24 bits
        "1x16777216x0",
        "1x0x65536",
        "8388608x0x0",  # fits the wire format, not the signed database column
        "",
        None,
        12,
    ],
)
def test_it_refuses_anything_else_as_a_channel_id(text):
    with pytest.raises(ValueError, match="a channel id is a string of digits"):
        parse_chan_id(text)


def test_it_parses_a_channel_point_exactly():
    assert parse_chan_point(f"{TXID}:1") == ChanPoint(TXID, 1)
    assert str(parse_chan_point(f"{TXID}:1")) == f"{TXID}:1"


@pytest.mark.parametrize(
    "text", [f"{TXID}:1\n", f"{TXID}:", f"{TXID}:-1", f"{TXID.upper()}:1", f"{TXID}:4294967296", f"{TXID}:\u0661"]
)
def test_it_refuses_a_malformed_channel_point(text):
    with pytest.raises(ValueError, match="A channel point is funding_txid:output_index"):
        parse_chan_point(text)


def test_the_local_ratio_counts_outgoing_htlcs_as_ours_and_stays_within_one():
    assert local_ratio(capacity_sat=1000, local_balance_sat=300, pending_outgoing_sat=100) == 0.4
    assert local_ratio(capacity_sat=1000, local_balance_sat=1000, pending_outgoing_sat=100) == 1.0
    assert local_ratio(capacity_sat=0, local_balance_sat=0) == 0.0
