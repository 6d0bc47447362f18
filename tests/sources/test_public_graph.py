import gzip
import json

import pytest

from sources.clients.errors import ContractViolation, SourceUnavailable
from sources.clients.public_graph import FileGraphSource, PublicGraphClient
from tests.sources.graphs import star_graph
from tests.sources.servers import Reply, scripted_server

RAW = json.dumps(star_graph(3)).encode()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=RAW),
        Reply(body=gzip.compress(RAW), headers={"Content-Type": "application/gzip"}),
        Reply(body=gzip.compress(RAW), headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}),
    ],
    ids=["json", "gzip file", "gzip encoding"],
)
def test_it_reads_a_graph_document_at_a_url(reply):
    with scripted_server(lambda request: reply) as server:
        with PublicGraphClient(url=f"{server.url}/snapshots/graph.json?fresh=1") as client:
            document = client.describe_graph()
            assert client.ping() >= 0
    assert document.summary.edge_count == 3
    assert server.requests[0].path == "/snapshots/graph.json?fresh=1"
    assert server.requests[1].method == "HEAD"


def test_an_html_page_or_a_bad_graph_is_refused():
    page = Reply(body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"})
    with scripted_server(lambda request: page) as server, PublicGraphClient(url=server.url) as client:
        with pytest.raises(ContractViolation, match="HTML page"):
            client.describe_graph()
    with scripted_server(lambda request: Reply(body=b'{"nodes": []}')) as server:
        with PublicGraphClient(url=server.url) as client, pytest.raises(ContractViolation, match="field edges"):
            client.describe_graph()


def test_a_file_source_reads_json_or_gzip_and_says_when_it_cannot(tmp_path):
    plain, packed = tmp_path / "g.json", tmp_path / "g.json.gz"
    plain.write_bytes(RAW)
    packed.write_bytes(gzip.compress(RAW))
    assert FileGraphSource(path=plain).describe_graph().document == star_graph(3)
    assert FileGraphSource(path=packed).describe_graph().summary.node_count == 4
    with pytest.raises(SourceUnavailable, match=r"cannot read .*absent\.json"):
        FileGraphSource(path=tmp_path / "absent.json").ping()
