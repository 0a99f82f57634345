"""The Spark job Dagster launches through Dagster Pipes: one step of the layer library for some days, on Spark.

Run as `python -m revolt_pipeline.pipes.spark_job` (the subprocess launcher), or as the script of an AWS Glue job
or an EMR Serverless job run (this file, uploaded; the package installed beside it): the same code everywhere.
The request names the step (`pipes/steps.py`: raw, cleaned, sessions, aggregates, people, funnels, retention,
features); the job builds its days with the layer library's function, the one the DuckDB path calls, on a Spark
connection (`layers/engines.py`), and reports each day's result, summaries and file checks back to the asset
(`pipes/messages.py`), then a materialization of each asset of the step with the Spark run's own facts.

How it finds Dagster: Glue passes the Pipes parameters as job arguments (`--dagster-pipes-context`,
`--dagster-pipes-messages`, among Glue's own `--JOB_ID`, `--JOB_RUN_ID`, ...); the subprocess and EMR Serverless
launchers pass them as environment variables (EMR through `spark.emr-serverless.driverEnv.*`). The context and the
messages travel through S3 when the launcher put them there (Glue, EMR), else through a local file.
"""

import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster_pipes import (
    DAGSTER_PIPES_CONTEXT_CLI_ARGUMENT,
    PipesCliArgsParamsLoader,
    PipesContext,
    PipesContextLoader,
    PipesDefaultContextLoader,
    PipesDefaultMessageWriter,
    PipesEnvVarParamsLoader,
    PipesMessageWriter,
    PipesParamsLoader,
    PipesS3ContextLoader,
    PipesS3MessageWriter,
    open_dagster_pipes,
)

from revolt_pipeline.layers.engines import EngineConnections, engine_connections
from revolt_pipeline.pipes.messages import EXTRAS_KEY, JobRequest, built_day_to_message
from revolt_pipeline.pipes.steps import STEP_DATASETS, build_step
from revolt_pipeline.storage import ObjectStore

APP_NAME = "revolt_pipeline"


def params_loader(argv: Sequence[str]) -> PipesParamsLoader:
    """Job arguments where the launcher gave them (Glue), else environment variables (subprocess, EMR)."""
    if DAGSTER_PIPES_CONTEXT_CLI_ARGUMENT in argv:
        return PipesCliArgsParamsLoader()
    return PipesEnvVarParamsLoader()


def channels(loader: PipesParamsLoader) -> tuple[PipesContextLoader, PipesMessageWriter]:
    """S3 for the context and the messages where the launcher chose S3 (its parameters name a bucket), else the
    default's local file. S3 is reached with boto3's own configuration: the job's role on AWS."""
    context_params, message_params = loader.load_context_params(), loader.load_messages_params()
    s3 = None
    if "bucket" in context_params or "bucket" in message_params:
        import boto3

        s3 = boto3.client("s3")
    context_loader = PipesS3ContextLoader(s3) if "bucket" in context_params else PipesDefaultContextLoader()
    message_writer = PipesS3MessageWriter(s3) if "bucket" in message_params else PipesDefaultMessageWriter()
    return context_loader, message_writer


@contextmanager
def session_for(request: JobRequest) -> Iterator[Any]:
    """The request's local Spark session, or on a cluster the session of the master spark-submit set."""
    if request.spark_master is not None:
        from revolt_pipeline.transforms.spark import spark_session

        with spark_session(request.spark_master, conf=request.spark_conf) as session:
            yield session
        return
    from pyspark.sql import SparkSession

    from revolt_pipeline.transforms.spark import SPARK_CONF, ignore_pyspark_pandas_warning

    ignore_pyspark_pandas_warning()
    builder = SparkSession.builder.appName(APP_NAME)
    for key, value in {**SPARK_CONF, **request.spark_conf}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    try:
        yield session
    finally:
        session.stop()


@contextmanager
def engines_for(request: JobRequest, engine: str) -> Iterator[tuple[EngineConnections, dict[str, Any]]]:
    """The connections the job builds on, and the facts of its engine reported with each asset: Spark's session
    (its version, master, application id, start-up time). `engine="duckdb"` runs the same job without Spark, for
    the tests of the launchers' client side."""
    if engine != "spark":
        with engine_connections(engine) as engines:
            yield engines, {"engine": engine}
        return
    started = time.perf_counter()
    with session_for(request) as session:
        facts = {
            "engine": "spark",
            "spark/version": session.version,
            "spark/master": session.sparkContext.master,
            "spark/application_id": session.sparkContext.applicationId,
            "seconds/spark_session": round(time.perf_counter() - started, 3),
        }
        with engine_connections("spark", spark_session=session) as engines:
            yield engines, facts


def run(pipes: PipesContext, request: JobRequest, engine: str = "spark") -> None:
    """Build the request's days, reporting each as it is committed, then each asset of the step."""
    store = ObjectStore(request.storage_url, s3_endpoint_url=request.s3_endpoint_url, s3_region=request.s3_region)
    started = time.perf_counter()
    with engines_for(request, engine) as (engines, facts), tempfile.TemporaryDirectory(prefix="revolt-job-") as folder:
        pipes.log.info(f"{facts.get('spark/version', engine)}: {request.step} of {request.days}")
        connect = engines.raw_connect if request.step == "raw_events" else engines.connect
        built_days = build_step(
            request.step, store, connect, request.days, request.rules, Path(folder), request.previews
        )
        for built in built_days:
            pipes.report_custom_message(built_day_to_message(request.step, built, local_root=folder))
            pipes.log.info(f"{request.step} {built.day}: committed")
        facts = {**facts, f"seconds/{engine}_job": round(time.perf_counter() - started, 3)}
    for asset_key in STEP_DATASETS[request.step]:
        pipes.report_asset_materialization(asset_key=asset_key, metadata=facts)


def run_job(loader: PipesParamsLoader, engine: str = "spark") -> None:
    """The job, with the Pipes parameters `loader` finds: context and messages where they name."""
    context_loader, message_writer = channels(loader)
    with open_dagster_pipes(
        params_loader=loader, context_loader=context_loader, message_writer=message_writer
    ) as pipes:
        run(pipes, JobRequest.from_extras(pipes.extras.get(EXTRAS_KEY) or {}), engine)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    loader = params_loader(argv)
    if not loader.is_dagster_pipes_process():
        print(
            "revolt_pipeline.pipes.spark_job runs when Dagster launches it (REVOLT_ENGINE=spark): "
            "it found no Dagster Pipes parameters",
            file=sys.stderr,
        )
        return 2
    run_job(loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
