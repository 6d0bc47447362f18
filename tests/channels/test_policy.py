import pytest

from channels.policy import Policy

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
