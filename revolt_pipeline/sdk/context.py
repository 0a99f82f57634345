"""What every message carries about where it came from: library, OS, locale and time zone, plus timestamps."""

from __future__ import annotations

import contextlib
import locale
import os
import platform
import time
from datetime import UTC, datetime
from typing import Any

LIBRARY_NAME = "revolt-python"


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and 'Z', the form the collector stores; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.utcoffset():
        moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


_cached_second: tuple[int, str] = (0, "")


def system_now_text() -> str:
    """The system clock as `format_timestamp` would write it, about five times faster.

    track() stamps every event, so the formatted date and time of the current second is kept and
    only the milliseconds are written each call.
    """
    global _cached_second
    now = time.time()
    second = int(now)
    cached, prefix = _cached_second
    if second != cached:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _cached_second = (second, prefix)  # one tuple, replaced at once: safe across threads
    return f"{prefix}.{int((now - second) * 1000):03d}Z"


def random_message_id() -> str:
    """A random (version 4) UUID string, twice as fast as str(uuid.uuid4()), which builds an object."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A new dict with `override` laid over `base`, nested dicts merged key by key; inputs are untouched."""
    merged = dict(base)
    for key, value in override.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = deep_merge(below, value)
        else:
            merged[key] = value
    return merged


def automatic_context() -> dict[str, Any]:
    """The context every message of this process shares; computed once per Client because it never changes."""
    context: dict[str, Any] = {
        "library": {"name": LIBRARY_NAME, "version": library_version()},
        "os": {"name": platform.system() or "unknown", "version": platform.release()},
    }
    language = _locale_tag()
    if language:
        context["locale"] = language
    zone = _timezone_name()
    if zone:
        context["timezone"] = zone
    return context


def library_version() -> str:
    """The package version, read from the tiny top-level module (importing the SDK imports it anyway)."""
    try:
        from revolt_pipeline import __version__
    except ImportError:  # vendored without its parent package
        return "unknown"
    return __version__


def _locale_tag() -> str | None:
    # BCP 47 style ("en-US"), as Segment's libraries send it.
    language: str | None = None
    with contextlib.suppress(ValueError):
        language = locale.getlocale()[0]
    if not language:
        raw = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
        language = raw.split(".")[0] or None
    if not language or language in ("C", "POSIX"):
        return None
    return language.replace("_", "-")


def _timezone_name() -> str | None:
    """The IANA name when the system tells it (TZ, /etc/timezone, /etc/localtime), else the abbreviation."""
    configured = os.environ.get("TZ", "").lstrip(":")
    if "/" in configured and not configured.startswith("/"):
        return configured
    with contextlib.suppress(OSError):
        with open("/etc/timezone", encoding="utf-8") as handle:
            name = handle.read().strip()
        if name:
            return name
    with contextlib.suppress(OSError):
        target = os.path.realpath("/etc/localtime")
        marker = "zoneinfo/"
        if marker in target:
            return target.split(marker, 1)[1]
    return time.tzname[0] or None
