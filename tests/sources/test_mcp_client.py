"""A Daznode reading another Daznode's graph: real HTTP against a live instance of this project."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from auth_vault.api_keys import api_key_create
from daznode.roles import Role, user_set_role
from sources.clients.errors import AuthenticationError, RequestRejected
from sources.clients.mcp import McpClient
from sources.models import GraphSnapshot, Source
from tests.sources.graphs import star_graph


@pytest.fixture
def remote_key(transactional_db):
    cache.clear()
    user = get_user_model().objects.create_user("federation")
    user_set_role(user, Role.VIEWER)
    return api_key_create(user=user, name="peer instance", actor="t")[1]


def test_it_pings_and_reads_the_remote_graph(live_server, remote_key, settings):
    source = Source.objects.create(name="file", kind=Source.Kind.FILE, url="/srv/g.json")
    GraphSnapshot.from_graph(source=source, graph=star_graph(3), ttl=settings.DAZNODE_GRAPH_TTL).save()
    with McpClient(url=live_server.url, api_key=remote_key, name="remote") as client:
        assert client.ping() > 0
        document = client.describe_graph()
    assert document.document == star_graph(3)
    assert document.summary.edge_count == 3


def test_a_remote_without_a_snapshot_says_so(live_server, remote_key):
    with McpClient(url=live_server.url, api_key=remote_key) as client:
        with pytest.raises(RequestRejected, match="no graph snapshot yet"):
            client.describe_graph()


def test_a_wrong_key_is_an_authentication_error(live_server, remote_key):
    with McpClient(url=live_server.url, api_key="dzk_00000000_wrong") as client:
        with pytest.raises(AuthenticationError, match="Invalid, expired or revoked API key"):
            client.ping()
