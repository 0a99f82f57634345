"""Sources: one per app or platform, each with the write key its SDKs send events with.

They live in one TOML file (`REVOLT_SOURCES_FILE`, by default `sources.toml` in the data
directory), so a collector can be given a new app without a code change or a restart.
"""

import json
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PLATFORMS = (
    "web",
    "ios",
    "android",
    "desktop",
    "slack",
    "hangouts",
    "google-assistant",
    "alexa",
    "server",
    "other",
)


class SourcesError(ValueError):
    """The sources file is missing something or says something impossible."""


@dataclass(frozen=True)
class Source:
    name: str
    write_key: str
    platform: str


def load_sources(path: Path) -> dict[str, Source]:
    """Sources by write key. A missing file means no sources, which the collector reports clearly."""
    if not path.exists():
        return {}
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SourcesError(f"{path}: not valid TOML: {exc}") from exc
    by_key: dict[str, Source] = {}
    for name, entry in document.get("sources", {}).items():
        if not SOURCE_NAME.match(name):
            raise SourcesError(f"{path}: source name {name!r} must match {SOURCE_NAME.pattern}")
        if not isinstance(entry, dict) or not isinstance(entry.get("write_key"), str) or not entry["write_key"]:
            raise SourcesError(f"{path}: source {name!r} needs a non-empty write_key")
        platform = entry.get("platform", "other")
        if platform not in PLATFORMS:
            raise SourcesError(f"{path}: source {name!r} has unknown platform {platform!r}; one of {PLATFORMS}")
        source = Source(name=name, write_key=entry["write_key"], platform=platform)
        if source.write_key in by_key:
            raise SourcesError(f"{path}: sources {by_key[source.write_key].name!r} and {name!r} share a write key")
        by_key[source.write_key] = source
    return by_key


def add_source(path: Path, name: str, platform: str, write_key: str | None = None) -> Source:
    """Append a source to the file, generating a write key unless one is given."""
    sources = load_sources(path)
    if any(source.name == name for source in sources.values()):
        raise SourcesError(f"{path}: a source named {name!r} exists already")
    if not SOURCE_NAME.match(name):
        raise SourcesError(f"source name {name!r} must match {SOURCE_NAME.pattern}")
    if platform not in PLATFORMS:
        raise SourcesError(f"unknown platform {platform!r}; one of {PLATFORMS}")
    source = Source(name=name, write_key=write_key or "wk_" + secrets.token_urlsafe(18), platform=platform)
    if source.write_key in sources:
        raise SourcesError(f"{path}: write key of {name!r} is used by {sources[source.write_key].name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "" if path.exists() else "# revolt sources: one per app or platform (see README, Configuration).\n"
    entry = (
        f"{header}\n[sources.{name}]\nwrite_key = {json.dumps(source.write_key)}\nplatform = {json.dumps(platform)}\n"
    )
    with open(path, "a") as handle:
        handle.write(entry)
        handle.flush()
        os.fsync(handle.fileno())
    return source
