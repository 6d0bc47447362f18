from django.apps import AppConfig


class DaznodeConfig(AppConfig):
    name = "daznode"
    verbose_name = "Daznode"
