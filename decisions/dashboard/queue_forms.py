"""The decisions queue's forms: the history's filters, the confirmation of an action, the kill switch.

They parse and validate only; the pages call the domain services (decisions.services, executor, rollback).
The filters' choices are the model's and the API's (decisions.api.DecisionFilterSerializer), imported, not copied.
"""

from typing import Any

from django import forms

from daznode.lightning import parse_chan_id
from decisions.api import REASON_MAX_LENGTH
from decisions.models import KIND_CHOICES, Decision, KillSwitch

ANY = ""
SHOWN_VALUE_LENGTH = 40  # of a refused filter value, quoted back in its message
KILL_SWITCH_REASON_MAX_LENGTH = KillSwitch._meta.get_field("reason").max_length


class ChanIdField(forms.Field):
    """LND's integer or BLOCKxTXxOUT, exactly as the API takes it: nothing is stripped or guessed."""

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        try:
            return parse_chan_id(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class PlainForm(forms.Form):
    """Labels without Django's trailing colon: the pages' labels sit above or beside their fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class QueueFilterForm(PlainForm):
    """?status= ?kind= ?mode= ?channel= narrow the history; no-action decisions are left out unless asked for."""

    status = forms.ChoiceField(choices=[(ANY, "Any status"), *Decision.Status.choices], required=False)
    kind = forms.ChoiceField(choices=[(ANY, "Any kind"), *KIND_CHOICES], required=False)
    mode = forms.ChoiceField(choices=[(ANY, "Any mode"), *Decision.Mode.choices], required=False)
    channel = ChanIdField(required=False, label="Channel id", widget=forms.TextInput(attrs={"inputmode": "numeric"}))
    no_action = forms.BooleanField(required=False, label="Include “no action”")
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    LOOKUPS = {"status": "status", "kind": "kind", "mode": "mode", "channel": "channel__chan_id"}
    PAGING = ("before", "after")

    def paging(self) -> dict[str, int | None]:
        """Where the page starts: ?before=<id> (older than) or ?after=<id> (newer than); neither: the newest."""
        data = self.cleaned_data
        if data.get("after") is not None:
            return {"before": None, "after": data["after"]}
        return {"before": data.get("before"), "after": None}

    def lookups(self) -> dict[str, Any]:
        """The ORM filters of the fields that are valid and given; call after is_valid()."""
        data = self.cleaned_data
        return {lookup: data[name] for name, lookup in self.LOOKUPS.items() if data.get(name) not in (None, ANY)}

    def hides_no_action(self) -> bool:
        data = self.cleaned_data
        return not data.get("no_action") and data.get("kind") != Decision.Kind.NO_ACTION

    def error_messages(self) -> list[str]:
        """One sentence per refused parameter, for a message above the page."""
        texts = []
        for name, errors in self.errors.items():
            given = str(self.data.get(name, ""))[:SHOWN_VALUE_LENGTH]
            texts.append(f"The filter ?{name}={given} was ignored: {' '.join(str(error) for error in errors)}")
        return texts


class DecisionActionForm(PlainForm):
    """The confirmation of one action. Its fields depend on the action and the situation: a reason for reject and
    rollback, "force" for a rollback only when the node's policy was changed outside Daznode, and "apply live anyway"
    whenever the action writes the node while the mode is not live."""

    def __init__(self, *args, action: str, live_anyway_needed: bool, force_offered: bool, mode: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.mode = mode
        if action in ("reject", "rollback"):
            self.fields["reason"] = forms.CharField(
                required=False,
                max_length=REASON_MAX_LENGTH,
                label="Reason (for the audit log)",
                widget=forms.Textarea(attrs={"rows": 2}),
            )
        if force_offered:
            self.fields["force"] = forms.BooleanField(
                required=False,
                label="Overwrite the change made outside Daznode",
                help_text="The node's policy is not the one Daznode set: someone changed it with lncli or another "
                "tool since. Without this, the rollback leaves their change alone and is refused.",
            )
        if live_anyway_needed:
            self.fields["live_anyway"] = forms.BooleanField(
                required=True,
                label=f"Apply live anyway: send this change to the node although Daznode is in {mode} mode",
                error_messages={
                    "required": f"Daznode is in {mode} mode: nothing was sent to the node. Tick “Apply live anyway” "
                    "to send this one change now."
                },
            )

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "reason": data.get("reason", ""),
            "force": bool(data.get("force")),
            "live_anyway": bool(data.get("live_anyway")),
        }


class KillSwitchForm(PlainForm):
    """Engage or release, with a reason. Who may do which is decisions.services.kill_switch_role's to say."""

    engaged = forms.TypedChoiceField(
        choices=[("true", "Engage"), ("false", "Release")], coerce=lambda value: value == "true", empty_value=None
    )
    reason = forms.CharField(required=False, max_length=KILL_SWITCH_REASON_MAX_LENGTH, label="Reason")
