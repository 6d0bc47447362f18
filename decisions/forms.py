"""Admin forms for the decisions app: they parse and validate; the admin views call the domain functions."""

from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone

from daznode.roles import user_has_role
from decisions.models import KillSwitch
from decisions.services import kill_switch_role

# What a datetime-local input with seconds sends, and what the confirmation step sends back unchanged.
MOMENT_FORMAT = "%Y-%m-%dT%H:%M:%S"


class ChannelRollbackForm(forms.Form):
    """The first step of a channel rollback: a point in time. The admin then shows what would be put back."""

    to = forms.DateTimeField(
        label="Point in time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}, format=MOMENT_FORMAT),
        help_text=f"In {settings.TIME_ZONE}. The channel gets back the policy it had at that moment.",
    )

    def clean_to(self):
        to = self.cleaned_data["to"]
        if to > timezone.now():
            raise forms.ValidationError("The point in time is in the future.")
        return to


class ChannelRollbackConfirmForm(ChannelRollbackForm):
    """The second step: the point in time previewed (hidden, so that what is sent is what was shown), the overrides,
    and the explicit confirmation. Only an answer carrying CONFIRMED sends anything."""

    CONFIRMED = "confirmed"  # present only in the answer to the preview

    force = forms.BooleanField(
        required=False,
        label="Overwrite changes made outside Daznode",
        help_text="Without this, a policy someone changed with lncli or another tool since then is left alone.",
    )
    reason = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
    live_anyway = forms.BooleanField(
        required=False,
        label="Roll back live anyway",
        help_text="Daznode is not live: without this, nothing is sent to the node. Recorded in the audit log.",
    )

    def __init__(self, *args, live: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].widget = forms.DateTimeInput(attrs={"type": "hidden"}, format=MOMENT_FORMAT)
        if live:  # in live mode a rollback needs no override
            del self.fields["live_anyway"]


class LiveAnywayForm(forms.Form):
    """The confirmation of an apply or a rollback outside live mode: only a ticked box sends anything."""

    CONFIRMED = "confirmed"  # present in the answer to the confirmation page, absent from the list's action form

    live_anyway = forms.BooleanField(
        required=False,
        label="Apply live anyway",
        help_text="Change the node now for these decisions only; the audit log records that it was done live anyway.",
    )

    def __init__(self, *args, label: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if label:
            self.fields["live_anyway"].label = label


class KillSwitchForm(forms.ModelForm):
    """Engaging needs the operator role, releasing the admin role (decisions.services.kill_switch_role)."""

    user = None  # the admin sets it per request (KillSwitchAdmin.get_form)

    class Meta:
        model = KillSwitch
        fields = ["engaged", "reason"]

    def clean(self) -> dict[str, Any]:
        super().clean()  # a ModelForm's clean() fills self.cleaned_data (its return value may be None by type)
        engaged = bool(self.cleaned_data.get("engaged"))
        needed = kill_switch_role(engaged)
        if not user_has_role(self.user, needed):
            verb = "Engaging" if engaged else "Releasing"
            raise forms.ValidationError(f"{verb} the kill switch needs the {needed.label.lower()} role.")
        return self.cleaned_data
