"""The lake and the report database for notebooks: what the settings name, read by layer or table name.

A notebook (a process of its own) reads `Settings.from_env()` once and hands it to `Lab`, so it reads the very
store and report database the pipeline writes, a local folder or S3, SQLite or PostgreSQL, and never a path of
its own. Every Parquet layer of the store is queryable by its name, the key prefix `storage/layout.py` gives it
(`events`, `sessions`, `people`, `aggregates/events_daily`, and whatever a later layer writes), as a DuckDB view
made when a query first names it; every report table and view is readable by its name as a pandas DataFrame.

The store is listed once, when first asked (`refresh` lists it again); the files are read as listed, without
consulting the pipeline's commit records, so a day that a run is rewriting at that very moment may read partly old
and partly new. Exploring is what this is for; the report tables and the pipeline's own readers are exact.

S3 is read through the store's own pyarrow filesystem, handed to DuckDB as an fsspec filesystem: DuckDB's S3
support is an extension it would download at run time, and this keeps one S3 client, configured once.
"""

import json
import re
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from types import TracebackType
from typing import Any

import duckdb
import pandas as pd
import pyarrow.fs as pafs
import sqlalchemy as sa

from revolt_pipeline.reports.loader import create_engine
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import COMMITS, LANDING, QUARANTINE, WATERMARKS
from revolt_pipeline.transforms.engine import duckdb_connection

# What the collector lands and the pipeline's bookkeeping: objects of the store that are no layer.
NOT_LAYERS = (LANDING, QUARANTINE, WATERMARKS, COMMITS)
_PARTITION_FOLDER = re.compile(r"^(?P<column>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>[^/]+)$")


@dataclass(frozen=True)
class LakeLayer:
    """A Parquet layer of the store: its name (the key prefix before its partition folders) and its files.

    `partitions` are the `column=value` folder names under it (`event_date`, `snapshot_date`...), which
    DuckDB adds as columns where the files do not hold them; `values` are the first partition's values, in
    order, one per file (a layer without partition folders has none).
    """

    name: str
    partitions: tuple[str, ...]
    keys: tuple[str, ...]
    values: tuple[str, ...]

    @property
    def first(self) -> str | None:
        return self.values[0] if self.values else None

    @property
    def last(self) -> str | None:
        return self.values[-1] if self.values else None

    def keys_between(self, since: str | None, until: str | None) -> list[str]:
        """The files whose first partition value is within `since`..`until` (both included, ISO days compare
        as text); all of them when neither is given."""
        if since is None and until is None:
            return list(self.keys)
        if not self.partitions:
            raise ValueError(f"lake layer {self.name!r} has no partition folders to select days by")
        return [
            key
            for key, value in zip(self.keys, self.values, strict=True)
            if (since is None or value >= since) and (until is None or value <= until)
        ]


def layer_of(key: str) -> tuple[str, tuple[str, ...], str | None] | None:
    """The layer a Parquet object belongs to, its partition columns and its first partition value; None for an
    object that is no layer's (not Parquet, or bookkeeping)."""
    parts = key.split("/")
    if not parts[-1].endswith(".parquet") or parts[0] in NOT_LAYERS:
        return None
    folders = parts[:-1]
    first = next((n for n, folder in enumerate(folders) if _PARTITION_FOLDER.match(folder)), None)
    if first is None:  # no partition folders: the folder is the layer (or the file, at the top)
        return ("/".join(folders) or parts[-1].removesuffix(".parquet")), (), None
    if first == 0:
        return None  # partition folders at the top of the store: no name to give it
    matches = [_PARTITION_FOLDER.match(folder) for folder in folders[first:]]
    columns = tuple(match["column"] for match in matches if match)
    first_match = matches[0]
    assert first_match is not None
    return "/".join(folders[:first]), columns, first_match["value"]


def _day(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


# How DuckDB names a table it does not know: the cue to make the lake layer of that name a view and try again.
_MISSING_TABLE = re.compile(r"Table with name (?P<name>.+?) does not exist!")


class Lab:
    """The store and the report database the settings name, for notebooks.

    `sql` runs DuckDB SQL over the lake (layers by name), `layer` and `latest` give one layer as a DuckDB
    relation, `report` reads a report table or view, `report_sql` runs SQL on the report database; `get` and
    `keys` reach any other object (a model's artifact, its metrics). Close it, or use it in a `with` block,
    to release the DuckDB connection and the database's connections.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: ObjectStore = settings.store
        self._resources = ExitStack()
        self._registered: set[str] = set()

    def __repr__(self) -> str:
        return f"Lab(store={self.store.url!r}, reports={self.reports.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> "Lab":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if "reports" in self.__dict__:
            self.reports.dispose()
        self._resources.close()
        for name in ("connection", "_layers", "reports"):
            self.__dict__.pop(name, None)
        self._registered.clear()

    # The lake.

    @cached_property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection the lake's views live on: offline, UTC, within the memory limit set."""
        connection = self._resources.enter_context(duckdb_connection(memory_limit=self.settings.duckdb_memory_limit))
        if not self.store.is_local:
            from fsspec.implementations.arrow import ArrowFSWrapper

            connection.register_filesystem(ArrowFSWrapper(self.store.filesystem))
        return connection

    @cached_property
    def _layers(self) -> dict[str, LakeLayer]:
        found: dict[str, tuple[tuple[str, ...], list[tuple[str, str]]]] = {}
        for top in self._top_level_folders():
            for info in self.store.list(top):
                place = layer_of(info.key)
                if place is None:
                    continue
                name, partitions, value = place
                known, files = found.setdefault(name, (partitions, []))
                if known == partitions:  # a stray file in another shape stays out of the layer's view
                    files.append((value or "", info.key))
        return {
            name: LakeLayer(
                name,
                partitions,
                tuple(key for _, key in sorted(files)),
                tuple(value for value, _ in sorted(files)) if partitions else (),
            )
            for name, (partitions, files) in sorted(found.items())
        }

    def _top_level_folders(self) -> list[str]:
        """The store's top-level folders but the collector's landing and the bookkeeping, so a large landing
        area is never listed."""
        selector = pafs.FileSelector(self.store.root, recursive=False, allow_not_found=True)
        names = [info.base_name for info in self.store.filesystem.get_file_info(selector)]
        return sorted(name for name in names if name not in NOT_LAYERS and not name.startswith("."))

    def layers(self) -> list[LakeLayer]:
        """Every Parquet layer in the store, by name, as listed when first asked (`refresh` lists again)."""
        return list(self._layers.values())

    def refresh(self) -> None:
        """List the store again and remake the views made so far: days and layers built since are read."""
        self.__dict__.pop("_layers", None)
        for name in sorted(self._registered):
            if name in self._layers:  # else its view names files that are gone, and says so when read
                self._make_view(name)

    def _make_view(self, name: str) -> None:
        layer = self._layers[name]
        self._read(layer, list(layer.keys)).create_view(name, replace=True)
        self._registered.add(name)

    def describe(self) -> pd.DataFrame:
        """The layers as a table: name, partition columns, files, first and last partition."""
        return pd.DataFrame(
            [
                {
                    "layer": layer.name,
                    "partitions": ", ".join(layer.partitions),
                    "files": len(layer.keys),
                    "first": layer.first,
                    "last": layer.last,
                }
                for layer in self.layers()
            ],
            columns=["layer", "partitions", "files", "first", "last"],
        )

    def lake_layer(self, name: str) -> LakeLayer:
        try:
            return self._layers[name]
        except KeyError:
            raise KeyError(self._no_layer(name)) from None

    def _no_layer(self, name: str) -> str:
        known = ", ".join(self._layers) or "none: run `revolt demo`, or the pipeline's jobs, first"
        return f"no lake layer {name!r} in {self.store.url} (nor a table of this connection); layers there: {known}"

    def layer(
        self, name: str, *, since: date | str | None = None, until: date | str | None = None
    ) -> duckdb.DuckDBPyRelation:
        """One layer as a DuckDB relation; `since` and `until` (days) keep the files of those partitions only, so
        a few days of a long history are read without opening the rest."""
        layer = self.lake_layer(name)
        return self._read(layer, layer.keys_between(_day(since), _day(until)))

    def latest(self, name: str) -> duckdb.DuckDBPyRelation:
        """The last partition of a layer: the latest snapshot of `people` or `cohort_activity`."""
        layer = self.lake_layer(name)
        return self.layer(name, since=layer.last, until=layer.last)

    def sql(self, query: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyRelation:
        """Run DuckDB SQL in which lake layers are tables by name (quote names with a slash:
        `"aggregates/events_daily"`); `.df()` on the answer gives a pandas DataFrame."""
        while True:
            try:
                return self.connection.sql(query, params=parameters)
            except duckdb.CatalogException as error:
                missing = _MISSING_TABLE.search(str(error))
                if missing is None or missing["name"] in self._registered:
                    raise
                name = missing["name"]
                if name not in self._layers:
                    raise KeyError(self._no_layer(name)) from error
                # Made when first named, so opening the lab reads no file and lists the store once.
                self._make_view(name)

    def _read(self, layer: LakeLayer, keys: list[str]) -> duckdb.DuckDBPyRelation:
        if not keys:
            raise ValueError(f"lake layer {layer.name!r} has no files in the days asked for")
        paths = [self.store.path(key) if self.store.is_local else f"s3://{self.store.path(key)}" for key in keys]
        # Files read by column name: a column added to a layer later reads as NULL on its older days.
        return self.connection.read_parquet(paths, hive_partitioning=bool(layer.partitions), union_by_name=True)

    # Other objects of the store: models, their metrics, profiles.

    def keys(self, prefix: str = "") -> list[str]:
        """Every object under the folder `prefix`, in key order."""
        return [info.key for info in self.store.list(prefix)]

    def get(self, key: str) -> bytes:
        return self.store.get(key)

    def get_json(self, key: str) -> Any:
        return json.loads(self.store.get(key))

    # The report database.

    @cached_property
    def reports(self) -> sa.Engine:
        """An engine on the report database (SQLAlchemy), for pandas or any other reader."""
        return create_engine(self.settings.report_db_url)

    def report_tables(self) -> list[str]:
        """The report database's tables and views, by name."""
        inspector = sa.inspect(self.reports)
        return sorted({*inspector.get_table_names(), *inspector.get_view_names()})

    def report(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A report table or view as a DataFrame, sorted by its primary key (so on every backend alike)."""
        if name not in self.report_tables():
            where = self.reports.url.render_as_string(hide_password=True)
            raise KeyError(f"no report table or view {name!r} in {where}; run the job that loads it first")
        frame = pd.read_sql_table(name, self.reports, columns=columns)
        inspector = sa.inspect(self.reports)
        # Report timestamps are UTC: PostgreSQL says so, SQLite stores them naive; read both as UTC.
        for column in inspector.get_columns(name):
            if isinstance(column["type"], sa.DateTime) and column["name"] in frame.columns:
                values = frame[column["name"]]
                if pd.api.types.is_datetime64_dtype(values) and values.dt.tz is None:
                    frame[column["name"]] = values.dt.tz_localize("UTC")
        key = inspector.get_pk_constraint(name)["constrained_columns"] or []
        key = [column for column in key if column in frame.columns]
        return frame.sort_values(key, ignore_index=True) if key else frame

    def report_sql(self, query: str, parameters: dict[str, Any] | None = None) -> pd.DataFrame:
        """SQL of the report database's own dialect (SQLite or PostgreSQL), with `:name` parameters."""
        return pd.read_sql_query(sa.text(query), self.reports, params=parameters)
