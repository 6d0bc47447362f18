"""The frame every dashboard page shares: our node, the mode, the kill switch and what the user may do."""

from django.conf import settings
from django.views.generic import TemplateView

from channels.models import Node
from daznode.context_processors import MODE_LABELS
from daznode.roles import Role, user_has_role, user_role
from decisions.dashboard.access import RoleRequiredMixin
from decisions.executor import kill_switch_engaged
from decisions.models import Mode


def frame_context(request) -> dict:
    mode = Mode(settings.DAZNODE_DECISION_MODE)
    return {
        "our_node": Node.objects.filter(is_ours=True).first(),
        "mode": mode,
        "mode_label": MODE_LABELS[mode],
        "kill_switch_engaged": kill_switch_engaged(),
        "role": user_role(request.user),
        "can_operate": user_has_role(request.user, Role.OPERATOR),
    }


class DashboardPage(RoleRequiredMixin, TemplateView):
    """A read-only page for viewers; subclasses set template_name, `nav` (the menu entry it belongs to) and
    add their figures in get_context_data."""

    nav = ""

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        context.update(frame_context(self.request), nav=self.nav)
        return context
