"""Sources: one per app or platform, each with the write key its SDKs send events with.

They live in one TOML file (`REVOLT_SOURCES_FILE`, by default `sources.toml` in the data
directory), so a collector can be given a new app without a code change or a restart. The file is
only ever replaced whole (written beside it, checked, fsynced, renamed), so a collector re-reading
it never sees half an edit, and nothing the CLI writes can stop a collector from starting.
"""

import contextlib
import fcntl
import json
import os
import re
import secrets
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
# Write keys travel in HTTP Basic headers, URLs (/v1/projects/<key>/settings), TOML and logs: plain ASCII only.
WRITE_KEY = re.compile(r"[A-Za-z0-9_-]{8,128}")
WRITE_KEY_RULE = "8 to 128 characters from A-Z, a-z, 0-9, '_' and '-'"
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
ANY_ORIGIN = "*"
# An origin as browsers send it: scheme://host[:port], no path; `*.` allows every subdomain of a host.
_ORIGIN = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_FILE_HEADER = "# revolt sources: one per app or platform (see README, Configuration).\n"


class SourcesError(ValueError):
    """The sources file is missing something or says something impossible."""


@dataclass(frozen=True)
class Source:
    name: str
    write_key: str
    platform: str
    # Browser origins that may send with this key; `*` is any. Apps without an Origin header are never checked.
    allowed_origins: tuple[str, ...] = ()

    def allows_origin(self, origin: str) -> bool:
        """Whether a browser page of this origin (the request's `Origin` header) may send for this source."""
        origin = origin.lower()
        for allowed in self.allowed_origins:
            if allowed in (ANY_ORIGIN, origin):
                return True
            scheme, wildcard, suffix = allowed.partition("://*.")
            if wildcard and origin.startswith(scheme + "://") and _host_port(origin).endswith("." + suffix):
                return True
        return False


def default_allowed_origins(platform: str) -> tuple[str, ...]:
    """Any origin for web sources (their write keys are public in every page); none for the others."""
    return (ANY_ORIGIN,) if platform == "web" else ()


def normalize_origin(origin: str) -> str:
    """An allowed origin in the exact form browsers send (lower case, no default port, no slash), or an error."""
    if origin == ANY_ORIGIN:
        return origin
    candidate = origin.strip().lower().removesuffix("/")
    match = _ORIGIN.fullmatch(candidate)
    if match is None:
        raise SourcesError(
            f"allowed origin {origin!r} must look like https://app.example.com[:port] (scheme and host, no path), "
            f"https://*.example.com for every subdomain, or {ANY_ORIGIN!r} for any origin"
        )
    port = match["port"]
    if port is None:
        return candidate
    if not 0 < int(port) < 65536:
        raise SourcesError(f"allowed origin {origin!r} has an impossible port")
    bare = candidate.removesuffix(":" + port)
    # Browsers leave a scheme's default port out, and write the others without leading zeros.
    return bare if _DEFAULT_PORTS.get(match["scheme"]) == str(int(port)) else f"{bare}:{int(port)}"


def check_write_key(write_key: object, name: str) -> str:
    if not isinstance(write_key, str) or not WRITE_KEY.fullmatch(write_key):
        length = f" (it has {len(write_key)} characters)" if isinstance(write_key, str) else ""
        raise SourcesError(f"source {name!r}: a write key must be {WRITE_KEY_RULE}{length}")
    return write_key


def load_sources(path: Path) -> dict[str, Source]:
    """Sources by write key. A missing file means no sources, which the collector reports clearly."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SourcesError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    return parse_sources(content, path)


def parse_sources(content: bytes, path: Path) -> dict[str, Source]:
    """Sources by write key from a file's bytes; every error names the file and the source at fault."""
    try:
        document = tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SourcesError(f"{path}: not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SourcesError(f"{path}: not valid TOML: {exc}") from exc
    entries = document.get("sources", {})
    if not isinstance(entries, dict):
        raise SourcesError(f"{path}: `sources` must be a table of [sources.NAME] entries")
    by_key: dict[str, Source] = {}
    for name, entry in entries.items():
        try:
            source = _source_entry(name, entry)
        except SourcesError as exc:
            raise SourcesError(f"{path}: {exc}") from None
        if source.write_key in by_key:
            raise SourcesError(f"{path}: sources {by_key[source.write_key].name!r} and {name!r} share a write key")
        by_key[source.write_key] = source
    return by_key


def _source_entry(name: str, entry: object) -> Source:
    if not SOURCE_NAME.fullmatch(name):
        raise SourcesError(f"source name {name!r} must match {SOURCE_NAME.pattern}")
    if not isinstance(entry, dict) or "write_key" not in entry:
        raise SourcesError(f"source {name!r} needs a write_key")
    write_key = check_write_key(entry["write_key"], name)
    platform = entry.get("platform", "other")
    if platform not in PLATFORMS:
        raise SourcesError(f"source {name!r} has unknown platform {platform!r}; one of {PLATFORMS}")
    origins = entry.get("allowed_origins")
    if origins is None:
        allowed = default_allowed_origins(platform)
    elif isinstance(origins, list) and all(isinstance(origin, str) for origin in origins):
        try:
            allowed = tuple(dict.fromkeys(normalize_origin(origin) for origin in origins))
        except SourcesError as exc:
            raise SourcesError(f"source {name!r}: {exc}") from None
    else:
        raise SourcesError(f"source {name!r}: allowed_origins must be a list of strings")
    return Source(name=name, write_key=write_key, platform=platform, allowed_origins=allowed)


def add_source(
    path: Path,
    name: str,
    platform: str,
    write_key: str | None = None,
    allowed_origins: Iterable[str] | None = None,
) -> Source:
    """Add a source to the file, generating a write key unless one is given; the file is replaced atomically."""
    if not SOURCE_NAME.fullmatch(name):
        raise SourcesError(f"source name {name!r} must match {SOURCE_NAME.pattern}")
    if platform not in PLATFORMS:
        raise SourcesError(f"unknown platform {platform!r}; one of {PLATFORMS}")
    key = check_write_key(write_key, name) if write_key is not None else "wk_" + secrets.token_urlsafe(18)
    origins = None if allowed_origins is None else [normalize_origin(origin) for origin in allowed_origins]
    path = path.resolve()  # a symlinked sources file keeps its link; its target is replaced
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        current = path.read_bytes() if path.exists() else _FILE_HEADER.encode()
        sources = parse_sources(current, path)
        if any(source.name == name for source in sources.values()):
            raise SourcesError(f"{path}: a source named {name!r} exists already")
        if key in sources:
            raise SourcesError(f"{path}: write key of {name!r} is used by {sources[key].name!r}")
        lines = [f"[sources.{name}]", f"write_key = {json.dumps(key)}", f"platform = {json.dumps(platform)}"]
        if origins is not None:
            lines.append(f"allowed_origins = {json.dumps(list(dict.fromkeys(origins)))}")
        separator = b"" if current.endswith(b"\n") or not current else b"\n"
        updated = current + separator + ("\n" + "\n".join(lines) + "\n").encode("ascii")
        written = parse_sources(updated, path)  # what we write must load, and hold what was asked
        source = written[key]
        if (source.name, source.platform) != (name, platform):
            raise SourcesError(f"{path}: the new entry for {name!r} did not read back as written")
        _replace_file(path, updated)
    return source


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialize writers (two `revolt sources add` at once would otherwise lose one of the sources)."""
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _replace_file(path: Path, content: bytes) -> None:
    """Write beside the file, fsync, rename over it, fsync the folder: readers see the old or the new file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _host_port(origin: str) -> str:
    """`host[:port]` of an origin, minus any default port, for matching `*.` patterns."""
    scheme, _, rest = origin.partition("://")
    port = _DEFAULT_PORTS.get(scheme)
    return rest.removesuffix(":" + port) if port else rest
