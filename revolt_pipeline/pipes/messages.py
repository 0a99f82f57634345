"""What the Spark job and the assets exchange through Dagster Pipes, as JSON: the request and each day's results.

The assets send a `JobRequest` as the Pipes session's extras (the step, the days, the store, the rules: the job
reads no settings, since on AWS Glue or EMR Serverless it has none of the Dagster process's environment). The
job sends back, per day, the layer library's result (`RawDay`, `CleanDay`, ..., `pipes/steps.py` says which of
each step) with a summary of each output it wrote (rows, schema, first rows) and the checks judged from its files,
as a Pipes custom message; the assets map them to the same metadata and checks as when they build the day
themselves. Local paths of the job's machine are not sent (they come back empty).

Results and rules travel through one codec: dataclasses as objects of their fields, dates, times and durations
tagged, everything else as JSON has it; read back by the dataclasses' type hints.

Light to import: no Dagster, no Spark, no DuckDB connection.
"""

import base64
import types
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any, Union, get_args, get_origin, get_type_hints

import pyarrow as pa

from revolt_pipeline.layers.checks import CheckOutcome
from revolt_pipeline.layers.summaries import TableSummary
from revolt_pipeline.pipes.steps import STEPS, BuiltDay
from revolt_pipeline.transforms.funnels import Funnel
from revolt_pipeline.transforms.pii import PiiRules
from revolt_pipeline.transforms.rules import PipelineRules

# The key of the request among the Pipes session's extras.
EXTRAS_KEY = "revolt"


@dataclass(frozen=True)
class JobRequest:
    """One launch of the Spark job: a step for some days, and everything it needs to know."""

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
        if self.step not in STEPS:
            raise ValueError(f"unknown step {self.step!r}: one of {', '.join(STEPS)}")

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


def to_json(value: Any, local_root: str | None = None) -> Any:
    """`value` as JSON: a dataclass as an object of its fields, a date, time or duration tagged (`{"$date": ...}`).
    Text naming a file under `local_root` (the job's work folder) is sent empty: it means nothing elsewhere."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name), local_root) for f in fields(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$seconds": value.total_seconds()}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"only text keys travel as JSON: {list(value)[:5]}")
        return {key: to_json(item, local_root) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item, local_root) for item in value]
    if isinstance(value, str) and local_root and value.startswith(local_root):
        return ""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"a {type(value).__name__} does not travel as JSON: {value!r}")


_TAGS = {
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$seconds": lambda seconds: timedelta(seconds=seconds),
}


def from_json(hint: Any, data: Any) -> Any:
    """What `to_json` wrote, as a value of type `hint` (dataclasses rebuilt from their type hints)."""
    if isinstance(data, dict) and len(data) == 1 and next(iter(data)) in _TAGS:
        [(tag, value)] = data.items()
        return _TAGS[tag](value)
    if isinstance(hint, type) and is_dataclass(hint) and isinstance(data, dict):
        hints = get_type_hints(hint)
        return hint(**{name: from_json(hints[name], value) for name, value in data.items()})
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        shapes = [arg for arg in args if isinstance(arg, type) and is_dataclass(arg)]
        return from_json(shapes[0] if len(shapes) == 1 else Any, data)
    if isinstance(data, list):
        item = args[0] if origin in (list, tuple) and args else Any
        values = [from_json(item, value) for value in data]
        return tuple(values) if origin is tuple else values
    if isinstance(data, dict):
        item = args[1] if origin is dict and len(args) == 2 else Any
        return {key: from_json(item, value) for key, value in data.items()}
    return data


def rules_to_json(rules: PipelineRules) -> dict[str, Any]:
    """Every rule a step applies: the windows, the funnels, retention's events, and the PII keys with the privacy
    salt (cleaning hashes with it: the request is as secret as the salt, docs/scale-out.md)."""
    return {
        "lateness_seconds": rules.lateness.total_seconds(),
        "session_timeout_seconds": rules.session_timeout.total_seconds(),
        "max_session_length_seconds": rules.max_session_length.total_seconds(),
        "mau_window_days": rules.mau_window_days,
        "funnels": to_json(rules.funnels),
        "retention_start_event": rules.retention_start_event,
        "retention_return_event": rules.retention_return_event,
        "pii": to_json(rules.pii),
    }


def rules_from_json(data: dict[str, Any]) -> PipelineRules:
    return PipelineRules(
        lateness=timedelta(seconds=data["lateness_seconds"]),
        session_timeout=timedelta(seconds=data["session_timeout_seconds"]),
        max_session_length=timedelta(seconds=data["max_session_length_seconds"]),
        mau_window_days=data["mau_window_days"],
        funnels=from_json(tuple[Funnel, ...], data.get("funnels") or []),
        retention_start_event=data["retention_start_event"],
        retention_return_event=data["retention_return_event"],
        pii=from_json(PiiRules, data["pii"]) if data.get("pii") else PiiRules(),
    )


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


def built_day_to_message(step: str, built: BuiltDay, local_root: str | None = None) -> dict[str, Any]:
    """The Pipes custom message of a built day; paths under `local_root` (the job's work folder) sent empty."""
    return {
        "step": step,
        "day": built.day.isoformat(),
        "result": to_json(built.result, local_root),
        "summaries": {name: summary_to_json(summary) for name, summary in built.summaries.items()},
        "seconds": built.seconds,
        "checks": to_json(built.checks),
    }


def built_day_from_message(message: dict[str, Any]) -> BuiltDay:
    """A built day from its message: the result as the layer library returns it, but for the job's local paths."""
    step = message["step"]
    if step not in STEPS:
        raise ValueError(f"a message of an unknown step {step!r}")
    return BuiltDay(
        day=date.fromisoformat(message["day"]),
        result=from_json(STEPS[step].result_type, message["result"]),
        summaries={name: summary_from_json(summary) for name, summary in message["summaries"].items()},
        seconds=dict(message.get("seconds") or {}),
        checks=from_json(list[CheckOutcome], message.get("checks") or []),
    )
