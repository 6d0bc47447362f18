from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def check_vault_key(app_configs, **kwargs):
    if not settings.DAZNODE_VAULT_KEYS_GENERATED:
        return []
    return [
        checks.Warning(
            f"The vault uses a key generated into {settings.DATA_DIR / 'vault_keys'}.",
            hint="Fine for trying Daznode. For real secrets set DAZNODE_VAULT_KEYS (manage.py generate_vault_key) "
            "and keep a copy of it apart from the database: without the key, stored secrets are lost.",
            id="auth_vault.W001",
        )
    ]
