"""The `spark_launcher` resource: where the Spark job runs when REVOLT_ENGINE=spark, one class per kind of launch.

Every launcher runs the same job (`pipes/spark_job.py`) with the same request (the Pipes extras) through a Dagster
Pipes client of dagster or dagster-aws, and returns what the job reported: each day's result, and a
materialization of each asset of its step. Which launcher is chosen once, in `defs/resources.py`, from
REVOLT_SPARK_LAUNCHER; the Spark `layer_runner` (`defs/lake/runners.py`) calls `launch`, the assets never do.

- `SubprocessSparkLauncher`: `python -m revolt_pipeline.pipes.spark_job` beside the Dagster process, Spark in
  local mode; context and messages through local files.
- `GlueSparkLauncher`: a run of an existing AWS Glue job whose script is the job's file (`PipesGlueClient`); the
  Pipes parameters go as job arguments, context and messages through S3.
- `EmrServerlessSparkLauncher`: a job run on an existing EMR Serverless application, its entry point the job's
  file (`PipesEMRServerlessClient`); the parameters go as the driver's environment, context and messages through S3.

AWS credentials are boto3's own (the Dagster process's role): no secret passes through these resources.
"""

import json
import os
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import dagster as dg
from dagster_aws.pipes import (
    PipesEMRServerlessClient,
    PipesGlueClient,
    PipesS3ContextInjector,
    PipesS3MessageReader,
)
from dagster_pipes import PipesDefaultMessageWriter, PipesParams
from pydantic import Field

from revolt_pipeline.pipes.messages import EXTRAS_KEY, JobRequest, built_day_from_message
from revolt_pipeline.pipes.steps import BuiltDay

JOB_MODULE = "revolt_pipeline.pipes.spark_job"


@dataclass
class SparkRun:
    """What a launched job reported: its days, built, and the materializations of its step's assets."""

    days: list[BuiltDay]
    results: list[Any]

    def metadata(self, asset_key: str) -> dict[str, Any]:
        """The run's own facts (engine, Spark version, master, application id, seconds) reported for `asset_key`."""
        for result in self.results:
            if isinstance(result, dg.MaterializeResult) and result.asset_key == dg.AssetKey(asset_key):
                return dict(result.metadata or {})
        return {}


class SparkLauncher(dg.ConfigurableResource, ABC):
    """Runs the Spark job for a step of the layer library and returns what it reported."""

    # Added to the Spark settings of the job's session (`spark.sql.shuffle.partitions`, ...).
    spark_conf: dict[str, str] = Field(default_factory=dict)

    def launch(self, context: dg.AssetExecutionContext, request: JobRequest) -> SparkRun:
        """Run the job for `request` (its Spark settings completed by this launcher's) and wait for it."""
        request = self.complete(request)
        invocation = self.run_job(context, {EXTRAS_KEY: request.to_extras()})
        messages = invocation.get_custom_messages()
        days = [built_day_from_message(message) for message in messages if isinstance(message, dict)]
        # A job that failed after its service called the run a success (or that stopped early) reports fewer days:
        # never let the asset materialize days the job did not build.
        missing = sorted(set(request.days) - {day.day for day in days})
        if missing:
            raise dg.Failure(
                description=f"the Spark job ({request.step}) reported {len(days)} of {len(request.days)} days; "
                f"not {', '.join(day.isoformat() for day in missing)}: its error, if it raised one, is the run's "
                "event '[pipes] external process pipes closed with exception'",
                metadata={"missing_days": [day.isoformat() for day in missing]},
            )
        return SparkRun(days, list(invocation.get_results()))

    def complete(self, request: JobRequest) -> JobRequest:
        """The request with this launcher's master and Spark settings."""
        return replace(request, spark_master=self.spark_master(), spark_conf={**request.spark_conf, **self.spark_conf})

    def spark_master(self) -> str | None:
        """The master the job's session sets: None where the cluster's spark-submit sets it."""
        return None

    @abstractmethod
    def run_job(self, context: dg.AssetExecutionContext, extras: dict[str, Any]) -> dg.PipesClientCompletedInvocation:
        """Launch the job with these Pipes extras through this launcher's Pipes client."""


def whole_lines(path: str, finished: Callable[[], bool]) -> Iterator[str]:
    """The lines appended to the file at `path` until `finished()`, each once it is whole.

    A long message (a step's metadata with its previews) reaches the file in pieces: the kernel makes each page of
    a write visible as it copies it, so a reader can find half a line at the end of the file. Dagster's own file
    reader hands that half over, fails to parse it and stops, losing every later message of the job."""
    pending = ""
    with open(path, encoding="utf-8") as stream:
        while True:
            piece = stream.readline()
            if piece:
                pending += piece
                if pending.endswith("\n"):
                    yield pending
                    pending = ""
            elif finished():
                # The writer has stopped: what it wrote since the last read, and any last line without its end.
                rest = pending + stream.read()
                while rest:
                    line, end, rest = rest.partition("\n")
                    yield line + end
                return
            else:
                time.sleep(0.01)


class WholeLinesMessageReader(dg.PipesMessageReader):
    """Dagster's temporary-file message reader for a local job, reading only whole lines (`whole_lines`)."""

    @contextmanager
    def read_messages(self, handler: dg.PipesMessageHandler) -> Iterator[PipesParams]:
        with tempfile.TemporaryDirectory(prefix="revolt-pipes-") as folder:
            path = os.path.join(folder, "messages")
            open(path, "w", encoding="utf-8").close()
            closed = threading.Event()
            reader = threading.Thread(target=self._read, args=(path, handler, closed), daemon=True)
            reader.start()
            try:
                yield {
                    PipesDefaultMessageWriter.FILE_PATH_KEY: path,
                    PipesDefaultMessageWriter.INCLUDE_STDIO_IN_MESSAGES_KEY: False,
                }
            finally:
                closed.set()
                reader.join()

    @staticmethod
    def _read(path: str, handler: dg.PipesMessageHandler, closed: threading.Event) -> None:
        try:
            for line in whole_lines(path, closed.is_set):
                handler.handle_message(json.loads(line))
        except Exception:
            handler.report_pipes_framework_exception("WholeLinesMessageReader reader thread", sys.exc_info())
            raise

    def no_messages_debug_text(self) -> str:
        return "Attempted to read messages from a local temporary file."


class SubprocessSparkLauncher(SparkLauncher):
    """The job as a child process of the step, Spark in local mode (REVOLT_SPARK_MASTER, `local[N]`)."""

    master: str = "local[2]"

    def spark_master(self) -> str | None:
        return self.master

    def run_job(self, context: dg.AssetExecutionContext, extras: dict[str, Any]) -> dg.PipesClientCompletedInvocation:
        # Spark's own services bind to the machine's first non-loopback address unless told otherwise.
        env = {"SPARK_LOCAL_IP": "127.0.0.1"} if self.master.startswith("local") else {}
        client = dg.PipesSubprocessClient(env=env, message_reader=WholeLinesMessageReader())
        return client.run(context=context, command=[sys.executable, "-m", JOB_MODULE], extras=extras)


class _PrefixedS3MessageReader(PipesS3MessageReader):
    """dagster-aws's S3 message reader, its messages under a prefix of ours (which a lifecycle rule can expire)
    rather than at the bucket's root."""

    def __init__(self, *, prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefix = prefix

    @contextmanager
    def get_params(self) -> Iterator[PipesParams]:
        with super().get_params() as params:
            yield {**params, "key_prefix": f"{self.prefix}{params['key_prefix']}"}


class _S3PipesLauncher(SparkLauncher, ABC):
    """A launcher whose job runs on AWS: context and messages through an S3 bucket both sides reach."""

    pipes_bucket: str
    pipes_prefix: str = "dagster-pipes/"
    region: str = "us-east-1"
    # The S3 endpoint (REVOLT_S3_ENDPOINT_URL): none on AWS; moto's in tests.
    s3_endpoint_url: str | None = None
    # The service's own endpoint, for tests against moto; none on AWS.
    service_endpoint_url: str | None = None
    # How often the messages the job wrote to S3 are read while it runs.
    message_poll_seconds: float = 10.0

    def _boto3(self, service: str, endpoint_url: str | None) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region, endpoint_url=endpoint_url)

    def pipes_channels(self) -> tuple[PipesS3ContextInjector, PipesS3MessageReader]:
        """The context written under the prefix (and deleted after the run), the messages read from under it."""
        s3 = self._boto3("s3", self.s3_endpoint_url)
        return (
            PipesS3ContextInjector(bucket=self.pipes_bucket, client=s3, key_prefix=self.pipes_prefix),
            _PrefixedS3MessageReader(
                prefix=self.pipes_prefix, bucket=self.pipes_bucket, client=s3, interval=self.message_poll_seconds
            ),
        )


class GlueSparkLauncher(_S3PipesLauncher):
    """A run of the AWS Glue job REVOLT_GLUE_JOB_NAME (Glue 4 or later; its script `pipes/spark_job.py`)."""

    job_name: str

    def run_job(self, context: dg.AssetExecutionContext, extras: dict[str, Any]) -> dg.PipesClientCompletedInvocation:
        context_injector, message_reader = self.pipes_channels()
        client = PipesGlueClient(
            context_injector=context_injector,
            message_reader=message_reader,
            client=self._boto3("glue", self.service_endpoint_url),
        )
        return client.run(context=context, start_job_run_params={"JobName": self.job_name}, extras=extras)


class _EmrServerlessS3Client(PipesEMRServerlessClient):
    """dagster-aws's EMR Serverless client with the messages through S3 only. Its `_read_messages` attaches
    CloudWatch log readers, and otherwise warns that Dagster gets no messages, which is wrong for the S3 reader the
    session reads all along; it also refuses an application whose type is spelled `SPARK`, as moto (and the API's
    own request) spell it."""

    def _read_messages(self, context: Any, session: Any, response: Any) -> None:
        context.log.info(f"[pipes] messages of EMR Serverless job run {response['jobRun']['jobRunId']} read from S3")


class EmrServerlessSparkLauncher(_S3PipesLauncher):
    """A job run on the EMR Serverless application REVOLT_EMR_APPLICATION_ID, its entry point the job's file."""

    application_id: str
    execution_role_arn: str
    # Where the job's file is (`s3://bucket/scripts/spark_job.py`), and what spark-submit adds (the package).
    entry_point: str
    spark_submit_parameters: str = ""
    poll_seconds: float = 5.0

    def run_job(self, context: dg.AssetExecutionContext, extras: dict[str, Any]) -> dg.PipesClientCompletedInvocation:
        context_injector, message_reader = self.pipes_channels()
        client = _EmrServerlessS3Client(
            client=self._boto3("emr-serverless", self.service_endpoint_url),
            context_injector=context_injector,
            message_reader=message_reader,
            poll_interval=self.poll_seconds,
        )
        params: Any = {
            "applicationId": self.application_id,
            "executionRoleArn": self.execution_role_arn,
            "name": f"revolt {extras[EXTRAS_KEY]['step']}",
            "jobDriver": {
                "sparkSubmit": {"entryPoint": self.entry_point, "sparkSubmitParameters": self.spark_submit_parameters}
            },
        }
        return client.run(context=context, start_job_run_params=params, extras=extras)
