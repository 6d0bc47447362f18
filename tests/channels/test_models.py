import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from channels.models import HEURISTICS, Channel, ChannelActivity, ChannelScore, Node
from daznode.lightning import Policy

PEER_KEY = "02" + "ab" * 32


@pytest.fixture
def peer(db):
    return Node.objects.create(pubkey=PEER_KEY, alias="peer")


def make_channel(peer, **fields) -> Channel:
    values = {
        "chan_id": 900_000 << 40,
        "chan_point": "cd" * 32 + ":1",
        "peer": peer,
        "capacity_sat": 1_000_000,
        "local_balance_sat": 400_000,
        "remote_balance_sat": 590_000,
        "base_fee_msat": 1000,
        "fee_rate_ppm": 100,
        "time_lock_delta": 80,
        "min_htlc_msat": 1000,
        "max_htlc_msat": 990_000_000,
    }
    return Channel.objects.create(**{**values, **fields})


def test_the_local_ratio_counts_our_htlcs_in_flight(peer):
    channel = make_channel(peer, local_balance_sat=300_000, pending_outgoing_sat=100_000, pending_htlc_count=2)
    assert channel.local_ratio() == pytest.approx(0.4)


def test_a_channel_cannot_hold_more_than_its_capacity(peer):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_channel(peer, local_balance_sat=600_000, remote_balance_sat=500_000)


def test_a_channel_id_from_a_far_future_block_fits(peer):
    channel = make_channel(peer, chan_id=(8_000_000 << 40) | (4095 << 16) | 7)
    channel.refresh_from_db()
    assert channel.chan_id == (8_000_000 << 40) | (4095 << 16) | 7


def test_the_policy_reads_and_writes_every_field(peer):
    channel = make_channel(peer)
    new = Policy(
        base_fee_msat=0,
        fee_rate_ppm=250,
        time_lock_delta=144,
        min_htlc_msat=1,
        max_htlc_msat=500_000_000,
        inbound_base_fee_msat=-100,
        inbound_fee_rate_ppm=-25,
        disabled=True,
    )
    channel.set_policy(new)
    channel.save()
    channel.refresh_from_db()
    assert channel.policy() == new


def test_only_one_node_is_ours(peer):
    Node.objects.create(pubkey="03" + "01" * 32, is_ours=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Node.objects.create(pubkey="03" + "02" * 32, is_ours=True)


@pytest.mark.parametrize("pubkey", ["04" + "ab" * 32, "02" + "AB" * 32, "02" + "ab" * 31])
def test_a_malformed_pubkey_is_refused(db, pubkey):
    with pytest.raises(ValidationError, match="66 lowercase hex"):
        Node(pubkey=pubkey).full_clean()


def test_a_malformed_channel_point_is_refused(peer):
    channel = make_channel(peer)
    channel.chan_point = "not-a-txid:0"
    with pytest.raises(ValidationError, match="funding_txid:output_index"):
        channel.full_clean()


def test_one_activity_row_per_channel_and_period(peer):
    channel = make_channel(peer)
    from django.utils import timezone

    start = timezone.now()
    ChannelActivity.objects.create(channel=channel, period_start=start, period_end=start + timezone.timedelta(hours=1))
    with pytest.raises(IntegrityError), transaction.atomic():
        ChannelActivity.objects.create(
            channel=channel, period_start=start, period_end=start + timezone.timedelta(hours=2)
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        ChannelActivity.objects.create(
            channel=channel,
            period_start=start + timezone.timedelta(hours=5),
            period_end=start + timezone.timedelta(hours=5),
        )


def score_fields(value: float) -> dict:
    return {f"{name}_score": value for name in HEURISTICS}


def test_scores_are_kept_as_history_with_their_sub_scores(peer):
    channel = make_channel(peer)
    weights = dict.fromkeys(HEURISTICS, 1 / 8)
    ChannelScore.objects.create(channel=channel, total_score=0.5, weights=weights, **score_fields(0.5))
    latest = ChannelScore.objects.create(channel=channel, total_score=0.7, weights=weights, **score_fields(0.7))
    assert channel.scores.count() == 2
    assert channel.scores.latest() == latest
    assert latest.sub_scores() == dict.fromkeys(HEURISTICS, 0.7)


@pytest.mark.parametrize("field", [f"{name}_score" for name in (*HEURISTICS, "total")])
def test_a_score_outside_zero_to_one_is_refused(peer, field):
    channel = make_channel(peer)
    values = {**score_fields(0.5), "total_score": 0.5, field: 1.5}
    with pytest.raises(IntegrityError), transaction.atomic():
        ChannelScore.objects.create(channel=channel, weights={}, **values)


def score_with(channel: Channel, inputs: dict) -> ChannelScore:
    scores = {f"{name}_score": 0.5 for name in (*HEURISTICS, "total")}
    return ChannelScore.objects.create(channel=channel, weights={}, inputs=inputs, **scores)


def test_a_score_gives_back_its_activity_typed(peer):
    recorded = {"window_days": 7, "forwards_out_count": 3, "forwards_in_count": 0, "failed_forwards_count": 1}
    recorded |= {"amount_out_msat": 9000, "amount_in_msat": 0, "fees_earned_msat": 12}
    activity = score_with(make_channel(peer), {"activity": recorded}).activity()
    assert (activity.window_days, activity.forwards_out_count, activity.forwards_in_count) == (7, 3, 0)


@pytest.mark.parametrize(
    "inputs", [{}, {"activity": None}, {"activity": {"forwards_out_count": 3}}, {"activity": {"window_days": -1}}]
)
def test_a_score_without_recorded_activity_says_unknown_not_zero(peer, inputs):
    assert score_with(make_channel(peer), inputs).activity() is None
