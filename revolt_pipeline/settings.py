"""Process-wide settings read from the environment: the one place every default is decided.

Read once, where a process starts (`Settings.from_env()` in `definitions.py`, the `revolt` command, a
benchmark), then passed down: nothing else reads REVOLT_* variables. A default is stated once: the libraries
below this module (transforms, retrying) keep their own and the fields here read them; what the collector
needs is stated here, and its configuration types (`Limits`, `HttpLimits`, `CollectorConfig`) take it from
these fields.
"""

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.private_files import make_private_dirs
from revolt_pipeline.retrying import Backoff
from revolt_pipeline.transforms.pii import DEFAULT_PII_HASH_KEYS, KeyRule
from revolt_pipeline.transforms.rules import PipelineRules

if TYPE_CHECKING:  # pyarrow is imported only when a store is built: `revolt` commands start fast
    from revolt_pipeline.storage import ObjectStore


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


class SettingsError(ValueError):
    """A setting the environment gives a value it cannot take: the message names the variable and what it accepts."""


@dataclass(frozen=True)
class IntegerSetting:
    """A whole-number setting, its variable and the range it accepts (with what the range means, for the error)."""

    variable: str
    low: int
    high: int
    unit: str = ""

    def read(self, default: int) -> int:
        """The variable's value, or `default` when it is unset or blank; SettingsError outside the range."""
        raw = os.environ.get(self.variable, "").strip()
        if not raw:
            return default
        # ASCII digits only: int() would also take "1_000" and other scripts' digits.
        if not re.fullmatch(r"[+-]?[0-9]+", raw):
            raise SettingsError(f"{self.variable} must be a whole number {self.accepted}, got {raw!r}")
        return self.check(int(raw))

    def check(self, value: int) -> int:
        if not self.low <= value <= self.high:
            raise SettingsError(f"{self.variable} must be a whole number {self.accepted}, got {value}")
        return value

    @property
    def accepted(self) -> str:
        return f"from {self.low} to {self.high}{' ' + self.unit if self.unit else ''}"


# The models' settings (the fields of `Settings` they fill), each refused outside a range where a value is a typo
# or a model nobody would wait for: checked when the settings load, never deep in a training run.
ML_INTEGER_SETTINGS = {
    # The label's horizon; the models need two horizons and the 28 days of features of history.
    "churn_horizon_days": IntegerSetting("REVOLT_CHURN_HORIZON_DAYS", 1, 365, "days"),
    # Weekly cutoffs back from the validation cutoff: a year of them at most.
    "churn_training_cutoffs": IntegerSetting("REVOLT_CHURN_TRAINING_CUTOFFS", 1, 52, "weekly cutoffs"),
    # 0: the model's default hyperparameters, no search; each trial fits a model per time fold.
    "churn_tuning_trials": IntegerSetting("REVOLT_CHURN_TUNING_TRIALS", 0, 1000, "trials (0: no search)"),
    # numpy's and Optuna's seeds are unsigned 32-bit integers.
    "ml_seed": IntegerSetting("REVOLT_ML_SEED", 0, 2**32 - 1),
    # ml_job by itself (`ml_after_people`): at most once per this many days of data; 0 turns it off.
    "ml_retrain_days": IntegerSetting("REVOLT_ML_RETRAIN_DAYS", 0, 365, "days (0: off)"),
}


# Variables that hold secrets: Dagster resources take them as `EnvVar`s by these names, so the UI
# shows the name and never the value.
ADMIN_TOKEN_ENV = "REVOLT_ADMIN_TOKEN"
PRIVACY_SALT_ENV = "REVOLT_PRIVACY_SALT"
REPORT_DB_URL_ENV = "REVOLT_REPORT_DB_URL"
DASHBOARD_TOKEN_ENV = "REVOLT_DASHBOARD_TOKEN"


# Unless REVOLT_PARTITIONS_START is set, the daily partitions start this many days before the day the data
# directory was first used (UTC), recorded there once: the window `revolt demo` fills (a week of traffic
# from two weeks ago in its users' time zones, which begins the day before in UTC, then its late
# deliveries), so a fresh install shows a short row of days rather than a year of missing ones, and a
# long-running one never sees its early days slide out of the definitions. Production sets the day its
# data begins.
PARTITIONS_DEFAULT_DAYS = 15


def default_home() -> Path:
    return Path(_env("REVOLT_HOME", str(Path.home() / ".revolt"))).expanduser().resolve()


def recorded_partitions_start(home: Path) -> str:
    """The first partition day recorded in `home`, chosen and recorded the first time it is asked for."""
    path = home / "partitions-start"
    chosen = (datetime.now(UTC).date() - timedelta(days=PARTITIONS_DEFAULT_DAYS)).isoformat()
    try:
        write_once(path, chosen + "\n")
        recorded = path.read_text().strip()
    except OSError:
        return chosen  # a read-only home: still a working default, only not a stable one
    try:
        date.fromisoformat(recorded)
    except ValueError as exc:
        raise ValueError(f"{path} must hold a day such as {chosen}, got {recorded!r}") from exc
    return recorded


def record_partitions_start(home: Path, day: date) -> None:
    """Move the first partition day recorded in `home` to `day`: for a home that holds nothing built yet (a demo
    whose traffic starts before the recorded default), never one whose partitions already hold runs."""
    path = home / "partitions-start"
    make_private_dirs(home)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    temporary.write_text(day.isoformat() + "\n")
    temporary.chmod(0o600)
    os.replace(temporary, path)


def write_once(path: Path, text: str) -> None:
    """Create `path` (owner-only) holding `text` unless it exists: concurrent first callers agree on one."""
    if path.exists():
        return
    make_private_dirs(path.parent)
    # Written aside, then linked into place: a process starting at the same time sees all or nothing.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process wrote it a moment ago: theirs stands
    finally:
        temporary.unlink(missing_ok=True)


# The engines the layers' transforms run on (`REVOLT_ENGINE`; layers/engines.py opens their connections).
ENGINES = ("duckdb", "spark")
# What the collector does with IP addresses (contract/addresses.py, which applies them).
IP_POLICIES = ("truncate", "keep", "drop")
# A JVM memory size as Spark's `spark.driver.memory` takes it.
_JVM_MEMORY = re.compile(r"[1-9][0-9]*[kmgt]", re.IGNORECASE)
# Where the assets launch the Spark job on the spark engine (`REVOLT_SPARK_LAUNCHER`; defs/spark/resources.py), and
# the settings each launcher needs.
SPARK_LAUNCHERS = {
    "subprocess": (),
    "glue": ("REVOLT_GLUE_JOB_NAME", "REVOLT_PIPES_BUCKET"),
    "emr_serverless": (
        "REVOLT_EMR_APPLICATION_ID",
        "REVOLT_EMR_EXECUTION_ROLE_ARN",
        "REVOLT_EMR_ENTRY_POINT",
        "REVOLT_PIPES_BUCKET",
    ),
}


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the embedded default (a local folder) when nothing is set."""

    # Where things are: under REVOLT_HOME unless set.
    home: Path
    storage_url: str
    sources_file: Path
    spool_dir: Path
    collector_url: str
    report_db_url: str
    dagster_home: Path
    dagster_ui_url: str
    partitions_start: str
    # Everything else, each with its one default.
    partitions_start_recorded: bool = False  # True: the recorded default, REVOLT_PARTITIONS_START unset
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    collector_host: str = "127.0.0.1"
    collector_port: int = 8088
    collector_public_url: str | None = None
    collector_id: str | None = None
    admin_token: str | None = None
    # The secret salt of pseudonyms (`contract/pseudonyms.py`): hashed PII, the suppression list of deleted ids.
    privacy_salt: str | None = None
    # The collector's IP policy (contract/addresses.py): `truncate` (last octet of IPv4, /48 of IPv6), `keep`, `drop`.
    ip_policy: str = "truncate"
    # How often the collector re-reads the suppression list of deleted ids (storage/suppression.py).
    suppression_refresh_seconds: float = 60.0
    max_message_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    segment_max_bytes: int = 16 * 1024 * 1024
    segment_max_age_seconds: float = 60.0
    upload_interval_seconds: float = 1.0
    # Per connection, fit for SDKs on slow mobile links and refusing what only an attacker does: headers
    # arrive in one packet, so 10 s covers a few TCP retransmissions; 30 s carries a full batch (500 KB) at
    # about 130 kbit/s; 15 s of idle keep-alive spans an SDK's usual flush interval (10 s) without letting
    # idle connections hold slots; 32 KB of headers is nginx's default total (4 buffers of 8 KB). Each
    # connection holds at most a header and a batch in memory, so 1024 connections bound memory under
    # attack to well under the size of a small VM.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    keepalive_timeout_seconds: float = 15.0
    max_header_bytes: int = 32 * 1024
    max_connections: int = 1024
    # Peers whose X-Forwarded-For (and -Proto) the collector believes: addresses or networks, comma-separated;
    # `none` trusts no one, `*` everyone (never while clients can reach the collector directly).
    trusted_proxies: str = "127.0.0.1,::1"
    upload_stall_seconds: float = 60.0
    spool_stall_seconds: float = 10.0
    spool_min_free_bytes: int | None = None  # None: from the batch limit (CollectorConfig.required_free_bytes)
    lateness_days: float = PipelineRules.lateness / timedelta(days=1)
    session_timeout_minutes: float = PipelineRules.session_timeout / timedelta(minutes=1)
    max_session_hours: float = PipelineRules.max_session_length / timedelta(hours=1)
    mau_window_days: int = PipelineRules.mau_window_days
    watermark_retries: int = 12
    watermark_retry_seconds: float = 300.0
    pipeline_retries: int = Backoff.retries
    pipeline_retry_seconds: float = Backoff.first_delay
    # Per DuckDB connection; it spills to disk beyond it. 1.5 GB runs a day of 5 M events at full speed under 2 GB
    # of peak memory (docs/scale-out.md); raise it by about 0.3 GB per million events a day beyond that.
    duckdb_memory_limit: str = "1500MB"
    report_db_url_from_env: bool = False
    # The funnels file (transforms/funnels.py says its format); no file: no funnels, empty funnel tables.
    funnels_file: Path | None = None
    # Anchored retention (transforms/retention.py): event names; None means first seen / any activity.
    retention_start_event: str | None = PipelineRules.retention_start_event
    retention_return_event: str | None = PipelineRules.retention_return_event
    # The churn model (ml/churn.py): the label's horizon, the weekly training cutoffs, the search, the seed.
    churn_horizon_days: int = ChurnSettings.horizon_days
    churn_training_cutoffs: int = ChurnSettings.training_cutoffs
    churn_tuning_trials: int = ChurnSettings.trials
    ml_seed: int = ChurnSettings.seed
    # How often ml_job trains by itself, in days of data (the sensor `ml_after_people`); 0: only when launched.
    ml_retrain_days: int = 7
    # The dashboard (`revolt dashboard`): its token; without one it listens on loopback only.
    dashboard_token: str | None = None
    # The dashboard (`revolt dashboard`) as the Dagster UI's links to its pages reach it (dashboard/urls.py).
    dashboard_url: str = "http://127.0.0.1:3030"
    # The engine the layers' transforms run on (layers/engines.py): `duckdb`, or `spark` (the `spark` extra, Java 17).
    engine: str = "duckdb"
    # Spark's master when the engine is spark: `local[N]` runs in the process; a cluster's job sets its own.
    spark_master: str = "local[2]"
    # The heap of the Spark job's driver beside Dagster (`3g`, `600m`; the subprocess launcher), which in local mode
    # every task shares; None leaves Spark's default (1g). Glue and EMR Serverless size their own.
    spark_driver_memory: str | None = None
    # Where the assets launch the Spark job (`SPARK_LAUNCHERS`): beside Dagster, on AWS Glue, on EMR Serverless.
    spark_launcher: str = "subprocess"
    # The S3 bucket (and key prefix) the Glue and EMR Serverless jobs read the Pipes context from and write messages to.
    pipes_bucket: str | None = None
    pipes_prefix: str = "dagster-pipes/"
    glue_job_name: str | None = None
    emr_application_id: str | None = None
    emr_execution_role_arn: str | None = None
    # The job's file on S3 (`s3://.../spark_job.py`), and what spark-submit adds (the package, Spark settings).
    emr_entry_point: str | None = None
    emr_spark_submit_parameters: str = ""
    # Personal data (docs/privacy.md, PII): trait and property keys cleaning hashes with the privacy salt, or drops.
    pii_hash_keys: tuple[str, ...] = DEFAULT_PII_HASH_KEYS
    pii_drop_keys: tuple[str, ...] = ()
    # Landing objects and raw days received more than this many days ago are deleted by `retention_policy_job`
    # (docs/privacy.md, Retention policy); 0 keeps them forever.
    raw_retention_days: int = 400

    @classmethod
    def from_env(cls) -> "Settings":
        home = default_home()
        host = _env("REVOLT_COLLECTOR_HOST", cls.collector_host)
        port = _env_int("REVOLT_COLLECTOR_PORT", cls.collector_port)
        return cls(
            home=home,
            storage_url=_env("REVOLT_STORAGE_URL", (home / "store").as_uri()),
            s3_endpoint_url=os.environ.get("REVOLT_S3_ENDPOINT_URL") or None,
            s3_region=_env("REVOLT_S3_REGION", cls.s3_region),
            sources_file=Path(_env("REVOLT_SOURCES_FILE", str(home / "sources.toml"))).expanduser(),
            spool_dir=Path(_env("REVOLT_SPOOL_DIR", str(home / "spool"))).expanduser(),
            collector_host=host,
            collector_port=port,
            collector_url=_env("REVOLT_COLLECTOR_URL", f"http://{host}:{port}"),
            collector_public_url=os.environ.get("REVOLT_COLLECTOR_PUBLIC_URL", "").strip() or None,
            collector_id=os.environ.get("REVOLT_COLLECTOR_ID") or None,
            admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
            privacy_salt=os.environ.get(PRIVACY_SALT_ENV) or None,
            ip_policy=_env("REVOLT_IP_POLICY", cls.ip_policy).lower(),
            suppression_refresh_seconds=_env_float(
                "REVOLT_SUPPRESSION_REFRESH_SECONDS", cls.suppression_refresh_seconds
            ),
            max_message_bytes=_env_int("REVOLT_MAX_MESSAGE_BYTES", cls.max_message_bytes),
            max_batch_bytes=_env_int("REVOLT_MAX_BATCH_BYTES", cls.max_batch_bytes),
            segment_max_bytes=_env_int("REVOLT_SEGMENT_MAX_BYTES", cls.segment_max_bytes),
            segment_max_age_seconds=_env_float("REVOLT_SEGMENT_MAX_AGE_SECONDS", cls.segment_max_age_seconds),
            upload_interval_seconds=_env_float("REVOLT_UPLOAD_INTERVAL_SECONDS", cls.upload_interval_seconds),
            header_timeout_seconds=_env_float("REVOLT_HEADER_TIMEOUT_SECONDS", cls.header_timeout_seconds),
            body_timeout_seconds=_env_float("REVOLT_BODY_TIMEOUT_SECONDS", cls.body_timeout_seconds),
            keepalive_timeout_seconds=_env_float("REVOLT_KEEPALIVE_TIMEOUT_SECONDS", cls.keepalive_timeout_seconds),
            max_header_bytes=_env_int("REVOLT_MAX_HEADER_BYTES", cls.max_header_bytes),
            max_connections=_env_int("REVOLT_MAX_CONNECTIONS", cls.max_connections),
            # uvicorn's own FORWARDED_ALLOW_IPS still counts where REVOLT_TRUSTED_PROXIES is not set.
            trusted_proxies=_env("REVOLT_TRUSTED_PROXIES", _env("FORWARDED_ALLOW_IPS", cls.trusted_proxies)),
            upload_stall_seconds=_env_float("REVOLT_UPLOAD_STALL_SECONDS", cls.upload_stall_seconds),
            spool_stall_seconds=_env_float("REVOLT_SPOOL_STALL_SECONDS", cls.spool_stall_seconds),
            spool_min_free_bytes=_env_optional_int("REVOLT_SPOOL_MIN_FREE_BYTES"),
            report_db_url=_env(REPORT_DB_URL_ENV, f"sqlite:///{home / 'reports.sqlite'}"),
            # Dagster's own variable; the embedded default keeps its instance beside the data.
            dagster_home=Path(_env("DAGSTER_HOME", str(home / "dagster"))).expanduser().resolve(),
            dagster_ui_url=_env("REVOLT_DAGSTER_UI_URL", "http://127.0.0.1:3000").rstrip("/"),
            partitions_start=_env("REVOLT_PARTITIONS_START", "") or recorded_partitions_start(home),
            partitions_start_recorded=not _env("REVOLT_PARTITIONS_START", ""),
            lateness_days=_env_float("REVOLT_LATENESS_DAYS", cls.lateness_days),
            session_timeout_minutes=_env_float("REVOLT_SESSION_TIMEOUT_MINUTES", cls.session_timeout_minutes),
            max_session_hours=_env_float("REVOLT_MAX_SESSION_HOURS", cls.max_session_hours),
            mau_window_days=_env_int("REVOLT_MAU_WINDOW_DAYS", cls.mau_window_days),
            watermark_retries=_env_int("REVOLT_WATERMARK_RETRIES", cls.watermark_retries),
            watermark_retry_seconds=_env_float("REVOLT_WATERMARK_RETRY_SECONDS", cls.watermark_retry_seconds),
            pipeline_retries=_env_int("REVOLT_PIPELINE_RETRIES", cls.pipeline_retries),
            pipeline_retry_seconds=_env_float("REVOLT_PIPELINE_RETRY_SECONDS", cls.pipeline_retry_seconds),
            duckdb_memory_limit=_env("REVOLT_DUCKDB_MEMORY_LIMIT", cls.duckdb_memory_limit),
            report_db_url_from_env=bool(os.environ.get(REPORT_DB_URL_ENV, "").strip()),
            funnels_file=Path(_env("REVOLT_FUNNELS_FILE", str(home / "funnels.toml"))).expanduser(),
            retention_start_event=os.environ.get("REVOLT_RETENTION_START_EVENT", "").strip() or None,
            retention_return_event=os.environ.get("REVOLT_RETENTION_RETURN_EVENT", "").strip() or None,
            **{name: setting.read(getattr(cls, name)) for name, setting in ML_INTEGER_SETTINGS.items()},
            dashboard_token=os.environ.get(DASHBOARD_TOKEN_ENV, "").strip() or None,
            dashboard_url=_env("REVOLT_DASHBOARD_URL", cls.dashboard_url).rstrip("/"),
            engine=_env("REVOLT_ENGINE", cls.engine).strip().lower(),
            spark_master=_env("REVOLT_SPARK_MASTER", cls.spark_master).strip(),
            spark_driver_memory=os.environ.get("REVOLT_SPARK_DRIVER_MEMORY", "").strip() or None,
            spark_launcher=_env("REVOLT_SPARK_LAUNCHER", cls.spark_launcher).strip().lower(),
            pipes_bucket=os.environ.get("REVOLT_PIPES_BUCKET", "").strip() or None,
            pipes_prefix=_env("REVOLT_PIPES_PREFIX", cls.pipes_prefix),
            glue_job_name=os.environ.get("REVOLT_GLUE_JOB_NAME", "").strip() or None,
            emr_application_id=os.environ.get("REVOLT_EMR_APPLICATION_ID", "").strip() or None,
            emr_execution_role_arn=os.environ.get("REVOLT_EMR_EXECUTION_ROLE_ARN", "").strip() or None,
            emr_entry_point=os.environ.get("REVOLT_EMR_ENTRY_POINT", "").strip() or None,
            emr_spark_submit_parameters=_env("REVOLT_EMR_SPARK_SUBMIT_PARAMETERS", cls.emr_spark_submit_parameters),
            **_privacy_settings(cls),
        )

    def __post_init__(self) -> None:
        # Settings made in code (tests, `dataclasses.replace`) are held to the same ranges as the environment's.
        for name, setting in ML_INTEGER_SETTINGS.items():
            setting.check(getattr(self, name))
        if self.engine not in ENGINES:
            raise SettingsError(f"REVOLT_ENGINE must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.ip_policy not in IP_POLICIES:
            raise SettingsError(f"REVOLT_IP_POLICY must be one of {', '.join(IP_POLICIES)}, got {self.ip_policy!r}")
        if not self.suppression_refresh_seconds > 0:
            raise SettingsError(
                f"REVOLT_SUPPRESSION_REFRESH_SECONDS must be positive, got {self.suppression_refresh_seconds:g}"
            )
        self._check_spark_launcher()

    def _check_spark_launcher(self) -> None:
        if self.spark_driver_memory is not None and not _JVM_MEMORY.fullmatch(self.spark_driver_memory):
            # Spark would only say that its JVM exited before sending its port number.
            raise SettingsError(
                "REVOLT_SPARK_DRIVER_MEMORY must be a size such as 3g or 600m (k, m, g or t), "
                f"got {self.spark_driver_memory!r}"
            )
        if self.spark_launcher not in SPARK_LAUNCHERS:
            raise SettingsError(
                f"REVOLT_SPARK_LAUNCHER must be one of {', '.join(SPARK_LAUNCHERS)}, got {self.spark_launcher!r}"
            )
        values = {
            "REVOLT_GLUE_JOB_NAME": self.glue_job_name,
            "REVOLT_PIPES_BUCKET": self.pipes_bucket,
            "REVOLT_EMR_APPLICATION_ID": self.emr_application_id,
            "REVOLT_EMR_EXECUTION_ROLE_ARN": self.emr_execution_role_arn,
            "REVOLT_EMR_ENTRY_POINT": self.emr_entry_point,
        }
        missing = [name for name in SPARK_LAUNCHERS[self.spark_launcher] if not values[name]]
        if missing:
            raise SettingsError(f"REVOLT_SPARK_LAUNCHER={self.spark_launcher} needs {', '.join(missing)}")
        _check_privacy_settings(self)

    @property
    def churn(self) -> ChurnSettings:
        """How the churn model is trained, from these settings."""
        return ChurnSettings(
            horizon_days=self.churn_horizon_days,
            training_cutoffs=self.churn_training_cutoffs,
            trials=self.churn_tuning_trials,
            seed=self.ml_seed,
        )

    @cached_property
    def store(self) -> "ObjectStore":
        """The store at `storage_url` (with its S3 endpoint and region): built once, here, for every user."""
        from revolt_pipeline.storage import ObjectStore

        return ObjectStore(self.storage_url, s3_endpoint_url=self.s3_endpoint_url, s3_region=self.s3_region)

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
        write_once(self.admin_token_file, secrets.token_urlsafe(24) + "\n")
        return self.admin_token_file

    @property
    def privacy_salt_file(self) -> Path:
        """Where the embedded default keeps its generated privacy salt."""
        return self.home / "privacy-salt"

    def resolved_privacy_salt(self) -> str:
        """The privacy salt from the environment, or one generated once and kept in the data directory. Every
        process that hashes ids (the collector, the pipeline) must share it: set it in production."""
        if self.privacy_salt:
            return self.privacy_salt
        write_once(self.privacy_salt_file, secrets.token_hex(32) + "\n")
        return self.privacy_salt_file.read_text().strip()


# Personal data and retention (issue 12): a list of keys reads `none` as empty, so hashing can be turned off.
NO_KEYS = "none"


def _env_keys(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() == NO_KEYS:
        return ()
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def _privacy_settings(cls: type[Settings]) -> dict[str, object]:
    return {
        "pii_hash_keys": _env_keys("REVOLT_PII_HASH_KEYS", cls.pii_hash_keys),
        "pii_drop_keys": _env_keys("REVOLT_PII_DROP_KEYS", cls.pii_drop_keys),
        "raw_retention_days": _env_int("REVOLT_RAW_RETENTION_DAYS", cls.raw_retention_days),
    }


def _check_privacy_settings(settings: Settings) -> None:
    for name, keys in (
        ("REVOLT_PII_HASH_KEYS", settings.pii_hash_keys),
        ("REVOLT_PII_DROP_KEYS", settings.pii_drop_keys),
    ):
        for key in keys:
            try:
                KeyRule.parse(key)
            except ValueError as exc:
                raise SettingsError(f"{name}: {exc}") from exc
    if settings.raw_retention_days < 0:
        raise SettingsError(
            f"REVOLT_RAW_RETENTION_DAYS must be a number of days (0: keep forever), got {settings.raw_retention_days}"
        )
