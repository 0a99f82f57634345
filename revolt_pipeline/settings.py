"""Process-wide settings read from the environment: the one place every default is decided."""

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from revolt_pipeline.private_files import make_private_dirs
from revolt_pipeline.retrying import Backoff


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_optional_int(name: str) -> int | None:
    return _env_int(name, 0) if os.environ.get(name, "").strip() else None


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


# Variables that hold secrets: Dagster resources take them as `EnvVar`s by these names, so the UI
# shows the name and never the value.
ADMIN_TOKEN_ENV = "REVOLT_ADMIN_TOKEN"
REPORT_DB_URL_ENV = "REVOLT_REPORT_DB_URL"


# Unless REVOLT_PARTITIONS_START is set, the daily partitions start this many days before today (UTC):
# the window `revolt demo` fills (a week of traffic from two weeks ago in its users' time zones, which
# begins the day before in UTC, then its late deliveries), so a fresh install and the demo show a short
# row of days rather than a year of missing ones. Production sets the day its data begins.
PARTITIONS_DEFAULT_DAYS = 15


def default_home() -> Path:
    return Path(_env("REVOLT_HOME", str(Path.home() / ".revolt"))).expanduser().resolve()


def default_partitions_start() -> str:
    return (datetime.now(UTC).date() - timedelta(days=PARTITIONS_DEFAULT_DAYS)).isoformat()


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the embedded default (a local folder) when nothing is set."""

    home: Path
    storage_url: str
    s3_endpoint_url: str | None
    s3_region: str
    sources_file: Path
    spool_dir: Path
    collector_host: str
    collector_port: int
    collector_url: str
    collector_public_url: str | None
    collector_id: str | None
    admin_token: str | None
    max_message_bytes: int
    max_batch_bytes: int
    segment_max_bytes: int
    segment_max_age_seconds: float
    upload_interval_seconds: float
    header_timeout_seconds: float
    body_timeout_seconds: float
    keepalive_timeout_seconds: float
    max_header_bytes: int
    max_connections: int
    upload_stall_seconds: float
    spool_stall_seconds: float
    spool_min_free_bytes: int | None
    report_db_url: str
    dagster_home: Path
    dagster_ui_url: str
    partitions_start: str
    lateness_days: float
    session_timeout_minutes: float
    max_session_hours: float
    watermark_retries: int
    watermark_retry_seconds: float
    pipeline_retries: int
    pipeline_retry_seconds: float
    report_db_url_from_env: bool = False

    @classmethod
    def from_env(cls) -> "Settings":
        home = default_home()
        host = _env("REVOLT_COLLECTOR_HOST", "127.0.0.1")
        port = _env_int("REVOLT_COLLECTOR_PORT", 8088)
        return cls(
            home=home,
            storage_url=_env("REVOLT_STORAGE_URL", (home / "store").as_uri()),
            s3_endpoint_url=os.environ.get("REVOLT_S3_ENDPOINT_URL") or None,
            s3_region=_env("REVOLT_S3_REGION", "us-east-1"),
            sources_file=Path(_env("REVOLT_SOURCES_FILE", str(home / "sources.toml"))).expanduser(),
            spool_dir=Path(_env("REVOLT_SPOOL_DIR", str(home / "spool"))).expanduser(),
            collector_host=host,
            collector_port=port,
            collector_url=_env("REVOLT_COLLECTOR_URL", f"http://{host}:{port}"),
            collector_public_url=os.environ.get("REVOLT_COLLECTOR_PUBLIC_URL", "").strip() or None,
            collector_id=os.environ.get("REVOLT_COLLECTOR_ID") or None,
            admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
            max_message_bytes=_env_int("REVOLT_MAX_MESSAGE_BYTES", 32 * 1024),
            max_batch_bytes=_env_int("REVOLT_MAX_BATCH_BYTES", 500 * 1024),
            segment_max_bytes=_env_int("REVOLT_SEGMENT_MAX_BYTES", 16 * 1024 * 1024),
            segment_max_age_seconds=_env_float("REVOLT_SEGMENT_MAX_AGE_SECONDS", 60.0),
            upload_interval_seconds=_env_float("REVOLT_UPLOAD_INTERVAL_SECONDS", 1.0),
            header_timeout_seconds=_env_float("REVOLT_HEADER_TIMEOUT_SECONDS", 10.0),
            body_timeout_seconds=_env_float("REVOLT_BODY_TIMEOUT_SECONDS", 30.0),
            keepalive_timeout_seconds=_env_float("REVOLT_KEEPALIVE_TIMEOUT_SECONDS", 15.0),
            max_header_bytes=_env_int("REVOLT_MAX_HEADER_BYTES", 32 * 1024),
            max_connections=_env_int("REVOLT_MAX_CONNECTIONS", 1024),
            upload_stall_seconds=_env_float("REVOLT_UPLOAD_STALL_SECONDS", 60.0),
            spool_stall_seconds=_env_float("REVOLT_SPOOL_STALL_SECONDS", 10.0),
            spool_min_free_bytes=_env_optional_int("REVOLT_SPOOL_MIN_FREE_BYTES"),  # unset: from the batch limit
            report_db_url=_env(REPORT_DB_URL_ENV, f"sqlite:///{home / 'reports.sqlite'}"),
            # Dagster's own variable; the embedded default keeps its instance beside the data.
            dagster_home=Path(_env("DAGSTER_HOME", str(home / "dagster"))).expanduser().resolve(),
            dagster_ui_url=_env("REVOLT_DAGSTER_UI_URL", "http://127.0.0.1:3000").rstrip("/"),
            partitions_start=_env("REVOLT_PARTITIONS_START", default_partitions_start()),
            lateness_days=_env_float("REVOLT_LATENESS_DAYS", 3.0),
            session_timeout_minutes=_env_float("REVOLT_SESSION_TIMEOUT_MINUTES", 30.0),
            max_session_hours=_env_float("REVOLT_MAX_SESSION_HOURS", 24.0),
            watermark_retries=_env_int("REVOLT_WATERMARK_RETRIES", 12),
            watermark_retry_seconds=_env_float("REVOLT_WATERMARK_RETRY_SECONDS", 300.0),
            pipeline_retries=_env_int("REVOLT_PIPELINE_RETRIES", Backoff.retries),
            pipeline_retry_seconds=_env_float("REVOLT_PIPELINE_RETRY_SECONDS", Backoff.first_delay),
            report_db_url_from_env=bool(os.environ.get(REPORT_DB_URL_ENV, "").strip()),
        )

    @property
    def admin_token_file(self) -> Path:
        """Where the embedded default keeps its generated admin token."""
        return self.home / "admin-token"

    def resolved_admin_token(self) -> str:
        """The admin token from the environment, or one generated once and kept in the data directory."""
        if self.admin_token:
            return self.admin_token
        return self.ensure_admin_token_file().read_text().strip()

    def ensure_admin_token_file(self) -> Path:
        """The admin token file, generated (readable by its owner only) the first time it is needed."""
        path = self.admin_token_file
        if path.exists():
            return path
        make_private_dirs(self.home)
        # Written aside, then linked into place: a process starting at the same time sees all or nothing.
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(24) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process generated it a moment ago: use theirs
        finally:
            temporary.unlink(missing_ok=True)
        return path
