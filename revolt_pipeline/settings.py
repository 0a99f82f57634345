"""Process-wide settings read from the environment: the one place every default is decided."""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

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


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def default_home() -> Path:
    return Path(_env("REVOLT_HOME", str(Path.home() / ".revolt"))).expanduser().resolve()


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
    collector_id: str | None
    admin_token: str | None
    max_message_bytes: int
    max_batch_bytes: int
    segment_max_bytes: int
    segment_max_age_seconds: float
    upload_interval_seconds: float
    report_db_url: str
    partitions_start: str
    lateness_days: float
    session_timeout_minutes: float
    max_session_hours: float
    watermark_retries: int
    watermark_retry_seconds: float
    pipeline_retries: int
    pipeline_retry_seconds: float

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
            collector_id=os.environ.get("REVOLT_COLLECTOR_ID") or None,
            admin_token=os.environ.get("REVOLT_ADMIN_TOKEN") or None,
            max_message_bytes=_env_int("REVOLT_MAX_MESSAGE_BYTES", 32 * 1024),
            max_batch_bytes=_env_int("REVOLT_MAX_BATCH_BYTES", 500 * 1024),
            segment_max_bytes=_env_int("REVOLT_SEGMENT_MAX_BYTES", 16 * 1024 * 1024),
            segment_max_age_seconds=_env_float("REVOLT_SEGMENT_MAX_AGE_SECONDS", 60.0),
            upload_interval_seconds=_env_float("REVOLT_UPLOAD_INTERVAL_SECONDS", 1.0),
            report_db_url=_env("REVOLT_REPORT_DB_URL", f"sqlite:///{home / 'reports.sqlite'}"),
            partitions_start=_env("REVOLT_PARTITIONS_START", "2026-01-01"),
            lateness_days=_env_float("REVOLT_LATENESS_DAYS", 3.0),
            session_timeout_minutes=_env_float("REVOLT_SESSION_TIMEOUT_MINUTES", 30.0),
            max_session_hours=_env_float("REVOLT_MAX_SESSION_HOURS", 24.0),
            watermark_retries=_env_int("REVOLT_WATERMARK_RETRIES", 12),
            watermark_retry_seconds=_env_float("REVOLT_WATERMARK_RETRY_SECONDS", 300.0),
            pipeline_retries=_env_int("REVOLT_PIPELINE_RETRIES", Backoff.retries),
            pipeline_retry_seconds=_env_float("REVOLT_PIPELINE_RETRY_SECONDS", Backoff.first_delay),
        )

    def resolved_admin_token(self) -> str:
        """The admin token from the environment, or one generated once and kept in the data directory."""
        if self.admin_token:
            return self.admin_token
        path = self.home / "admin-token"
        if path.exists():
            return path.read_text().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        return token
