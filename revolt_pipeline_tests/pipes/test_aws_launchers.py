"""The Glue and EMR Serverless launchers against moto's APIs on 127.0.0.1: the Pipes client starts a job run there,
the job script runs with the arguments the service passes (`aws.py`), reads its context from S3, builds the day into
a lake on S3 and writes its messages to S3, which the asset reads back.

Glue's run goes through spark-submit under local Spark, end to end. EMR Serverless's job runs on DuckDB in a Python
process of its own: the job's side of EMR (parameters from the driver's environment, context and messages through
S3) is what the subprocess launcher's test and Glue's run under Spark already, so this one tests the client's side:
the request it makes and the messages it reads back.

What this proves: the launchers' requests are ones the services accept (moto checks them against the APIs'
models), the job script finds Dagster from Glue's job arguments and from EMR's driver environment alike, and the
S3 round trip of context and messages. What it cannot: that AWS runs the script (IAM, the package on the workers,
networking), which only a deployment shows (docs/scale-out.md).
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import InProcessLayerRunner, SparkLayerRunner
from revolt_pipeline.defs.spark.resources import EmrServerlessSparkLauncher, GlueSparkLauncher, SparkLauncher
from revolt_pipeline.pipes import spark_job
from revolt_pipeline.storage.layout import events_key, events_quarantine_key
from revolt_pipeline_tests.fixtures.s3 import S3Bucket, S3Server
from revolt_pipeline_tests.pipes.aws import AwsWorkers
from revolt_pipeline_tests.pipes.conftest import (
    DAY,
    SMALL_DATA_CONF,
    comparable,
    materialize_day,
    partition_metadata,
)
from revolt_pipeline_tests.spark.compare import differences

pytestmark = pytest.mark.xdist_group("spark")

EVENTS_STEP = ["events", "events_quarantine"]
PIPES_PREFIX = "dagster-pipes/"
ROLE = "arn:aws:iam::123456789012:role/revolt-spark"


@pytest.fixture
def workers(s3_server: S3Server, tmp_path: Path) -> Iterator[AwsWorkers]:
    workers = AwsWorkers(s3_server.endpoint_url, tmp_path)
    workers.install()
    yield workers
    workers.uninstall()


@pytest.fixture
def s3_lake(raw_lake: Path, s3_bucket: S3Bucket, s3_server: S3Server) -> str:
    """The raw lake copied to the bucket (under `lake/`), and the job's file where a deployment uploads it."""
    client = s3_server.client()
    for path in raw_lake.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), s3_bucket.name, f"lake/{path.relative_to(raw_lake)}")
    client.upload_file(spark_job.__file__, s3_bucket.name, "scripts/spark_job.py")
    return s3_bucket.url("lake")


@pytest.fixture
def duckdb_events(lake_copy: Any) -> dict[str, Any]:
    """DAY's `events` step on DuckDB in this process, from a copy of the same raw lake: what Spark must match."""
    store = lake_copy("duckdb")
    instance = dg.DagsterInstance.ephemeral()
    lake = LakeResource(url=store.as_uri())
    assert materialize_day(InProcessLayerRunner(), lake, instance, EVENTS_STEP).success
    return {"store": store, "instance": instance}


def _launched_day(launcher: SparkLauncher, s3_lake: str, s3_server: S3Server) -> tuple[dg.DagsterInstance, Any]:
    instance = dg.DagsterInstance.ephemeral()
    lake = LakeResource(url=s3_lake, s3_endpoint_url=s3_server.endpoint_url)
    return instance, materialize_day(SparkLayerRunner(launcher=launcher), lake, instance, EVENTS_STEP)


def _assert_same_as_duckdb(
    instance: dg.DagsterInstance, duckdb: dict[str, Any], s3_bucket: S3Bucket, s3_server: S3Server, tmp_path: Path
) -> None:
    """The day the job wrote to S3, and what the asset shows of it, are DuckDB's."""
    for key in (events_key(DAY), events_quarantine_key(DAY)):
        written = tmp_path / Path(key).name
        s3_server.client().download_file(s3_bucket.name, f"lake/{key}", str(written))
        assert differences(str(duckdb["store"] / key), str(written), ordered="quarantine" in key) == [], key
    for asset in EVENTS_STEP:
        expected = comparable(partition_metadata(duckdb["instance"], asset))
        assert comparable(partition_metadata(instance, asset)) == expected, asset


def _pipes_objects(s3_bucket: S3Bucket, s3_server: S3Server) -> list[str]:
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket.name, Prefix=PIPES_PREFIX)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_glue_job_run_builds_the_day_and_reports_it_back(
    spark_runtime: None,
    s3_server: S3Server,
    s3_bucket: S3Bucket,
    s3_lake: str,
    workers: AwsWorkers,
    duckdb_events: dict[str, Any],
    tmp_path: Path,
) -> None:
    glue = workers.client("glue")
    defaults = {"--additional-python-modules": "revolt_pipeline", "--enable-metrics": "true"}
    glue.create_job(
        Name="revolt-cleaned",
        Role=ROLE,
        Command={"Name": "glueetl", "ScriptLocation": s3_bucket.url("scripts/spark_job.py"), "PythonVersion": "3"},
        GlueVersion="5.0",
        DefaultArguments=defaults,
    )
    launcher = GlueSparkLauncher(
        job_name="revolt-cleaned",
        pipes_bucket=s3_bucket.name,
        pipes_prefix=PIPES_PREFIX,
        s3_endpoint_url=s3_server.endpoint_url,
        service_endpoint_url=s3_server.endpoint_url,
        message_poll_seconds=0.2,
        spark_conf=SMALL_DATA_CONF,
    )
    instance, result = _launched_day(launcher, s3_lake, s3_server)

    [run] = workers.runs
    assert run.returncode == 0, run.output[-5000:]
    assert result.success
    [recorded] = glue.get_job_runs(JobName="revolt-cleaned")["JobRuns"]
    # The Pipes parameters went as the run's arguments (moto adds the job's defaults to them), and the script found
    # them among Glue's own.
    assert {"--dagster-pipes-context", "--dagster-pipes-messages"} <= set(recorded["Arguments"])
    assert run.argv[:6] == [
        "--JOB_ID",
        "j_revolt-cleaned",
        "--JOB_RUN_ID",
        recorded["Id"],
        "--JOB_NAME",
        "revolt-cleaned",
    ]
    assert set(defaults) < set(run.argv[::2])
    _assert_same_as_duckdb(instance, duckdb_events, s3_bucket, s3_server, tmp_path)
    metadata = partition_metadata(instance, "events")
    assert metadata["AWS Glue Job Run ID"].value == recorded["Id"]
    assert metadata["engine"].value == "spark"
    assert _pipes_objects(s3_bucket, s3_server), "the messages went through S3, under the prefix"


def test_an_emr_serverless_job_run_is_requested_and_its_messages_read_back(
    s3_server: S3Server,
    s3_bucket: S3Bucket,
    s3_lake: str,
    workers: AwsWorkers,
    duckdb_events: dict[str, Any],
    tmp_path: Path,
) -> None:
    emr = workers.client("emr-serverless")
    application = emr.create_application(name="revolt", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
    launcher = EmrServerlessSparkLauncher(
        application_id=application,
        execution_role_arn=ROLE,
        entry_point=s3_bucket.url("scripts/spark_job.py"),
        spark_submit_parameters="--conf spark.executor.memory=2g",
        pipes_bucket=s3_bucket.name,
        pipes_prefix=PIPES_PREFIX,
        s3_endpoint_url=s3_server.endpoint_url,
        service_endpoint_url=s3_server.endpoint_url,
        message_poll_seconds=0.2,
        poll_seconds=0.2,
        spark_conf=SMALL_DATA_CONF,
    )
    instance, result = _launched_day(launcher, s3_lake, s3_server)

    [run] = workers.runs
    assert run.returncode == 0, run.output[-5000:]
    assert result.success
    [listed] = emr.list_job_runs(applicationId=application)["jobRuns"]
    recorded = emr.get_job_run(applicationId=application, jobRunId=listed["id"])["jobRun"]
    # What the launcher asked for: the application, the runtime role, the job's file, our settings, and the Pipes
    # parameters as the driver's environment, not as arguments.
    assert (recorded["executionRole"], recorded["name"]) == (ROLE, "revolt events")
    assert recorded["jobDriver"]["sparkSubmit"]["entryPoint"] == s3_bucket.url("scripts/spark_job.py")
    assert run.conf == ["--conf", "spark.executor.memory=2g"]
    assert set(run.env) == {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES"}
    assert run.argv == []
    # What it read back: the days the job reported through S3, mapped as the DuckDB runner's are.
    _assert_same_as_duckdb(instance, duckdb_events, s3_bucket, s3_server, tmp_path)
    metadata = partition_metadata(instance, "events")
    assert metadata["AWS EMR Serverless Job Run ID"].value == listed["id"]
    assert metadata["engine"].value == "duckdb", "this test's job ran without Spark"
    assert _pipes_objects(s3_bucket, s3_server)
