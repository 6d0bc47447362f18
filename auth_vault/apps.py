from django.apps import AppConfig


class AuthVaultConfig(AppConfig):
    name = "auth_vault"
    verbose_name = "Vault"

    def ready(self) -> None:
        from auth_vault import checks, signals  # noqa: F401 - registers the check and the signal receiver
        from auth_vault.keyring import vault_keyring  # registers its check too

        vault_keyring()  # a malformed DAZNODE_VAULT_KEYS stops start-up here, naming it
