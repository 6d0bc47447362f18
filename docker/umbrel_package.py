"""Write Daznode's Umbrel app package for a pushed image.

    python docker/umbrel_package.py --image ghcr.io/OWNER/daznode:1.2.0@sha256:<64 hex> \\
        --postgres-image postgres:16@sha256:<64 hex> --redis-image redis:7@sha256:<64 hex> \\
        --repo-url https://github.com/OWNER/daznode --out build/umbrel

The committed package, docker/umbrel/daznode/, is the template: it is a complete package whose images carry
all-zero placeholder digests and whose URLs are placeholders. This script copies it to OUT/daznode/ with each
placeholder replaced, so the release workflow and a person produce the same package. Standard library only:
the release job runs it before installing anything.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

APP_ID = "daznode"
TEMPLATE_DIR = Path(__file__).resolve().parent / "umbrel" / APP_ID
MANIFEST = "umbrel-app.yml"
COMPOSE = "docker-compose.yml"

PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
PLACEHOLDER_IMAGE = f"ghcr.io/daznode/daznode:0.0.0-unreleased@{PLACEHOLDER_DIGEST}"
PLACEHOLDER_POSTGRES_IMAGE = f"postgres:16@{PLACEHOLDER_DIGEST}"
PLACEHOLDER_REDIS_IMAGE = f"redis:7@{PLACEHOLDER_DIGEST}"
PLACEHOLDER_VERSION = '"0.0.0-unreleased"'
PLACEHOLDER_REPO_URL = "https://example.invalid/daznode"
PLACEHOLDER_SUBMISSION = "https://github.com/getumbrel/umbrel-apps/pull/0"

# name[:port]/path:tag@sha256:digest; Umbrel's linter wants both the tag and the digest.
IMAGE_PATTERN = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9._/:-]*?):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})@(?P<digest>sha256:[0-9a-f]{64})$"
)
URL_PATTERN = re.compile(r"^https://[^\s/]+(/\S*)?$")


class PackageError(Exception):
    """A value the package cannot be written with; the message names the option."""


@dataclass(frozen=True)
class Release:
    image: str
    postgres_image: str
    redis_image: str
    repo_url: str
    submission: str = PLACEHOLDER_SUBMISSION

    @property
    def version(self) -> str:
        """The manifest's version: the image tag without a leading "v" (tag v1.2.0 is version 1.2.0)."""
        return _image_parts(self.image, option="--image")["tag"].removeprefix("v")


def _image_parts(reference: str, *, option: str) -> dict[str, str]:
    match = IMAGE_PATTERN.match(reference)
    if match is None:
        raise PackageError(f"{option} must read NAME:TAG@sha256:<64 hex digits>, got {reference!r}")
    if match["digest"] == PLACEHOLDER_DIGEST:
        raise PackageError(f"{option} carries the placeholder digest: pass the digest the registry returned")
    if match["tag"] == "latest":
        raise PackageError(f"{option} must name a version tag, not latest")
    return match.groupdict()


def release_validate(*, release: Release) -> None:
    """Refuse anything that would put a placeholder or a malformed value into a released package."""
    _image_parts(release.image, option="--image")
    _image_parts(release.postgres_image, option="--postgres-image")
    _image_parts(release.redis_image, option="--redis-image")
    for option, url in (("--repo-url", release.repo_url), ("--submission", release.submission)):
        if not URL_PATTERN.match(url):
            raise PackageError(f"{option} must be an https URL, got {url!r}")
    if release.repo_url == PLACEHOLDER_REPO_URL:
        raise PackageError("--repo-url is the placeholder: pass the project's repository URL")


def _replace(text: str, *, placeholder: str, value: str, file_name: str) -> str:
    # A placeholder the template no longer holds would ship silently unreplaced elsewhere: stop instead.
    if placeholder not in text:
        raise PackageError(f"the template's {file_name} no longer holds the placeholder {placeholder!r}")
    return text.replace(placeholder, value)


def package_render(*, release: Release, template_dir: Path = TEMPLATE_DIR) -> dict[str, str]:
    """The manifest and compose file of the release, by file name."""
    release_validate(release=release)
    manifest = (template_dir / MANIFEST).read_text(encoding="utf-8")
    for placeholder, value in (
        (PLACEHOLDER_VERSION, f'"{release.version}"'),
        (PLACEHOLDER_REPO_URL, release.repo_url),
        (PLACEHOLDER_SUBMISSION, release.submission),
    ):
        manifest = _replace(manifest, placeholder=placeholder, value=value, file_name=MANIFEST)
    compose = (template_dir / COMPOSE).read_text(encoding="utf-8")
    for placeholder, value in (
        (PLACEHOLDER_IMAGE, release.image),
        (PLACEHOLDER_POSTGRES_IMAGE, release.postgres_image),
        (PLACEHOLDER_REDIS_IMAGE, release.redis_image),
    ):
        compose = _replace(compose, placeholder=placeholder, value=value, file_name=COMPOSE)
    return {MANIFEST: manifest, COMPOSE: compose}


def package_write(*, release: Release, out_dir: Path, template_dir: Path = TEMPLATE_DIR) -> Path:
    """Write OUT/daznode/ (replacing an earlier one) and return it. Never writes into the template itself."""
    rendered = package_render(release=release, template_dir=template_dir)
    target = out_dir.resolve() / APP_ID
    if target == template_dir.resolve() or template_dir.resolve() in target.parents:
        raise PackageError(f"--out {out_dir} would overwrite the template {template_dir}")
    if target.exists():
        shutil.rmtree(target)
    # Everything else (exports.sh, the data folders with their .gitkeep) is copied as it is.
    shutil.copytree(template_dir, target)
    for name, text in rendered.items():
        (target / name).write_text(text, encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True, help="Daznode's pushed image, NAME:TAG@sha256:DIGEST")
    parser.add_argument("--postgres-image", required=True, help="PostgreSQL's image, NAME:TAG@sha256:DIGEST")
    parser.add_argument("--redis-image", required=True, help="Redis' image, NAME:TAG@sha256:DIGEST")
    parser.add_argument("--repo-url", required=True, help="the project's repository (website, repo, support)")
    parser.add_argument("--submission", default=PLACEHOLDER_SUBMISSION, help="the umbrel-apps pull request URL")
    parser.add_argument("--out", required=True, type=Path, help="folder in which to write daznode/")
    args = parser.parse_args(argv)
    release = Release(
        image=args.image,
        postgres_image=args.postgres_image,
        redis_image=args.redis_image,
        repo_url=args.repo_url,
        submission=args.submission,
    )
    try:
        target = package_write(release=release, out_dir=args.out)
    except PackageError as error:
        print(f"umbrel_package: {error}", file=sys.stderr)
        return 2
    print(f"wrote {target} (version {release.version})")
    if release.submission == PLACEHOLDER_SUBMISSION:
        print("note: submission is still the placeholder; set it to the umbrel-apps pull request's URL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
