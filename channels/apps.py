from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    # The label "channels" is ours: never install the third-party Django Channels package beside it.
    name = "channels"
    verbose_name = "Channels"
