"""docker/compose.yml read as data: what can be checked without Docker (`make compose-smoke` runs it for real)."""

import re

import yaml

from tests.conftest import REPO

DOCKER = REPO / "docker"
DAZNODE_ROLES = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("web", "worker", "beat", "postgres", "redis", "caddy")
COMPOSE_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
ENV_READ = re.compile(r'env_(\w+)\(\s*"([A-Z][A-Z0-9_]+)"')
SHELL_READ = re.compile(r"\$\{?([A-Z][A-Z0-9_]+)")


# What an operator runs (the offline file is the smoke test's own).
OPERATOR_FILES = ("compose.yml", "compose.lnd.yml")


def compose_variables() -> set[str]:
    return {name for file in OPERATOR_FILES for name in COMPOSE_VARIABLE.findall((DOCKER / file).read_text())}


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())


def variables_daznode_reads() -> set[str]:
    names = set()
    for path in (REPO / "daznode").glob("*.py"):
        for helper, name in ENV_READ.findall(path.read_text()):
            names.add(name)
            if helper in ("secret", "url"):  # both accept NAME_FILE (daznode.env.env_secret)
                names.add(f"{name}_FILE")
    names.update(SHELL_READ.findall((DOCKER / "entrypoint.sh").read_text()))
    return names


def test_it_builds_one_image_once_and_runs_every_role_from_it():
    services = compose()["services"]
    assert [name for name, service in services.items() if "build" in service] == ["migrate"]
    assert len({services[role]["image"] for role in DAZNODE_ROLES}) == 1
    assert [services[role]["command"] for role in DAZNODE_ROLES] == [[role] for role in DAZNODE_ROLES]


def test_it_passes_only_variables_daznode_reads():
    # DAZNODE_DRY_RUN was passed and read by nothing, while DAZNODE_DECISION_MODE was not passed at all.
    environment = compose()["services"]["web"]["environment"]
    unread = sorted(set(environment) - variables_daznode_reads())
    assert unread == [], f"compose passes variables nothing reads: {unread}"
    assert environment["DAZNODE_DECISION_MODE"] == "${DAZNODE_DECISION_MODE:-dry_run}"


def test_it_gives_every_long_running_service_a_healthcheck_and_waits_for_health():
    services = compose()["services"]
    assert [name for name in LONG_RUNNING if "healthcheck" not in services[name]] == []
    for role in ("web", "worker", "beat"):
        assert services[role]["healthcheck"]["test"] == ["CMD", "docker/entrypoint.sh", "healthcheck", role]
        assert services[role]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[role]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["migrate"]["restart"] == "no"
    assert services["caddy"]["depends_on"]["web"] == {"condition": "service_healthy"}


def test_it_keeps_the_broker_across_a_redis_restart():
    redis = compose()["services"]["redis"]
    assert redis["command"][-2:] == ["--appendonly", "yes"]
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_it_reads_secrets_from_files_that_init_secrets_creates():
    document = compose()
    files = {name: secret["file"] for name, secret in document["secrets"].items()}
    assert files == {name: f"./secrets/{name}" for name in ("secret_key", "admin_password", "vault_keys")}
    environment = document["services"]["web"]["environment"]
    assert {value for name, value in environment.items() if name.endswith("_FILE")} == {
        f"/run/secrets/{name}" for name in files
    }


def test_every_variable_compose_substitutes_is_in_the_env_example():
    used = compose_variables()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (DOCKER / ".env.example").read_text(), re.MULTILINE))
    assert len(used) >= 10
    assert sorted(used - listed) == []


def test_every_variable_compose_substitutes_is_documented_in_the_readme():
    used = compose_variables()
    readme = (REPO / "README.md").read_text()
    assert sorted(name for name in used if f"`{name}`" not in readme) == []


def test_it_mounts_lnd_read_only_into_migrate_only_which_imports_it():
    services = yaml.safe_load((DOCKER / "compose.lnd.yml").read_text())["services"]
    assert list(services) == ["migrate"]
    assert services["migrate"]["volumes"][0].endswith(":/lnd:ro")
    assert set(services["migrate"]["environment"]) <= variables_daznode_reads()
    assert "lnd_import" in (DOCKER / "entrypoint.sh").read_text()
