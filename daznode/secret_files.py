"""The secret files the Docker stack reads (`*_FILE`), created once, readable by the container's user.

Compose mounts a secret file with its host owner and mode, and the image runs as uid 1000: a file that only root
can read stops the container at start. A secret is never overwritten: a lost vault key is lost data.
"""

import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The image's user (docker/Dockerfile, `useradd --uid`), and Umbrel's.
CONTAINER_UID = 1000
OWNER_ONLY = stat.S_IRUSR | stat.S_IWUSR  # 0600
WORLD_READABLE = OWNER_ONLY | stat.S_IRGRP | stat.S_IROTH  # 0644, inside a 0700 directory
PRIVATE_DIRECTORY = stat.S_IRWXU  # 0700
SECRET_KEY_BYTES = 64
ADMIN_PASSWORD_BYTES = 18


@dataclass(frozen=True)
class SecretFilesReport:
    created: list[str]
    kept: list[str]
    mode: int
    owner_uid: int


def secret_file_mode(*, euid: int, uid: int) -> int:
    """0600 when the file can belong to the container's user (we are root, or we are that user); else 0644, so
    that uid 1000 can read it through the bind mount while the 0700 directory keeps other host users out."""
    return OWNER_ONLY if euid in (0, uid) else WORLD_READABLE


def secret_files_init(*, directory: Path, vault_key: Callable[[], str], uid: int = CONTAINER_UID) -> SecretFilesReport:
    generators = {
        "secret_key": lambda: secrets.token_urlsafe(SECRET_KEY_BYTES),
        "admin_password": lambda: secrets.token_urlsafe(ADMIN_PASSWORD_BYTES),
        "vault_keys": vault_key,
    }
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(PRIVATE_DIRECTORY)
    # Secrets never reach git, whatever the repository's own .gitignore says.
    (directory / ".gitignore").write_text("*\n")
    euid = os.geteuid()
    mode = secret_file_mode(euid=euid, uid=uid)
    created, kept = [], []
    for name, generate in generators.items():
        path = directory / name
        if path.exists():
            kept.append(name)
        else:
            _write_private(path, generate() + "\n")
            created.append(name)
        path.chmod(mode)
        if euid == 0:
            os.chown(path, uid, -1)
    return SecretFilesReport(created=created, kept=kept, mode=mode, owner_uid=uid if euid == 0 else euid)


def _write_private(path: Path, content: str) -> None:
    # Created 0600 from the first byte: never readable by others, even for an instant.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    with os.fdopen(descriptor, "w") as file:
        file.write(content)
