"""The one place resources are chosen: every setting comes from the environment through Settings.

The same code runs on a local folder and SQLite by default and on S3 and PostgreSQL in production;
only the URLs differ.
"""

from typing import Any

import dagster as dg

from revolt_pipeline.defs.ingestion.resources import CollectorResource, HttpCollectorResource
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import InProcessLayerRunner, LayerRunner, SparkLayerRunner
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.defs.spark.resources import (
    EmrServerlessSparkLauncher,
    GlueSparkLauncher,
    SparkLauncher,
    SubprocessSparkLauncher,
)
from revolt_pipeline.settings import ADMIN_TOKEN_ENV, REPORT_DB_URL_ENV, Settings


def build_resources(settings: Settings, *, collector: CollectorResource | None = None) -> dict[str, Any]:
    """Resources for this environment; `collector` replaces the HTTP one (an in-process collector).

    Secrets go in as `EnvVar`s (the admin token, the report database URL with its password) or as the
    path of the file that holds them, so Dagster's UI shows a name or a path, never the secret.
    """
    launcher = spark_launcher(settings)
    return {
        "collector": collector or _http_collector(settings),
        "lake": LakeResource(
            url=settings.storage_url,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_region=settings.s3_region,
            retries=settings.pipeline_retries,
            retry_seconds=settings.pipeline_retry_seconds,
            duckdb_memory_limit=settings.duckdb_memory_limit,
        ),
        "reports": ReportDatabaseResource(
            url=dg.EnvVar(REPORT_DB_URL_ENV) if settings.report_db_url_from_env else settings.report_db_url,
            retries=settings.pipeline_retries,
            retry_seconds=settings.pipeline_retry_seconds,
            dashboard_url=settings.dashboard_url,
        ),
        "spark_launcher": launcher,
        "layer_runner": layer_runner(settings, launcher),
    }


def layer_runner(settings: Settings, launcher: SparkLauncher) -> LayerRunner:
    """How every asset building lake days builds them (REVOLT_ENGINE): DuckDB in the step, or the Spark job
    launched through Dagster Pipes by `launcher`."""
    if settings.engine == "spark":
        return SparkLayerRunner(launcher=launcher)
    return InProcessLayerRunner()


def spark_launcher(settings: Settings) -> SparkLauncher:
    """Where the Spark layer runner launches the Spark job when REVOLT_ENGINE=spark (REVOLT_SPARK_LAUNCHER); unused on
    DuckDB."""
    if settings.spark_launcher == "glue":
        return GlueSparkLauncher(
            job_name=settings.glue_job_name,
            pipes_bucket=settings.pipes_bucket,
            pipes_prefix=settings.pipes_prefix,
            region=settings.s3_region,
            s3_endpoint_url=settings.s3_endpoint_url,
        )
    if settings.spark_launcher == "emr_serverless":
        return EmrServerlessSparkLauncher(
            application_id=settings.emr_application_id,
            execution_role_arn=settings.emr_execution_role_arn,
            entry_point=settings.emr_entry_point,
            spark_submit_parameters=settings.emr_spark_submit_parameters,
            pipes_bucket=settings.pipes_bucket,
            pipes_prefix=settings.pipes_prefix,
            region=settings.s3_region,
            s3_endpoint_url=settings.s3_endpoint_url,
        )
    heap = {"spark.driver.memory": settings.spark_driver_memory} if settings.spark_driver_memory else {}
    return SubprocessSparkLauncher(master=settings.spark_master, spark_conf=heap)


def _http_collector(settings: Settings) -> HttpCollectorResource:
    if settings.admin_token:
        return HttpCollectorResource(url=settings.collector_url, admin_token=dg.EnvVar(ADMIN_TOKEN_ENV))
    return HttpCollectorResource(url=settings.collector_url, admin_token_file=str(settings.ensure_admin_token_file()))
