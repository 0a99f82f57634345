"""The Spark job Dagster launches through Dagster Pipes: one step of the cleaned layer for some days, on Spark.

Run as `python -m revolt_pipeline.pipes.spark_job` (the subprocess launcher), or as the script of an AWS Glue job
or an EMR Serverless job run (this file, uploaded; the package installed beside it): the same code everywhere.
It builds the days with the layer library's functions, the ones the DuckDB path calls, on a Spark connection
(`layers/engines.py`), and reports each day's result and summaries back to the asset (`pipes/messages.py`), then a
materialization of each asset of the step with the Spark run's own facts.

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

from revolt_pipeline.layers.cleaned import aggregate_day, clean_days, sessionize_day
from revolt_pipeline.layers.engines import EngineConnections, engine_connections
from revolt_pipeline.pipes.messages import (
    EXTRAS_KEY,
    STEP_DATASETS,
    BuiltDay,
    DayResult,
    JobRequest,
    built_day_to_message,
    summarize_day,
)
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

    from revolt_pipeline.transforms.spark import SPARK_CONF

    builder = SparkSession.builder.appName(APP_NAME)
    for key, value in {**SPARK_CONF, **request.spark_conf}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    try:
        yield session
    finally:
        session.stop()


def build_days(
    request: JobRequest, store: ObjectStore, engines: EngineConnections, workdir: Path
) -> Iterator[BuiltDay]:
    """The request's step for each of its days, as the assets' DuckDB path builds them, timed per day."""
    if request.step == "events":
        with engines.connect() as connection:
            started = time.perf_counter()
            for cleaned in clean_days(store, connection, sorted(request.days), request.rules, workdir):
                yield _built(request, cleaned, "clean", started)
                started = time.perf_counter()
        return
    for day in sorted(request.days):
        started = time.perf_counter()
        with engines.connect() as connection:
            if request.step == "sessionized":
                yield _built(
                    request, sessionize_day(store, connection, day, request.rules, workdir), "sessionize", started
                )
            else:
                yield _built(request, aggregate_day(store, connection, day, workdir), "aggregate", started)


def _built(request: JobRequest, result: DayResult, step: str, started: float) -> BuiltDay:
    seconds = {step: round(time.perf_counter() - started, 3)}
    return BuiltDay(result, summarize_day(result, request.previews), seconds)


def run(pipes: PipesContext, request: JobRequest) -> None:
    """Build the request's days on Spark, reporting each as it is committed, then each asset of the step."""
    store = ObjectStore(request.storage_url, s3_endpoint_url=request.s3_endpoint_url, s3_region=request.s3_region)
    started = time.perf_counter()
    with session_for(request) as session, tempfile.TemporaryDirectory(prefix="revolt-spark-job-") as folder:
        session_seconds = round(time.perf_counter() - started, 3)
        pipes.log.info(f"Spark {session.version} on {session.sparkContext.master}: {request.step} of {request.days}")
        with engine_connections("spark", spark_session=session) as engines:
            for built in build_days(request, store, engines, Path(folder)):
                pipes.report_custom_message(built_day_to_message(request.step, built))
                pipes.log.info(f"{request.step} {built.day}: committed")
        facts = {
            "engine": "spark",
            "spark/version": session.version,
            "spark/master": session.sparkContext.master,
            "spark/application_id": session.sparkContext.applicationId,
            "seconds/spark_session": session_seconds,
            "seconds/spark_job": round(time.perf_counter() - started, 3),
        }
    for asset_key in STEP_DATASETS[request.step]:
        pipes.report_asset_materialization(asset_key=asset_key, metadata=facts)


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
    context_loader, message_writer = channels(loader)
    with open_dagster_pipes(
        params_loader=loader, context_loader=context_loader, message_writer=message_writer
    ) as pipes:
        run(pipes, JobRequest.from_extras(pipes.extras.get(EXTRAS_KEY) or {}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
