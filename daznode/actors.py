"""Who acted, as audit rows, decisions, cycles and the vault's access log record it: one format, "<kind>:<name>".

    user:<username>      a person, through the admin or the API
    system:<task>        Daznode's scheduled or chained work (a Celery task, a health check)
    command:<command>    a manage.py command run by hand
    node                 the node itself: a policy found changed outside Daznode (decisions.audit)
    anonymous            a client that has not logged in (the vault's counts of rate-limited requests)

Build them with the helpers below rather than by hand, so that filtering the audit log by "user:" or
"system:" finds every row. (Rows written before this format may carry a bare "system", "node" or "command".)
"""

USER_ACTOR, SYSTEM_ACTOR, COMMAND_ACTOR = "user", "system", "command"
NODE_ACTOR, ANONYMOUS_ACTOR = "node", "anonymous"


def user_actor(user) -> str:
    return username_actor(user.get_username())


def username_actor(username: str) -> str:
    """A person known only by the name given at a login (failed logins included): there is no user object."""
    return f"{USER_ACTOR}:{username}"


def system_actor(task: str) -> str:
    """How scheduled work names itself, e.g. "system:health-check"."""
    return f"{SYSTEM_ACTOR}:{task}"


def command_actor(command: str) -> str:
    """A manage.py command, e.g. "command:fee_cycle"."""
    return f"{COMMAND_ACTOR}:{command}"
