"""What every admin and dashboard page shows: the decision mode and what it means. (Whether the kill switch is
on comes from decisions.context_processors: the switch is the decisions app's, and daznode imports no app.)"""

from django.conf import settings

# DAZNODE_DECISION_MODE's values (settings.py) as an operator reads them; decisions.conf uses the same labels.
MODE_LABELS = {"shadow": "Shadow", "dry_run": "Dry run", "live": "Live"}
MODE_MEANINGS = {
    "shadow": "decisions are recorded only; nothing is sent to the node",  # stored `recorded`: never appliable
    "dry_run": "decisions are proposed, nothing is sent to the node unless you apply one live anyway",
    "live": "validated fee changes are sent to the node",
}


def mode_sentence(mode: str) -> str:
    """The mode as one sentence, e.g. "Dry run: decisions are proposed, nothing is sent to the node unless ..."."""
    return f"{MODE_LABELS[mode]}: {MODE_MEANINGS[mode]}"


def daznode(request) -> dict:
    mode = settings.DAZNODE_DECISION_MODE
    return {
        "daznode_mode": mode,
        "daznode_mode_label": MODE_LABELS[mode],
        "daznode_mode_meaning": MODE_MEANINGS[mode],
        "daznode_mode_sentence": mode_sentence(mode),
        "daznode_dry_run": mode != "live",  # shadow too: neither sends anything by itself
        "daznode_env": settings.DAZNODE_ENV,
    }
