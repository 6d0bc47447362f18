import httpx
import pytest

from tests.conftest import child_env, free_port, running, wait_until

DB_PASSWORD = "never-in-a-body-or-log"


@pytest.mark.django_db
def test_it_answers_200_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_it_accepts_only_safe_methods(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.slow
def test_it_answers_503_with_a_clear_body_when_the_database_is_unreachable(tmp_path):
    closed_port = free_port()
    env = child_env(
        DAZNODE_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"postgresql://daznode:{DB_PASSWORD}@127.0.0.1:{closed_port}/daznode",
    )
    web_port = free_port()
    log = tmp_path / "gunicorn.log"
    command = ["gunicorn", "daznode.wsgi", "--bind", f"127.0.0.1:{web_port}", "--workers", "1"]
    with running(command, env=env, log=log):

        def answered():
            try:
                return httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=5)
            except httpx.TransportError:
                return None

        response = wait_until(answered, timeout=30, what="gunicorn to answer", log=log)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable (OperationalError)"}
    assert "database unreachable" in log.read_text()
    assert DB_PASSWORD not in response.text
    assert DB_PASSWORD not in log.read_text()


@pytest.mark.django_db
def test_https_redirects_spare_the_plain_http_probe(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/login/").status_code == 301


@pytest.mark.django_db
def test_it_answers_any_host_name_while_the_rest_keeps_the_host_check(client, settings):
    # Docker probes by address, Caddy by container name: neither is in ALLOWED_HOSTS, and a 400 there would keep
    # the whole stack waiting on a web service that works.
    settings.ALLOWED_HOSTS = ["daznode.example"]
    response = client.get("/healthz", HTTP_HOST="umbrel.local")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert client.get("/admin/login/", HTTP_HOST="umbrel.local").status_code == 400
    assert client.post("/healthz", HTTP_HOST="umbrel.local").status_code == 405
