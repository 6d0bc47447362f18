"""The Umbrel app package: the committed template passes the App Store's rules, the generator writes a release
package pinned to the pushed digests (and refuses anything else), and every rule of the checker can fail."""

import importlib.util
import ipaddress
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from django.core.cache import cache

from decisions.dashboard.stats import WIDGETS, widget_address_allowed
from tests.conftest import REPO

PUSHED_DIGEST = "sha256:" + "ab" * 32
PUSHED_IMAGE = f"ghcr.io/someone/daznode:v1.2.0@{PUSHED_DIGEST}"
POSTGRES_IMAGE = "postgres:16@sha256:" + "1" * 64
REDIS_IMAGE = "redis:7@sha256:" + "2" * 64
REPO_URL = "https://github.com/someone/daznode"
# Service -> the entrypoint role it runs. Beat is embedded in the worker on Umbrel (a small box): no beat service.
DAZNODE_ROLES = {"migrate": "migrate", "web": "web", "worker": "worker-with-beat"}
DAZNODE_SERVICES = tuple(DAZNODE_ROLES)
# Where umbreld's widget requests come from (the gateway of umbrel_main_network) and the Lightning app's address.
UMBRELD_ADDRESS, LIGHTNING_ADDRESS = "10.21.0.1", "10.21.21.9"
# Addresses that must not read a widget without a login: the LAN, the host itself, Docker's default bridge, the
# next private /16 along.
OUTSIDE_ADDRESSES = ("192.168.1.20", "127.0.0.1", "172.17.0.1", "10.22.0.1", "10.0.0.5")


def _load(name: str) -> ModuleType:
    # docker/ is no package (and must not shadow the `docker` distribution): load the scripts by path.
    spec = importlib.util.spec_from_file_location(name, REPO / "docker" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


umbrel_package = _load("umbrel_package")
umbrel_lint = _load("umbrel_lint")
TEMPLATE = umbrel_package.TEMPLATE_DIR


def _read(folder: Path, name: str) -> Any:
    return yaml.safe_load((folder / name).read_text(encoding="utf-8"))


def _generate(out: Path, *extra: str, image: str = PUSHED_IMAGE) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(REPO / "docker" / "umbrel_package.py"), "--image", image]
    command += ["--postgres-image", POSTGRES_IMAGE, "--redis-image", REDIS_IMAGE, "--out", str(out), *extra]
    if "--repo-url" not in extra:
        command += ["--repo-url", REPO_URL]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_it_passes_the_app_stores_rules_as_committed() -> None:
    assert umbrel_lint.package_problems(TEMPLATE) == []


def test_it_declares_daznode_for_the_bitcoin_category_on_top_of_lightning() -> None:
    manifest = _read(TEMPLATE, "umbrel-app.yml")
    assert (manifest["id"], manifest["category"], manifest["dependencies"]) == ("daznode", "bitcoin", ["lightning"])
    assert manifest["port"] == 8795
    assert (manifest["defaultUsername"], manifest["deterministicPassword"]) == ("admin", True)


def _web_service_port(compose: dict[str, Any]) -> str:
    """The compose service that runs gunicorn and the port it listens on, as a widget endpoint names them."""
    [name] = [name for name, service in compose["services"].items() if service.get("command") == ["web"]]
    port = compose["services"][name]["environment"]["DAZNODE_BIND"].rsplit(":", 1)[1]
    assert str(compose["services"]["app_proxy"]["environment"]["APP_PORT"]) == port  # the port the user reaches
    return f"{name}:{port}"


def test_it_declares_the_widgets_exactly_as_the_dashboard_serves_them() -> None:
    manifest, compose = _read(TEMPLATE, "umbrel-app.yml"), _read(TEMPLATE, "docker-compose.yml")
    service_port = _web_service_port(compose)

    assert service_port == "web:8000"
    assert manifest["widgets"] == [widget.manifest_entry(service_port=service_port) for widget in WIDGETS.values()]
    assert [(w["id"], w["type"]) for w in manifest["widgets"]] == [("overview", "four-stats"), ("needs-you", "list")]


def _allowed_networks(compose: dict[str, Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    values = compose["x-daznode-environment"]["DAZNODE_WIDGETS_ALLOW_FROM"].split(",")
    return [ipaddress.ip_network(value.strip()) for value in values]  # as daznode/settings.py reads them


def test_it_lets_umbrels_app_network_and_nothing_wider_read_the_widgets(settings) -> None:
    compose = _read(TEMPLATE, "docker-compose.yml")
    settings.DAZNODE_WIDGETS_ALLOW_FROM = _allowed_networks(compose)

    assert [str(network) for network in settings.DAZNODE_WIDGETS_ALLOW_FROM] == ["10.21.0.0/16"]
    assert widget_address_allowed(UMBRELD_ADDRESS) and widget_address_allowed(LIGHTNING_ADDRESS)
    assert not any(widget_address_allowed(address) for address in OUTSIDE_ADDRESSES)
    for name in DAZNODE_SERVICES:  # the anchor reaches every Daznode service, web included
        assert compose["services"][name]["environment"]["DAZNODE_WIDGETS_ALLOW_FROM"] == "10.21.0.0/16"


def test_it_points_each_widget_at_an_endpoint_that_answers_umbreld_without_a_login(client, db, settings) -> None:
    cache.clear()  # the read limit counts per address
    settings.DAZNODE_WIDGETS_ALLOW_FROM = _allowed_networks(_read(TEMPLATE, "docker-compose.yml"))

    for entry in _read(TEMPLATE, "umbrel-app.yml")["widgets"]:
        path = "/" + entry["endpoint"].split("/", 1)[1]
        answer = client.get(path, REMOTE_ADDR=UMBRELD_ADDRESS)
        outside = client.get(path, REMOTE_ADDR=OUTSIDE_ADDRESSES[0])

        assert answer.status_code == 200, (path, answer.content)
        document = answer.json()
        assert document["type"] == entry["type"] and document["refresh"] == entry["refresh"]
        assert set(entry["example"]) <= set(document), path  # the example shows what the endpoint answers
        assert outside.status_code == 403


def test_it_reaches_lnd_through_the_lightning_apps_exports_and_a_read_only_mount() -> None:
    services = _read(TEMPLATE, "docker-compose.yml")["services"]
    for name in DAZNODE_SERVICES:
        environment = services[name]["environment"]
        assert environment["DAZNODE_LND_URL"] == "https://${APP_LIGHTNING_NODE_IP}:${APP_LIGHTNING_NODE_REST_PORT}"
        assert environment["DAZNODE_LND_TLS_CERT_FILE"] == "/lnd/tls.cert"
        macaroon = "/lnd/data/chain/bitcoin/${APP_BITCOIN_NETWORK}/admin.macaroon"
        assert environment["DAZNODE_LND_MACAROON_FILE"] == macaroon
        assert environment["DAZNODE_ADMIN_PASSWORD"] == "${APP_PASSWORD}"
        assert environment["DAZNODE_DECISION_MODE"] == "dry_run"
        assert "${APP_LIGHTNING_NODE_DATA_DIR}:/lnd:ro" in services[name]["volumes"]
        assert services[name]["command"] == [DAZNODE_ROLES[name]]


def test_it_runs_the_small_stack_with_one_scheduler_whose_health_is_checked() -> None:
    services = _read(TEMPLATE, "docker-compose.yml")["services"]
    roles = [service.get("command") for service in services.values()]
    assert ["beat"] not in roles
    assert roles.count(["worker-with-beat"]) == 1
    worker = services["worker"]
    assert worker["healthcheck"]["test"] == ["CMD", "docker/entrypoint.sh", "healthcheck", "worker-with-beat"]
    assert "deploy" not in worker  # no replicas: a second embedded beat would send every task twice
    environment = worker["environment"]
    assert (environment["DAZNODE_WORKER_POOL"], environment["DAZNODE_WORKER_CONCURRENCY"]) == ("solo", "1")
    assert services["web"]["environment"]["DAZNODE_WEB_WORKERS"] == "1"


def test_it_holds_only_placeholders_that_the_generator_replaces() -> None:
    compose = (TEMPLATE / "docker-compose.yml").read_text(encoding="utf-8")
    images = {
        service["image"] for service in _read(TEMPLATE, "docker-compose.yml")["services"].values() if "image" in service
    }
    assert images == {
        umbrel_package.PLACEHOLDER_IMAGE,
        umbrel_package.PLACEHOLDER_POSTGRES_IMAGE,
        umbrel_package.PLACEHOLDER_REDIS_IMAGE,
    }
    assert compose.count(umbrel_package.PLACEHOLDER_IMAGE) == len(DAZNODE_SERVICES)


def test_it_writes_a_release_package_pinned_to_the_pushed_digests(tmp_path: Path) -> None:
    result = _generate(tmp_path)

    assert result.returncode == 0, result.stderr
    package = tmp_path / "daznode"
    assert umbrel_lint.package_problems(package) == []
    services = _read(package, "docker-compose.yml")["services"]
    assert {services[name]["image"] for name in DAZNODE_SERVICES} == {PUSHED_IMAGE}
    assert (services["postgres"]["image"], services["redis"]["image"]) == (POSTGRES_IMAGE, REDIS_IMAGE)
    manifest = _read(package, "umbrel-app.yml")
    assert manifest["version"] == "1.2.0"
    assert (manifest["website"], manifest["repo"], manifest["support"]) == (REPO_URL, REPO_URL, REPO_URL)
    assert umbrel_package.PLACEHOLDER_DIGEST not in (package / "docker-compose.yml").read_text(encoding="utf-8")
    assert (package / "exports.sh").read_text() == (TEMPLATE / "exports.sh").read_text()
    assert all((package / "data" / name / ".gitkeep").is_file() for name in ("daznode", "postgres", "redis"))
    assert manifest["widgets"] == _read(TEMPLATE, "umbrel-app.yml")["widgets"]
    assert "submission is still the placeholder" in result.stdout


def test_it_replaces_an_earlier_package_and_takes_the_submission(tmp_path: Path) -> None:
    (tmp_path / "daznode").mkdir()
    (tmp_path / "daznode" / "stale.txt").write_text("from an earlier release")
    submission = "https://github.com/getumbrel/umbrel-apps/pull/4242"

    result = _generate(tmp_path, "--submission", submission)

    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "daznode" / "stale.txt").exists()
    assert _read(tmp_path / "daznode", "umbrel-app.yml")["submission"] == submission


def test_make_umbrel_package_runs_the_generator(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "make",
            "-s",
            "umbrel-package",
            f"IMAGE={PUSHED_IMAGE}",
            f"POSTGRES_IMAGE={POSTGRES_IMAGE}",
            f"REDIS_IMAGE={REDIS_IMAGE}",
            f"REPO_URL={REPO_URL}",
            f"UMBREL_OUT={tmp_path}",
            f"PYTHON={sys.executable}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert umbrel_lint.package_problems(tmp_path / "daznode") == []


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (f"ghcr.io/someone/daznode:1.2.0@{umbrel_package.PLACEHOLDER_DIGEST}", "placeholder digest"),
        ("ghcr.io/someone/daznode:1.2.0", "NAME:TAG@sha256"),
        (f"ghcr.io/someone/daznode@{PUSHED_DIGEST}", "NAME:TAG@sha256"),
        ("ghcr.io/someone/daznode:1.2.0@sha256:abc", "NAME:TAG@sha256"),
        (f"ghcr.io/someone/daznode:latest@{PUSHED_DIGEST}", "not latest"),
    ],
)
def test_it_refuses_an_image_that_is_not_pinned_to_a_pushed_version(tmp_path: Path, image: str, message: str) -> None:
    result = _generate(tmp_path, image=image)

    assert result.returncode == 2
    assert "--image" in result.stderr and message in result.stderr
    assert not (tmp_path / "daznode").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--repo-url", umbrel_package.PLACEHOLDER_REPO_URL), "--repo-url is the placeholder"),
        (("--repo-url", "http://github.com/someone/daznode"), "--repo-url must be an https URL"),
        (("--submission", "pull 4242"), "--submission must be an https URL"),
    ],
)
def test_it_refuses_urls_a_release_cannot_carry(tmp_path: Path, extra: tuple[str, str], message: str) -> None:
    result = _generate(tmp_path, *extra)

    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "daznode").exists()


def test_it_never_writes_over_the_template() -> None:
    before = (TEMPLATE / "docker-compose.yml").read_text(encoding="utf-8")

    result = _generate(TEMPLATE.parent)

    assert result.returncode == 2
    assert "would overwrite the template" in result.stderr
    assert (TEMPLATE / "docker-compose.yml").read_text(encoding="utf-8") == before


def test_it_stops_when_the_template_lost_a_placeholder(tmp_path: Path) -> None:
    template = tmp_path / "template" / "daznode"
    shutil.copytree(TEMPLATE, template)
    compose = template / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace(umbrel_package.PLACEHOLDER_REDIS_IMAGE, "redis:7.4@sha256:" + "3" * 64)
    )
    release = umbrel_package.Release(
        image=PUSHED_IMAGE, postgres_image=POSTGRES_IMAGE, redis_image=REDIS_IMAGE, repo_url=REPO_URL
    )

    with pytest.raises(umbrel_package.PackageError, match="no longer holds the placeholder"):
        umbrel_package.package_write(release=release, out_dir=tmp_path / "out", template_dir=template)
    assert not (tmp_path / "out").exists()


# Each broken variant of the package, and the problem the checker must report for it.
Mutation = Callable[[dict[str, Any], dict[str, Any], Path], None]


def _service(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda compose: compose["services"][name]


def _set_service(name: str, key: str, value: Any) -> Mutation:
    return lambda manifest, compose, folder: _service(name)(compose).__setitem__(key, value)


def _set_manifest(key: str, value: Any) -> Mutation:
    return lambda manifest, compose, folder: manifest.__setitem__(key, value)


def _add_hook(manifest: dict[str, Any], compose: dict[str, Any], folder: Path) -> None:
    (folder / "hooks").mkdir()
    (folder / "hooks" / "pre-start").write_text("#!/bin/sh\n")


def _drop_gitkeep(manifest: dict[str, Any], compose: dict[str, Any], folder: Path) -> None:
    (folder / "data" / "redis" / ".gitkeep").unlink()


BROKEN = {
    "missing key": (lambda m, c, f: m.pop("tagline"), "manifest: tagline is missing"),
    "port as text": (_set_manifest("port", "8795"), "manifest: port must be int"),
    "boolean as text": (_set_manifest("deterministicPassword", "true"), "deterministicPassword must be bool"),
    "id not the folder": (_set_manifest("id", "daznode-app"), "equal the folder 'daznode'"),
    "unknown category": (_set_manifest("category", "lightning"), "category 'lightning' is not one of"),
    "reserved port": (_set_manifest("port", 2000), "port 2000 is reserved"),
    "hooks on version 1": (_add_hook, "manifestVersion must be 1.1 when the package has hooks"),
    "website not a URL": (_set_manifest("website", "daznode"), "website must be a URL"),
    "relative path": (_set_manifest("path", "admin"), "path must be empty or start with /"),
    "widget with a scheme": (
        _set_manifest(
            "widgets",
            [
                {
                    "id": "fees",
                    "type": "four-stats",
                    "refresh": "30s",
                    "endpoint": "http://web:8000/w",
                    "link": "",
                    "example": {},
                }
            ],
        ),
        "endpoint must read service:port/path",
    ),
    "widget at a container name": (
        lambda m, c, f: m["widgets"][0].__setitem__("endpoint", "daznode_web_1:8000/umbrel-ui/api/widgets/overview"),
        "widgets: overview: endpoint service 'daznode_web_1' is not a service of this app",
    ),
    "widget at the app proxy": (
        lambda m, c, f: m["widgets"][1].__setitem__("endpoint", "app_proxy:8795/umbrel-ui/api/widgets/needs-you"),
        "widgets: needs-you: endpoint service 'app_proxy' is not a service of this app",
    ),
    "widget of an unknown type": (
        lambda m, c, f: m["widgets"][0].__setitem__("type", "four-up"),
        "widgets: overview: type 'four-up' is not one of",
    ),
    "widgets with one id twice": (
        lambda m, c, f: m["widgets"][1].__setitem__("id", "overview"),
        "widgets: each must be a mapping with a unique id",
    ),
    "image without digest": (_set_service("web", "image", "ghcr.io/someone/daznode:1.2.0"), "NAME:TAG@sha256"),
    "latest tag": (_set_service("web", "image", f"ghcr.io/someone/daznode:latest@{PUSHED_DIGEST}"), "image tag latest"),
    "build": (_set_service("web", "build", {"context": "."}), "web: build is not allowed"),
    "restart policy": (_set_service("worker", "restart", "unless-stopped"), "worker: restart must be on-failure"),
    "healthy without healthcheck": (
        lambda m, c, f: c["services"]["postgres"].pop("healthcheck"),
        "waits for postgres to be healthy but postgres has no healthcheck",
    ),
    "app data dir itself": (_set_service("web", "volumes", ["${APP_DATA_DIR}:/data"]), "mounts ${APP_DATA_DIR} itself"),
    "docker socket": (
        _set_service("worker", "volumes", ["/var/run/docker.sock:/var/run/docker.sock"]),
        "mounts the Docker socket",
    ),
    "privileged": (_set_service("web", "privileged", True), "web: privileged is not allowed"),
    "host network": (_set_service("web", "network_mode", "host"), "web: host networking is not allowed"),
    "no proxy host": (lambda m, c, f: c["services"]["app_proxy"]["environment"].pop("APP_HOST"), "APP_HOST None"),
    "proxy to another app": (
        lambda m, c, f: c["services"]["app_proxy"]["environment"].__setitem__("APP_HOST", "lndg_web_1"),
        "APP_HOST 'lndg_web_1' must be a service of this file",
    ),
    "proxy port as a word": (
        lambda m, c, f: c["services"]["app_proxy"]["environment"].__setitem__("APP_PORT", "web"),
        "APP_PORT 'web' must be a number",
    ),
    "implicit port": (_set_service("web", "ports", ["8000"]), "needs an explicit host:container mapping"),
    "data folder not shipped": (_drop_gitkeep, "${APP_DATA_DIR}/data/redis has no folder with a .gitkeep"),
}


def _rewrite(package: Path, manifest: dict[str, Any], compose: dict[str, Any]) -> None:
    (package / "umbrel-app.yml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    (package / "docker-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False), encoding="utf-8")


def test_the_variants_start_from_a_package_that_passes(tmp_path: Path) -> None:
    package = tmp_path / "daznode"
    shutil.copytree(TEMPLATE, package)
    _rewrite(package, _read(package, "umbrel-app.yml"), _read(package, "docker-compose.yml"))

    assert umbrel_lint.package_problems(package) == []


@pytest.mark.parametrize("variant", BROKEN)
def test_the_checker_reports_each_broken_rule(tmp_path: Path, variant: str) -> None:
    mutate, expected = BROKEN[variant]
    package = tmp_path / "daznode"
    shutil.copytree(TEMPLATE, package)
    manifest, compose = _read(package, "umbrel-app.yml"), _read(package, "docker-compose.yml")
    mutate(manifest, compose, package)
    _rewrite(package, manifest, compose)

    problems = umbrel_lint.package_problems(package)

    assert any(expected in problem for problem in problems), problems


def test_the_checker_exits_non_zero_and_names_each_problem(tmp_path: Path) -> None:
    package = tmp_path / "daznode"
    shutil.copytree(TEMPLATE, package)
    (package / "docker-compose.yml").write_text("services:\n  web:\n    build: .\n", encoding="utf-8")

    result = subprocess.run(
        [sys.executable, str(REPO / "docker" / "umbrel_lint.py"), str(package)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "web: build is not allowed" in result.stderr and "APP_HOST" in result.stderr
