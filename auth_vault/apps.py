from django.apps import AppConfig


class AuthVaultConfig(AppConfig):
    name = "auth_vault"
    verbose_name = "Vault"
