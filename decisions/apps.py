from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class DecisionsConfig(AppConfig):
    name = "decisions"
    verbose_name = "Decisions"

    def ready(self) -> None:
        from decisions.conf import settings_errors  # registers its system check too

        errors = settings_errors()
        if errors:  # a malformed DAZNODE_DECISION_* or DAZNODE_FEE_* value stops start-up, naming it
            raise ImproperlyConfigured("; ".join(errors))
