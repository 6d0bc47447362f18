"""The image installs requirements/base.txt only: whatever product code needs at run time must come from it.

The test environment also has requirements/dev.txt (and whatever pytest pulls in), so a missing runtime
dependency passes every other test and fails only in the container: httpx lived in dev.txt, and kombu's Redis
transport needs `packaging`, which pytest happens to install.
"""

import ast
import importlib.metadata
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

BASE_TXT = REPO / "requirements" / "base.txt"
# What the image runs: the apps, manage.py and the container's own healthcheck. (Release tooling under docker/,
# such as the Umbrel package generator, runs on a developer's machine or in CI with the dev requirements.)
PRODUCT_PACKAGES = ("daznode", "auth_vault", "sources", "channels", "decisions")
PRODUCT_SCRIPTS = ("manage.py", "docker/healthcheck.py")


def base_requirements() -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in BASE_TXT.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def product_files() -> list[Path]:
    files = [path for package in PRODUCT_PACKAGES for path in (REPO / package).rglob("*.py")]
    return files + [REPO / script for script in PRODUCT_SCRIPTS]


def is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_top_level_modules(path: Path) -> set[str]:
    """Modules imported at run time: what sits under `if TYPE_CHECKING:` never runs."""
    names = set()
    pending = [ast.parse(path.read_text(), filename=str(path))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        if is_type_checking_block(node):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return names


def installed_closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution pip installs for these requirements, extras followed, read from installed metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [(requirement, frozenset(requirement.extras)) for requirement in requirements]
    while pending:
        requirement, extras = pending.pop()
        key = (canonicalize_name(requirement.name), extras)
        if key in seen:
            continue
        seen.add(key)
        for line in importlib.metadata.requires(requirement.name) or []:
            child = Requirement(line)
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in extras | {""}):
                pending.append((child, frozenset(child.extras)))
    return {name for name, _ in seen}


def test_it_pins_every_third_party_module_product_code_imports():
    ours = {path.name for path in REPO.iterdir() if (path / "__init__.py").exists()}
    distributions = importlib.metadata.packages_distributions()
    pinned = {canonicalize_name(requirement.name) for requirement in base_requirements()}
    missing = {}
    for path in product_files():
        for module in imported_top_level_modules(path) - ours - set(sys.stdlib_module_names):
            for distribution in distributions.get(module, [module]):
                if canonicalize_name(distribution) not in pinned:
                    missing.setdefault(distribution, str(path.relative_to(REPO)))
    assert missing == {}, f"pin these in requirements/base.txt (distribution: first importer): {missing}"


def test_it_installs_what_the_redis_broker_transport_needs():
    # Compose runs Celery on Redis: kombu imports its transport's dependencies only when a worker connects.
    transport = [
        Requirement(line)
        for line in importlib.metadata.requires("kombu")
        if Requirement(line).marker is not None and Requirement(line).marker.evaluate({"extra": "redis"})
    ]
    closure = installed_closure(base_requirements())
    assert {canonicalize_name(requirement.name) for requirement in transport} >= {"redis", "packaging"}
    assert {canonicalize_name(requirement.name) for requirement in transport} <= closure


def test_it_pins_every_top_level_requirement_exactly():
    loose = [str(requirement) for requirement in base_requirements() if not str(requirement.specifier).startswith("==")]
    assert loose == []
