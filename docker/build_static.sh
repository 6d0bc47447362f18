#!/bin/sh
# collectstatic at build time. It needs prod settings (the hashed, compressed manifest storage), and prod settings
# refuse to load without a secret key and a vault keyring: the build gets throwaway ones that live only in this
# process's environment, so the image holds no secret. Usage: docker/build_static.sh (from the project root).
set -e
build_data=$(mktemp -d)
trap 'rm -rf "$build_data"' EXIT
export DAZNODE_DATA_DIR="$build_data"
unset SECRET_KEY_FILE DAZNODE_VAULT_KEYS_FILE
DAZNODE_VAULT_KEYS="$(DAZNODE_ENV=dev python manage.py generate_vault_key --id build)"
SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')"
export DAZNODE_VAULT_KEYS SECRET_KEY
DAZNODE_ENV=prod ALLOWED_HOSTS=build python manage.py collectstatic --no-input --verbosity 0
