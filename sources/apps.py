from django.apps import AppConfig


class SourcesConfig(AppConfig):
    name = "sources"
    verbose_name = "Data sources"

    def ready(self) -> None:
        from sources import checks, signals  # noqa: F401 - start-up checks; follows the vault's rotations
