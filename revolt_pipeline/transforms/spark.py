"""The transforms on Spark: a connection that runs their DuckDB SQL on a SparkSession, for the layers unchanged.

The layer library hands the transforms a connection and they run SQL on it (`execute`, `fetchone`,
`fetchall`, `description`, `create_function`, `register`). `SparkConnection` answers that same part of
DuckDB's connection, so every transform is one definition, in DuckDB's SQL: each statement is translated by
`dialect.py` (sqlglot, and the one mapping of what differs), and what Spark SQL has no statement for runs
through DataFrames:

- `read_parquet(files, file_row_number = true)`: a Spark read registered as a temporary view (the row number
  is Spark's `_metadata.row_index`, the row's place in its file, as DuckDB's);
- `read_csv(files, columns = {'line': 'VARCHAR'}, ...)`, the raw layer's reading of whole landed lines: Spark's
  text reader (gzip by the files' `.gz`, lines ended by `\n` only, as DuckDB's `new_line`; `filename = true`
  is the file's `_metadata.file_path`, a URI where DuckDB gives the path as named: the same last part for the
  collector's names, which need no escaping (`collector/service.py`'s COLLECTOR_ID, digits and hex for a segment);
- `json_merge_patch` (no Spark function; `dialect.py` names it `JSON_MERGE_PATCH_UDF` on a list of JSON texts): an
  Arrow function registered on the session that folds each list with DuckDB's own `json_merge_patch`;
- `COPY (query) TO 'file.parquet'`: the query written as one zstd Parquet file at that path (local paths: the
  layer library stages the lake's files locally for either engine);
- `CREATE TEMP TABLE name AS query`: the query's rows cached and named, as DuckDB materializes them;
- `a UNION ALL BY NAME b`: `DataFrame.unionByName` with missing columns as NULL;
- DuckDB's Python functions (`create_function`, type "arrow") become Spark Arrow UDFs.

Spark runs in UTC, without ANSI mode (a division by zero or an index beyond a list is NULL, as in DuckDB), and
writes timestamps as Parquet's microsecond timestamps, as DuckDB does.
"""

import os
import re
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from sqlglot import exp

from revolt_pipeline.transforms.dialect import JSON_MERGE_PATCH_UDF, parse, spark_sql

# What a local session needs to behave like DuckDB here; a cluster's session gets them from the job (scale-out.md).
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.legacy.sizeOfNull": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # DuckDB's json_each lists every key of an object, a repeated one too; Spark's parse_json refuses them otherwise.
    "spark.sql.variant.allowDuplicateKeys": "true",
    # Broadcast a join's side only once adaptive execution has measured it. The planner's estimate of a few columns
    # of a wide Parquet file is its compressed size scaled by their share of the row: for a day's message ids and
    # sessions that is under 10 MB while the rows fill hundreds, and building that table failed a 2 M-event day
    # with a 600 MB heap ("Not enough memory to build and broadcast the table").
    "spark.sql.autoBroadcastJoinThreshold": "-1",
    "spark.sql.adaptive.autoBroadcastJoinThreshold": "10MB",
}
LOCAL_CONF = {
    # Loopback only: Spark would otherwise bind to the machine's first non-loopback address.
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # A day is small next to Spark's default of 200 shuffle partitions, each a task.
    "spark.sql.shuffle.partitions": "4",
}
# For days of a few thousand rows (tests, demos): compiling each query's code costs more than running it, one
# shuffle partition is plenty, and re-planning after every shuffle (adaptive execution) took the ML features' query
# from 4-6 s to 12-14 s on the demo's few hundred rows. Results are the same either way.
SMALL_DATA_CONF = {
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.shuffle.partitions": "1",
}


# The driver's Java options of a local session (`local_driver_java_options`), each left out where the user chose one.
# In local mode the driver's heap is every task's. G1 (Java's default) threw OutOfMemoryError in the path aggregates of
# a 2 M-event day at a 600 MB heap, and of a 20 M-event day at 3 GB, with most of the heap free; the throughput
# collector finishes both (docs/scale-out.md, "Spark's heap").
COLLECTOR_OPTION = "-XX:+UseParallelGC"
# Spark's warnings and errors without the notes every session prints at start (docs/scale-out.md, "Spark's logging").
LOG4J2_PROPERTIES = Path(__file__).with_name("spark-log4j2.properties")
# A JVM refuses to start with two collectors ("Multiple garbage collectors selected").
_COLLECTOR = re.compile(r"-XX:\+Use(Serial|Parallel|G1|Z|Shenandoah|Epsilon|ConcMarkSweep)GC\b")
# A logging configuration named to the JVM: log4j 2's property (either spelling), or log4j 1's for Spark's bridge.
_LOGGING = re.compile(r"-Dlog4j2?\.configuration(File)?=")
# What log4j 2 finds on the classpath, where spark-submit puts Spark's configuration folder.
_LOGGING_FILE = re.compile(r"log4j2(-test)?\.(properties|ya?ml|jsn|json|xml)|log4j2\.component\.properties")
# The Java options of the driver: Spark's two settings, and what every `java` (JDK_JAVA_OPTIONS) and every JVM
# (JAVA_TOOL_OPTIONS) of the process tree reads.
DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
_USER_JAVA_OPTIONS = (DRIVER_JAVA_OPTIONS, "spark.driver.defaultJavaOptions")
_JAVA_OPTIONS_ENV = ("JDK_JAVA_OPTIONS", "JAVA_TOOL_OPTIONS")


@contextmanager
def spark_session(
    master: str = "local[2]", *, driver_memory: str | None = None, conf: Mapping[str, str] | None = None
) -> Iterator[SparkSession]:
    """A SparkSession for the transforms, stopped on exit. `master` `local[N]` runs in this process's JVM on
    127.0.0.1 with a throwaway warehouse, the throughput collector and Spark's warnings without its start-up notes
    (`local_driver_java_options`); any other master is a cluster's, configured by its own job. `conf` adds to or
    overrides the settings (`SMALL_DATA_CONF`)."""
    ignore_pyspark_pandas_warning()
    with tempfile.TemporaryDirectory(prefix="revolt-spark-") as warehouse:
        builder = SparkSession.builder.master(master).appName("revolt_pipeline")
        settings = {**SPARK_CONF, "spark.sql.warehouse.dir": warehouse}
        if master.startswith("local"):
            settings |= LOCAL_CONF | {"spark.local.dir": warehouse}
        if driver_memory:
            settings["spark.driver.memory"] = driver_memory
        settings |= conf or {}
        java_options = local_driver_java_options(conf or {}, os.environ) if master.startswith("local") else None
        if java_options:
            settings[DRIVER_JAVA_OPTIONS] = java_options
        for key, value in settings.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        if master.startswith("local"):
            # Python UDFs run in workers of this interpreter, whose packages they import (PySpark would take
            # PYSPARK_PYTHON, else the first `python3` on the PATH).
            session.sparkContext.pythonExec = sys.executable
        try:
            yield session
        finally:
            session.stop()


def ignore_pyspark_pandas_warning() -> None:
    """Hide PySpark's FutureWarning that it does not yet fully support pandas 3, which every job printed: the
    transforms hand Spark Arrow tables, and the engines' comparison tests hold Spark's results to DuckDB's. Only that
    warning, and only PySpark's: any other FutureWarning still shows."""
    warnings.filterwarnings(
        "ignore", message=r"PySpark does not yet fully support pandas >= 3", category=FutureWarning, module=r"pyspark\."
    )


def local_driver_java_options(conf: Mapping[str, str], environ: Mapping[str, str]) -> str:
    """`spark.driver.extraJavaOptions` for a local session: the throughput collector and our logging configuration,
    then the user's own options (from `conf`, else from spark-defaults.conf, which `conf`'s setting would replace).

    Where the user chose a collector or a logging configuration, in any of the driver's Java options
    (`spark.driver.extraJavaOptions`, `spark.driver.defaultJavaOptions`, JDK_JAVA_OPTIONS, JAVA_TOOL_OPTIONS), or a
    logging file in Spark's configuration folder or LOG4J_CONFIGURATION_FILE, ours is left out and theirs runs."""
    conf_dir = _spark_conf_dir(environ)
    defaults = _spark_defaults(conf_dir / "spark-defaults.conf")
    theirs = conf.get(DRIVER_JAVA_OPTIONS, defaults.get(DRIVER_JAVA_OPTIONS, ""))
    chosen = " ".join(
        [
            *(conf.get(key, defaults.get(key, "")) for key in _USER_JAVA_OPTIONS),
            *(environ.get(name, "") for name in _JAVA_OPTIONS_ENV),
        ]
    )
    ours: list[str] = []
    if not _COLLECTOR.search(chosen):
        ours.append(COLLECTOR_OPTION)
    logging_files = conf_dir.is_dir() and any(_LOGGING_FILE.fullmatch(path.name) for path in conf_dir.iterdir())
    if not (_LOGGING.search(chosen) or environ.get("LOG4J_CONFIGURATION_FILE") or logging_files):
        # A file URI: a path with spaces would be split into several options.
        ours.append(f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES.as_uri()}")
    return " ".join([*ours, theirs]).strip()


def _spark_conf_dir(environ: Mapping[str, str]) -> Path:
    """The folder spark-submit reads spark-defaults.conf from and puts on the driver's classpath."""
    if environ.get("SPARK_CONF_DIR"):
        return Path(environ["SPARK_CONF_DIR"])
    from pyspark.find_spark_home import _find_spark_home

    return Path(environ.get("SPARK_HOME") or _find_spark_home()) / "conf"


def _spark_defaults(path: Path) -> dict[str, str]:
    """The settings of a spark-defaults.conf, a Java properties file: `key value` (or `key=value`) a line."""
    if not path.is_file():
        return {}
    settings = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            key, value = [*re.split(r"\s*[=:]\s*|\s+", line, maxsplit=1), ""][:2]
            settings[key] = value.strip()
    return settings


class SparkConnection:
    """The part of a DuckDB connection the transforms use, on a SparkSession. One per step, like DuckDB's:
    `close` drops the views and cached tables it made."""

    def __init__(self, session: SparkSession) -> None:
        self.session = session
        self._prefix = f"revolt_{uuid.uuid4().hex[:8]}"
        self._views: list[str] = []
        self._tables: dict[str, DataFrame] = {}
        self._parquet_views: dict[tuple[tuple[str, ...], bool], str] = {}
        self._functions: set[str] = set()
        self._result: DataFrame | None = None
        _register_json_merge_patch(session)

    # DuckDB's connection API, as the transforms call it.

    def execute(self, sql: str, parameters: list[Any] | None = None) -> "SparkConnection":
        tree = parse(sql)
        self._result = None
        if isinstance(tree, exp.Copy):
            self._copy(tree)
        elif isinstance(tree, exp.Create) and _is_temporary_table(tree):
            self._create_temporary_table(tree)
        else:
            self._result = self._frame(tree, parameters)
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._result.collect()] if self._result is not None else []

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self._result.limit(1).collect() if self._result is not None else []
        return tuple(rows[0]) if rows else None

    @property
    def description(self) -> list[tuple[str, str, None, None, None, None, None]] | None:
        if self._result is None:
            return None
        return [
            (field.name, field.dataType.simpleString(), None, None, None, None, None) for field in self._result.schema
        ]

    def create_function(
        self, name: str, function: Callable[[pa.Array], pa.Array], parameters: Any, return_type: Any, **_: Any
    ) -> None:
        """A DuckDB Arrow function (`type="arrow"`) of text, as a Spark Arrow UDF of the same name."""
        from pyspark.sql.functions import arrow_udf

        if str(return_type) != "VARCHAR":
            raise NotImplementedError(f"{name}: only functions returning VARCHAR are mapped to Spark yet")
        # The transforms register their functions on each connection, as on DuckDB, but a session's functions are all
        # its connections': drop an earlier connection's first, as Spark warns of every function it replaces.
        self.session.sql(f"DROP TEMPORARY FUNCTION IF EXISTS {_quoted(name)}")
        self.session.udf.register(name, arrow_udf(function, "string"))
        self._functions.add(name)

    def register(self, name: str, table: pa.Table) -> None:
        self._view(self.session.createDataFrame(table), name)

    def unregister(self, name: str) -> None:
        self.session.catalog.dropTempView(name)

    def close(self) -> None:
        for table in self._tables.values():
            table.unpersist()
        for name in self._views:
            self.session.catalog.dropTempView(name)
        self._tables.clear()
        self._views.clear()

    # Statements with no Spark SQL of their own.

    def _frame(self, tree: exp.Expression, parameters: list[Any] | None = None) -> DataFrame:
        """The DataFrame of a query: its table functions and unions by name replaced by views first."""
        while isinstance(tree, exp.Subquery) and not tree.alias:
            tree = tree.this
        tree = tree.copy()  # the root of its own tree, whatever it was unwrapped from
        if isinstance(tree, exp.Union) and tree.args.get("by_name"):
            return self._union_by_name(tree)
        for union in list(tree.find_all(exp.Union)):
            if union.args.get("by_name") and union.root() is tree:
                union.replace(exp.select("*").from_(self._union_by_name_view(union)))
        for table in list(tree.find_all(exp.Table)):
            if isinstance(table.this, exp.ReadParquet):
                table.set("this", exp.to_identifier(self._parquet_view(table.this)))
            elif isinstance(table.this, exp.ReadCSV):
                table.set("this", exp.to_identifier(self._lines_view(table.this)))
            elif isinstance(table.this, exp.Anonymous) and table.this.name.lower() == "duckdb_functions":
                table.set("this", exp.to_identifier(self._functions_view()))
        for star in list(tree.find_all(exp.Star)):
            if star.args.get("replace"):
                self._expand_star_replace(star)
        return self.session.sql(spark_sql(tree), args=parameters or None)

    def _expand_star_replace(self, star: exp.Star) -> None:
        """`t.* REPLACE (expr AS c)` as every column of `t` in its place, `c` computed: Spark has no REPLACE, and
        `* EXCEPT (c), expr AS c` would move `c` to the end. The columns are asked of Spark (analysis, no job)."""
        item = star.parent if isinstance(star.parent, exp.Column) else star
        select = item.parent
        if not isinstance(select, exp.Select):
            raise NotImplementedError("* REPLACE has a Spark mapping in a select list only")
        replaced = {alias.alias: alias for alias in star.args["replace"]}
        bare = item.copy()
        (bare.this if isinstance(bare, exp.Column) else bare).set("replace", None)
        probe = select.copy()
        probe.set("expressions", [bare])
        for clause in ("where", "group", "having", "order", "limit", "qualify"):
            probe.set(clause, None)
        columns = self.session.sql(spark_sql(probe)).columns
        table = item.args.get("table") if isinstance(item, exp.Column) else None
        expanded = [
            replaced[name].copy() if name in replaced else exp.column(name, table=table.copy() if table else None)
            for name in columns
        ]
        position = select.expressions.index(item)
        select.set("expressions", [*select.expressions[:position], *expanded, *select.expressions[position + 1 :]])

    def _union_by_name(self, union: exp.Union) -> DataFrame:
        if union.args.get("distinct"):
            raise NotImplementedError("UNION BY NAME (distinct) has no Spark mapping yet; UNION ALL BY NAME does")
        return self._frame(union.left).unionByName(self._frame(union.right), allowMissingColumns=True)

    def _union_by_name_view(self, union: exp.Union) -> str:
        name = self._new_name("union")
        self._view(self._union_by_name(union), name)
        return name

    def _parquet_view(self, function: exp.ReadParquet) -> str:
        files, options = function.expressions[0], function.expressions[1:]
        paths = [item.name for item in files.expressions] if isinstance(files, exp.Array) else [files.name]
        flags = {option.this.name.lower(): option.expression for option in options if isinstance(option, exp.EQ)}
        row_numbers = isinstance(flags.get("file_row_number"), exp.Boolean) and flags["file_row_number"].this
        key = (tuple(paths), bool(row_numbers))
        if key not in self._parquet_views:
            frame = self.session.read.parquet(*paths)
            if row_numbers:
                frame = frame.select("*", frame["_metadata.row_index"].alias("file_row_number"))
            self._parquet_views[key] = self._new_name("parquet")
            self._view(frame, self._parquet_views[key])
        return self._parquet_views[key]

    def _lines_view(self, function: exp.ReadCSV) -> str:
        """`read_csv` of whole lines (one text column, no quoting: the raw layer's reading of landed files) as
        Spark's text reader; any other CSV reading has no mapping."""
        paths = (
            [item.name for item in function.this.expressions]
            if isinstance(function.this, exp.Array)
            else [function.this.name]
        )
        options = {
            option.this.name.lower(): option.expression for option in function.expressions if isinstance(option, exp.EQ)
        }
        columns = options.get("columns")
        fields = columns.expressions if isinstance(columns, exp.Struct) else []
        if len(fields) != 1 or options.get("quote") is None or options["quote"].name != "":
            raise NotImplementedError("read_csv has a Spark mapping for whole lines (one column, no quoting) only")
        column = fields[0].this.name
        files = [path for path in paths if path != os.devnull]  # DuckDB's way of reading no file at all
        if files:
            lines = self.session.read.option("lineSep", "\n").text(files)
            frame = lines.select(lines["value"].alias(column), lines["_metadata.file_path"].alias("filename"))
        else:
            frame = self.session.createDataFrame([], f"`{column}` string, filename string")
        if not (isinstance(options.get("filename"), exp.Boolean) and options["filename"].this):
            frame = frame.drop("filename")
        name = self._new_name("lines")
        self._view(frame, name)
        return name

    def _functions_view(self) -> str:
        """`duckdb_functions()`: the functions this connection registered, by name."""
        name = self._new_name("functions")
        rows = [(function,) for function in sorted(self._functions)]
        self._view(self.session.createDataFrame(rows, "function_name string"), name)
        return name

    def _create_temporary_table(self, tree: exp.Create) -> None:
        name = tree.this.name
        frame = self._frame(tree.expression)
        replaced = self._tables.pop(name, None)
        if replaced is not None:
            # Before caching the new rows: were it the same query again (a day's lookup table), Spark would share the
            # cached rows ("Asked to cache already cached data") and lose them with the old table. Spark's cache finds
            # plans the same that `DataFrame.sameSemantics` calls different (a query with a WITH clause, analysed
            # twice), so it cannot tell. A new query reading the old table reads it from its lineage: the same rows.
            replaced.unpersist()
        frame = frame.persist()
        frame.count()  # materialized now, as DuckDB's CREATE TABLE is
        self._tables[name] = frame
        self._view(frame, name)

    def _copy(self, tree: exp.Copy) -> None:
        formats = {param.this.name.upper(): param.expression.name.lower() for param in tree.args.get("params") or []}
        if formats.get("FORMAT", "parquet") != "parquet" or len(tree.args["files"]) != 1:
            raise NotImplementedError("COPY has a Spark mapping to one Parquet file only")
        query = tree.this.this if isinstance(tree.this, exp.Subquery) else tree.this
        write_parquet(self._frame(query), tree.args["files"][0].name, ordered=_has_order(query))

    def _view(self, frame: DataFrame, name: str) -> None:
        frame.createOrReplaceTempView(name)
        if name not in self._views:
            self._views.append(name)

    def _new_name(self, kind: str) -> str:
        return f"{self._prefix}_{kind}_{len(self._views)}"


def _has_order(query: exp.Expression) -> bool:
    """Whether a query sorts its rows anywhere but in a window or an aggregate: a projection of a sorted subquery
    keeps its order in DuckDB's COPY, so it counts as sorted too."""
    return any(isinstance(order.parent, (exp.Query, exp.Subquery)) for order in query.find_all(exp.Order))


def _is_temporary_table(tree: exp.Create) -> bool:
    properties = tree.args.get("properties")
    temporary = properties is not None and any(isinstance(p, exp.TemporaryProperty) for p in properties.expressions)
    return tree.kind == "TABLE" and temporary and tree.expression is not None


def merge_patch_lists(lists: pa.Array) -> pa.Array:
    """Each list of JSON texts folded left to right with DuckDB's `json_merge_patch` (RFC 7396); NULL for an empty
    or NULL list, as DuckDB's `list_reduce` of an aggregate over no rows. DuckDB's own function, so that the merged
    text (key order, the spelling of numbers) is byte for byte what the DuckDB engine writes."""
    import duckdb

    with duckdb.connect(config={"threads": 1}) as connection:
        connection.register("batch", pa.table({"documents": lists}))
        merged = connection.sql(
            "SELECT CASE WHEN len(documents) > 0 THEN CAST(list_reduce(list_transform(documents, "
            "lambda d: CAST(d AS JSON)), lambda a, b: json_merge_patch(a, b)) AS VARCHAR) END FROM batch"
        ).to_arrow_table()
    return merged.column(0).combine_chunks().cast(pa.string())


def _register_json_merge_patch(session: SparkSession) -> None:
    """The merge function on the session, once: every connection of the session would otherwise replace it."""
    from pyspark.sql.functions import arrow_udf

    if not session.catalog.functionExists(JSON_MERGE_PATCH_UDF):
        session.udf.register(JSON_MERGE_PATCH_UDF, arrow_udf(merge_patch_lists, "string"))


def _quoted(name: str) -> str:
    """`name` as a Spark SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def write_parquet(frame: DataFrame, path: str, *, ordered: bool = True) -> None:
    """The rows of `frame` as one zstd Parquet file at the local `path` (what COPY writes), in its order if `ordered`.

    One file takes one writing task. Coalescing to it makes one task of the work after the query's last shuffle,
    and of the whole query when it has none (raw's parse of the landed files). Such a query, unordered, is shuffled
    to the writer instead: its work runs on every core first, for the cost of moving its rows once (less than
    persisting them and coalescing). The shuffle keeps each input partition's rows in their order (a landed file's
    lines), not the partitions' order. A query with a shuffle is coalesced: on `local[2]` moving the events' or
    sessionized events' wide rows cost more CPU than the parallel work saved (benchmarks/README.md)."""
    target = Path(path)
    staging = target.with_name(f".{target.name}.spark-{uuid.uuid4().hex[:8]}")
    try:
        shuffles = "Exchange" in frame._jdf.queryExecution().executedPlan().toString()
        one_task = frame.coalesce(1) if ordered or shuffles else frame.repartition(1)
        one_task.write.mode("overwrite").option("compression", "zstd").parquet(str(staging))
        parts = sorted(staging.glob("part-*.parquet"))
        if len(parts) != 1:
            raise RuntimeError(f"Spark wrote {len(parts)} files for {path}, not one")
        parts[0].replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def spark_connection(session: SparkSession) -> Iterator[SparkConnection]:
    """A connection on `session` for one step, closed after it (as `duckdb_connection` is)."""
    connection = SparkConnection(session)
    try:
        yield connection
    finally:
        connection.close()
