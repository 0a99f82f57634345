"""What the Spark job and the assets exchange through Dagster Pipes, as JSON: the request and each day's results.

The assets send a `JobRequest` as the Pipes session's extras (the days, the step, the store, the rules: the job
reads no settings, since on AWS Glue or EMR Serverless it has none of the Dagster process's environment). The
job sends back, per day, the layer library's result (`CleanDay`, `SessionDay`, `AggregateDay`) with a summary of
each output it wrote (rows, schema, first rows), as a Pipes custom message; the assets map them to the same
metadata and checks as when they build the day themselves. Local paths of the job's machine are not sent.

Light to import: no Dagster, no Spark, no DuckDB connection.
"""

import base64
from dataclasses import asdict, dataclass, field, fields
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from revolt_pipeline.layers.cleaned import AggregateDay, CleanDay, SessionDay
from revolt_pipeline.layers.summaries import TableSummary, summarize_parquet
from revolt_pipeline.transforms.paths import PathBalance
from revolt_pipeline.transforms.rules import PipelineRules

# The steps the job runs, each one multi-asset of defs/cleaned/assets.py, and the lake datasets each writes.
STEP_DATASETS = {
    "events": ("events", "events_quarantine"),
    "sessionized": ("sessionized_events", "sessions"),
    "daily_aggregates": ("daily_aggregates",),
}
# The key of the request among the Pipes session's extras.
EXTRAS_KEY = "revolt"
DayResult = CleanDay | SessionDay | AggregateDay
_PATH_FIELDS = {"events_path", "quarantine_path", "sessions_path"}


@dataclass(frozen=True)
class JobRequest:
    """One launch of the Spark job: a step of the cleaned layer for some days, and everything it needs to know."""

    step: str
    days: list[date]
    storage_url: str
    rules: PipelineRules
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # The columns of each output's preview (the assets' own lists), by lake dataset.
    previews: dict[str, list[str]] = field(default_factory=dict)
    # `local[N]` for a local run; None on a cluster, whose spark-submit sets the master.
    spark_master: str | None = None
    spark_conf: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.step not in STEP_DATASETS:
            raise ValueError(f"unknown step {self.step!r}: one of {', '.join(STEP_DATASETS)}")

    def to_extras(self) -> dict[str, Any]:
        """The request as Pipes extras (JSON)."""
        return {
            "step": self.step,
            "days": [day.isoformat() for day in self.days],
            "storage_url": self.storage_url,
            "s3_endpoint_url": self.s3_endpoint_url,
            "s3_region": self.s3_region,
            "rules": rules_to_json(self.rules),
            "previews": self.previews,
            "spark_master": self.spark_master,
            "spark_conf": self.spark_conf,
        }

    @classmethod
    def from_extras(cls, extras: Any) -> "JobRequest":
        """The request the assets sent; ValueError naming what is missing when the job was launched without one."""
        missing = [name for name in ("step", "days", "storage_url", "rules") if name not in extras]
        if missing:
            raise ValueError(
                f"the Pipes extras lack {', '.join(missing)}: launch this job from the Dagster assets "
                "(REVOLT_ENGINE=spark), which send the request"
            )
        return cls(
            step=extras["step"],
            days=[date.fromisoformat(day) for day in extras["days"]],
            storage_url=extras["storage_url"],
            rules=rules_from_json(extras["rules"]),
            s3_endpoint_url=extras.get("s3_endpoint_url"),
            s3_region=extras.get("s3_region") or cls.s3_region,
            previews={name: list(columns) for name, columns in (extras.get("previews") or {}).items()},
            spark_master=extras.get("spark_master"),
            spark_conf=dict(extras.get("spark_conf") or {}),
        )


def rules_to_json(rules: PipelineRules) -> dict[str, Any]:
    """The rules the cleaned layer applies. The funnels are not sent: no step of this job reads them."""
    return {
        "lateness_seconds": rules.lateness.total_seconds(),
        "session_timeout_seconds": rules.session_timeout.total_seconds(),
        "max_session_length_seconds": rules.max_session_length.total_seconds(),
        "mau_window_days": rules.mau_window_days,
        "retention_start_event": rules.retention_start_event,
        "retention_return_event": rules.retention_return_event,
    }


def rules_from_json(data: dict[str, Any]) -> PipelineRules:
    return PipelineRules(
        lateness=timedelta(seconds=data["lateness_seconds"]),
        session_timeout=timedelta(seconds=data["session_timeout_seconds"]),
        max_session_length=timedelta(seconds=data["max_session_length_seconds"]),
        mau_window_days=data["mau_window_days"],
        retention_start_event=data["retention_start_event"],
        retention_return_event=data["retention_return_event"],
    )


@dataclass
class BuiltDay:
    """A day one step built: the layer library's result, a summary of each output, the seconds each part took."""

    result: DayResult
    summaries: dict[str, TableSummary]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def day(self) -> date:
        return self.result.day


def summarize_day(result: DayResult, previews: dict[str, list[str]]) -> dict[str, TableSummary]:
    """A summary of each output of a built day (its local Parquet files), by lake dataset or aggregate name."""
    if isinstance(result, CleanDay):
        files = {"events": result.events_path, "events_quarantine": result.quarantine_path}
    elif isinstance(result, SessionDay):
        files = {"sessionized_events": result.events_path, "sessions": result.sessions_path}
    else:
        files = result.outputs
    return {name: summarize_parquet(path, previews.get(name)) for name, path in files.items()}


def _encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def summary_to_json(summary: TableSummary) -> dict[str, Any]:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, summary.preview.schema) as writer:
        writer.write_table(summary.preview)
    return {
        "rows": summary.rows,
        "schema": _encode_bytes(summary.schema.serialize().to_pybytes()),
        "preview": _encode_bytes(sink.getvalue().to_pybytes()),
    }


def summary_from_json(data: dict[str, Any]) -> TableSummary:
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["schema"])))
    preview = pa.ipc.open_stream(pa.py_buffer(base64.b64decode(data["preview"]))).read_all()
    return TableSummary(rows=data["rows"], schema=schema, preview=preview)


def built_day_to_message(step: str, built: BuiltDay) -> dict[str, Any]:
    """The Pipes custom message of a built day."""
    result = {name: value for name, value in asdict(built.result).items() if name not in _PATH_FIELDS}
    result["day"] = built.day.isoformat()
    if isinstance(built.result, AggregateDay):
        result["outputs"] = sorted(built.result.outputs)
    return {
        "step": step,
        "result": result,
        "summaries": {name: summary_to_json(summary) for name, summary in built.summaries.items()},
        "seconds": built.seconds,
    }


def built_day_from_message(message: dict[str, Any]) -> BuiltDay:
    """A built day from its message: the result as the layer library returns it, but for the job's local paths."""
    step, data = message["step"], dict(message["result"])
    data["day"] = date.fromisoformat(data["day"])
    result: DayResult
    if step == "events":
        result = CleanDay(**data, events_path="", quarantine_path="")
    elif step == "sessionized":
        result = SessionDay(**data, events_path="", sessions_path="")
    elif step == "daily_aggregates":
        known = {f.name for f in fields(PathBalance)}
        balances = [PathBalance(**{k: v for k, v in balance.items() if k in known}) for balance in data["paths"]]
        result = AggregateDay(data["day"], {name: "" for name in data["outputs"]}, data["made_safe"], balances)
    else:
        raise ValueError(f"a message of an unknown step {step!r}")
    summaries = {name: summary_from_json(summary) for name, summary in message["summaries"].items()}
    return BuiltDay(result, summaries, dict(message.get("seconds") or {}))
