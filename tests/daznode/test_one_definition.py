"""Facts that used to be repeated, and had drifted, now have one definition that everything else uses."""

import ast
import importlib.util
import inspect

from django.contrib.auth import get_user_model

from auth_vault.macaroons import Macaroon
from channels import centrality, heuristics
from channels.models import NodeMetric
from daznode import lightning
from daznode.actors import command_actor, system_actor, user_actor
from daznode.celery import RETRY, app
from daznode.lnd_permissions import LND_WRITE_PERMISSIONS
from tests.conftest import REPO

DAZNODE_APPS = ("auth_vault.", "sources.", "channels.", "decisions.")


def test_every_daznode_task_retries_the_same_way():
    app.loader.import_default_modules()  # what a worker does: registers every app's tasks
    tasks = {name: task for name, task in app.tasks.items() if name.startswith(DAZNODE_APPS)}
    assert len(tasks) >= 5
    for name, task in tasks.items():
        assert (task.max_retries, task.autoretry_for) == (RETRY["max_retries"], RETRY["autoretry_for"]), name


def test_a_nodes_position_is_one_enum_and_the_models_choices_are_its_values():
    assert centrality.Position is heuristics.Position
    field = NodeMetric._meta.get_field("position")
    assert [value for value, _ in field.choices] == [position.value for position in heuristics.Position]


def test_actors_are_kind_colon_name():
    user = get_user_model()(username="alice")
    assert (user_actor(user), system_actor("fee-cycle"), command_actor("kill_switch")) == (
        "user:alice",
        "system:fee-cycle",
        "command:kill_switch",
    )


def test_lnd_permissions_are_one_table_that_the_vault_and_the_clients_share():
    assert importlib.util.find_spec("sources.permissions") is None, "no second copy, not even a shim"
    for method in (Macaroon.warnings, Macaroon.excess_over, Macaroon.missing_from):
        assert inspect.signature(method).parameters["needed"].default is LND_WRITE_PERMISSIONS
    spelled_out = [
        str(path.relative_to(REPO))
        for app in ("daznode", "auth_vault", "sources", "channels", "decisions")
        for path in (REPO / app).rglob("*.py")
        # The simulator plays LND, whose own permission map it enforces: the table is checked against it.
        if "lncli bakemacaroon" in path.read_text() and "simulator" not in path.parts
    ]
    assert spelled_out == ["daznode/lnd_permissions.py"]


def _names_in(node: ast.AST) -> set[str]:
    return {child.id for child in ast.walk(node) if isinstance(child, ast.Name)}


def test_every_validator_default_is_named_once_in_daznode_lightning():
    # A literal default in decisions.validator.Limits or in the settings is a second definition that can drift
    # (they had: a 24 h cooldown and a budget of 50 written in both).
    shared = {name for name in vars(lightning) if name.startswith(("DEFAULT_", "LND_"))}
    validator = ast.parse((REPO / "decisions" / "validator.py").read_text())
    limits = next(node for node in validator.body if isinstance(node, ast.ClassDef) and node.name == "Limits")
    for field in (node for node in limits.body if isinstance(node, ast.AnnAssign)):
        default = ast.unparse(field.value)
        assert default == "frozenset()" or _names_in(field.value) & shared, f"Limits.{field.target.id} = {default}"
    settings = ast.parse((REPO / "daznode" / "settings.py").read_text())
    [limits_setting] = [
        node.value
        for node in settings.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "DAZNODE_DECISION_LIMITS"
    ]
    for key, value in zip(limits_setting.keys, limits_setting.values, strict=True):
        call = next(node for node in ast.walk(value) if isinstance(node, ast.Call))
        if ast.unparse(call.func).startswith("env_"):  # the allow and deny lists have no default to share
            default = call.args[1]
            assert _names_in(default) & shared, f"{key.value}: {ast.unparse(default)}"
