"""Check an Umbrel app package against the rules of the Umbrel App Store's linter.

    python docker/umbrel_lint.py docker/umbrel/daznode

The rules are those summarised in ../shared/UMBREL.md (the store's `.tools/lint-apps.mjs`), read as errors
here, warnings included: a package we submit should draw none. Needs PyYAML (requirements/dev.txt).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

# The generator beside this file holds the one definition of a pinned image reference.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from umbrel_package import IMAGE_PATTERN

CATEGORIES = frozenset(
    {"ai", "automation", "bitcoin", "crypto", "developer", "files", "finance", "media", "networking", "social"}
)
RESERVED_PORTS = frozenset({80, 443, 2000})
HOOK_NAMES = frozenset(
    {"pre-install", "post-install", "pre-start", "post-start", "pre-stop", "post-stop", "pre-update", "post-update"}
)
WIDGET_TYPES = frozenset(
    {
        "text-with-buttons",
        "text-with-progress",
        "two-stats-with-guage",
        "three-stats",
        "four-stats",
        "list",
        "list-emoji",
    }
)
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
WIDGET_ENDPOINT = re.compile(r"^[a-z0-9_-]+:\d+/\S*$")
VARIABLE = re.compile(r"^\$\{?[A-Z0-9_]+\}?$")
APP_DATA_DIR_ITSELF = re.compile(r"^\$\{?APP_DATA_DIR\}?/?$")
DOCKER_SOCKET = "docker.sock"

# Required manifest keys and the types their values must have (bool is an int in Python: checked apart).
REQUIRED_KEYS: dict[str, tuple[type, ...]] = {
    "manifestVersion": (int, float),
    "id": (str,),
    "category": (str,),
    "name": (str,),
    "version": (str,),
    "tagline": (str,),
    "description": (str,),
    "developer": (str,),
    "website": (str,),
    "dependencies": (list,),
    "repo": (str,),
    "support": (str,),
    "port": (int,),
    "gallery": (list,),
    "path": (str,),
    "submitter": (str,),
    "submission": (str,),
}
OPTIONAL_KEYS: dict[str, tuple[type, ...]] = {
    "releaseNotes": (str,),
    "defaultUsername": (str,),
    "defaultPassword": (str,),
    "icon": (str,),
    "deterministicPassword": (bool,),
    "optimizedForUmbrelHome": (bool,),
    "torOnly": (bool,),
    "requiresHttps": (bool,),
    "widgets": (list,),
}


def _type_problem(key: str, value: Any, types: tuple[type, ...]) -> str | None:
    wants_bool = types == (bool,)
    if isinstance(value, bool) != wants_bool or not isinstance(value, types):
        return f"manifest: {key} must be {' or '.join(t.__name__ for t in types)}, got {value!r}"
    return None


def manifest_problems(manifest: Any, *, folder_name: str, has_hooks: bool) -> list[str]:
    if not isinstance(manifest, dict):
        return ["manifest: not a mapping"]
    problems = [f"manifest: {key} is missing" for key in REQUIRED_KEYS if key not in manifest]
    for key, types in (REQUIRED_KEYS | OPTIONAL_KEYS).items():
        if key in manifest and (problem := _type_problem(key, manifest[key], types)):
            problems.append(problem)
    if problems:
        return problems
    version = manifest["manifestVersion"]
    if version not in (1, 1.1):
        problems.append(f"manifest: manifestVersion must be 1 or 1.1, got {version}")
    if has_hooks and version != 1.1:
        problems.append("manifest: manifestVersion must be 1.1 when the package has hooks")
    if not KEBAB.match(manifest["id"]) or manifest["id"] != folder_name:
        problems.append(f"manifest: id {manifest['id']!r} must be kebab-case and equal the folder {folder_name!r}")
    if manifest["category"] not in CATEGORIES:
        problems.append(f"manifest: category {manifest['category']!r} is not one of {sorted(CATEGORIES)}")
    if not all(isinstance(app, str) and KEBAB.match(app) for app in manifest["dependencies"]):
        problems.append("manifest: dependencies must be app ids")
    for key in ("website", "submission"):
        if not URL.match(manifest[key]):
            problems.append(f"manifest: {key} must be a URL, got {manifest[key]!r}")
    if manifest["repo"] and not URL.match(manifest["repo"]):
        problems.append(f"manifest: repo must be a URL or empty, got {manifest['repo']!r}")
    port = manifest["port"]
    if port in RESERVED_PORTS or not 1 <= port <= 65535:
        problems.append(f"manifest: port {port} is reserved or out of range")
    if manifest["path"] and not manifest["path"].startswith("/"):
        problems.append(f"manifest: path must be empty or start with /, got {manifest['path']!r}")
    return problems + _widget_problems(manifest.get("widgets", []))


def _widget_problems(widgets: list[Any]) -> list[str]:
    problems = []
    ids = [widget.get("id") for widget in widgets if isinstance(widget, dict)]
    if len(ids) != len(set(ids)) or len(ids) != len(widgets):
        problems.append("widgets: each must be a mapping with a unique id")
    for widget in (widget for widget in widgets if isinstance(widget, dict)):
        name = widget.get("id")
        if not isinstance(name, str) or not KEBAB.match(name):
            problems.append(f"widgets: id {name!r} must be kebab-case")
        if widget.get("type") not in WIDGET_TYPES:
            problems.append(f"widgets: {name}: type {widget.get('type')!r} is not one of {sorted(WIDGET_TYPES)}")
        if not isinstance(widget.get("refresh"), str):
            problems.append(f"widgets: {name}: refresh must be a string such as '30s'")
        if not WIDGET_ENDPOINT.match(str(widget.get("endpoint", ""))):
            problems.append(f"widgets: {name}: endpoint must read service:port/path, without a scheme")
        if not isinstance(widget.get("link"), str) or not isinstance(widget.get("example"), dict):
            problems.append(f"widgets: {name}: link must be a string and example a mapping")
    return problems


def widget_service_problems(manifest: Any, compose: Any) -> list[str]:
    """umbreld reads a widget endpoint's host as a service of the compose file and fetches from that service's
    container: a container name, another app's service or the app proxy is no endpoint it can reach."""
    widgets = manifest.get("widgets") if isinstance(manifest, dict) else None
    services = compose.get("services") if isinstance(compose, dict) else None
    if not isinstance(widgets, list) or not isinstance(services, dict):
        return []
    problems = []
    for widget in (widget for widget in widgets if isinstance(widget, dict)):
        service = str(widget.get("endpoint", "")).split(":", 1)[0]
        if service not in services or service == "app_proxy":
            problems.append(f"widgets: {widget.get('id')}: endpoint service {service!r} is not a service of this app")
    return problems


def _volume_source(volume: Any) -> str:
    if isinstance(volume, dict):
        return str(volume.get("source", ""))
    return str(volume).split(":", 1)[0]


def _service_problems(name: str, service: dict[str, Any], services: dict[str, Any]) -> list[str]:
    problems = []
    if "build" in service:
        problems.append(f"compose: {name}: build is not allowed, use a prebuilt image")
    image = service.get("image")
    if not isinstance(image, str) or not IMAGE_PATTERN.match(image):
        problems.append(f"compose: {name}: image {image!r} must read NAME:TAG@sha256:<64 hex digits>")
    elif image.split("@", 1)[0].endswith(":latest"):
        problems.append(f"compose: {name}: image tag latest")
    if service.get("restart") != "on-failure":
        problems.append(f"compose: {name}: restart must be on-failure, got {service.get('restart')!r}")
    depends_on = service.get("depends_on", {})
    for other, condition in depends_on.items() if isinstance(depends_on, dict) else ():
        waits_for_health = isinstance(condition, dict) and condition.get("condition") == "service_healthy"
        if waits_for_health and "healthcheck" not in services.get(other, {}):
            problems.append(f"compose: {name}: waits for {other} to be healthy but {other} has no healthcheck")
    for volume in service.get("volumes", []):
        source = _volume_source(volume)
        if APP_DATA_DIR_ITSELF.match(source):
            problems.append(f"compose: {name}: mounts ${{APP_DATA_DIR}} itself, mount a subfolder")
        if DOCKER_SOCKET in str(volume):
            problems.append(f"compose: {name}: mounts the Docker socket")
    for key in ("privileged", "cap_add", "devices"):
        if service.get(key):
            problems.append(f"compose: {name}: {key} is not allowed")
    if service.get("network_mode") == "host":
        problems.append(f"compose: {name}: host networking is not allowed")
    for port in service.get("ports", []):
        if not _is_explicit_mapping(port):
            problems.append(f"compose: {name}: port {port!r} needs an explicit host:container mapping")
    return problems


def _is_explicit_mapping(port: Any) -> bool:
    if isinstance(port, dict):
        return "published" in port and "target" in port
    return isinstance(port, str) and ":" in port


def _proxy_problems(app_id: str, services: dict[str, Any]) -> list[str]:
    environment = (services.get("app_proxy") or {}).get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment if "=" in item)
    host, port = environment.get("APP_HOST"), environment.get("APP_PORT")
    problems = []
    known_hosts = set(services) | {f"{app_id}_{service}_1" for service in services}
    if not isinstance(host, str) or not (host in known_hosts or VARIABLE.match(host)):
        problems.append(f"compose: app_proxy: APP_HOST {host!r} must be a service of this file or a variable")
    if not (isinstance(port, int) or (isinstance(port, str) and (port.isdigit() or VARIABLE.match(port)))):
        problems.append(f"compose: app_proxy: APP_PORT {port!r} must be a number or a variable")
    return problems


def compose_problems(compose: Any, *, app_id: str, package_dir: Path) -> list[str]:
    if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
        return ["compose: no services"]
    services = compose["services"]
    problems = _proxy_problems(app_id, services)
    for name, service in services.items():
        if name != "app_proxy":
            problems += _service_problems(name, service or {}, services)
    return problems + _data_folder_problems(services, package_dir)


def _data_folder_problems(services: dict[str, Any], package_dir: Path) -> list[str]:
    # Umbrel copies the package into the app's data folder: a bind-mounted folder the package does not ship
    # would be created by Docker, owned by root, and unwritable by the app's uid 1000.
    problems = []
    for name, service in services.items():
        for volume in (service or {}).get("volumes", []):
            source = _volume_source(volume)
            prefix = next((p for p in ("${APP_DATA_DIR}/", "$APP_DATA_DIR/") if source.startswith(p)), None)
            if prefix and not (package_dir / source.removeprefix(prefix) / ".gitkeep").is_file():
                problems.append(f"compose: {name}: {source} has no folder with a .gitkeep in the package")
    return problems


def package_problems(package_dir: Path) -> list[str]:
    """Every rule the package breaks, as messages; an empty list means it passes."""
    missing = [name for name in ("umbrel-app.yml", "docker-compose.yml") if not (package_dir / name).is_file()]
    if missing:
        return [f"package: {name} is missing" for name in missing]
    hooks_dir = package_dir / "hooks"
    hooks = sorted(path.name for path in hooks_dir.iterdir()) if hooks_dir.is_dir() else []
    problems = [f"hooks: {hook} is not a hook Umbrel runs" for hook in hooks if hook not in HOOK_NAMES]
    manifest = yaml.safe_load((package_dir / "umbrel-app.yml").read_text(encoding="utf-8"))
    problems += manifest_problems(manifest, folder_name=package_dir.name, has_hooks=bool(hooks))
    compose = yaml.safe_load((package_dir / "docker-compose.yml").read_text(encoding="utf-8"))
    problems += widget_service_problems(manifest, compose)
    return problems + compose_problems(compose, app_id=package_dir.name, package_dir=package_dir)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python docker/umbrel_lint.py PACKAGE_DIR", file=sys.stderr)
        return 2
    problems = package_problems(Path(argv[0]))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{argv[0]}: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
