from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    # The label "channels" is ours: never install the third-party Django Channels package beside it.
    name = "channels"
    verbose_name = "Channels"

    def ready(self) -> None:
        from channels.conf import score_weights  # registers its system check too

        score_weights()  # a malformed DAZNODE_SCORE_WEIGHTS stops start-up here, naming it
