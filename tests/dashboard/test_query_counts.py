"""Every page costs the same number of queries for 50 channels as for 500: nothing is fetched row by row."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels.models import Channel
from decisions.engine import FEE_CHANGES
from decisions.models import Decision
from tests.dashboard.history import history_build

PAGES = (
    "/umbrel-ui/dashboard",
    "/umbrel-ui/channels",
    "/umbrel-ui/channels?sort=-score",
    "/umbrel-ui/channels/{chan_id}",
    "/umbrel-ui/decisions",
    "/umbrel-ui/decisions/{decision_pk}",
    "/umbrel-ui/decisions/{decision_pk}/apply",  # the confirmation step, with the exact diff
    "/umbrel-ui/sources",
    "/umbrel-ui/api/stats",
    "/umbrel-ui/api/widgets/overview",
    "/umbrel-ui/charts/earnings.svg",
    "/umbrel-ui/charts/liquidity.svg",
    "/umbrel-ui/charts/channels/{chan_id}/scores.svg",
)
# A page may make more queries than this at any size, never more at 500 channels than at 50.
MOST_QUERIES_PER_PAGE = 40


def queries_per_page(client) -> dict[str, int]:
    chan_id = Channel.objects.order_by("chan_id").values_list("chan_id", flat=True).first()
    # The first pending fee change: the same one at both sizes (the second batch's decisions come after it).
    waiting = Decision.objects.filter(status=Decision.Status.PENDING, kind__in=FEE_CHANGES).order_by("pk")
    decision_pk = waiting.values_list("pk", flat=True).first()
    assert decision_pk is not None, "the history leaves fee changes pending in its latest cycle"
    counts = {}
    for page in PAGES:
        url = page.format(chan_id=chan_id, decision_pk=decision_pk)
        client.get(url)  # first view: sessions, caches and the like warm up
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts[page] = len(captured)
    return counts


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("query-admin", "qa@example.org", "query-admin-password")
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_it_makes_as_many_queries_for_500_channels_as_for_50(admin_client):
    history_build(channels=50, days=3, scores_per_day=4)
    small = queries_per_page(admin_client)
    history_build(channels=450, days=3, scores_per_day=4, seed=8, first_index=51)
    large = queries_per_page(admin_client)
    assert large == small
    assert max(large.values()) <= MOST_QUERIES_PER_PAGE, large
