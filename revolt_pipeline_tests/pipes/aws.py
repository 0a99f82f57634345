"""What moto's Glue and EMR Serverless leave out: running the job. Everything else is moto's, over HTTP.

moto records a job run (its arguments, its state) but runs no script. `AwsWorkers` does the running, as AWS does:
when the service has accepted a run (the boto3 call `StartJobRun` returned), it reads back what moto recorded, takes
the script from the S3 location the job names, and runs it with the arguments the service would pass:

- Glue: under local Spark through `spark-submit`, with `--JOB_ID`, `--JOB_RUN_ID`, `--JOB_NAME` and
  `--job-bookmark-option` (Glue's own), then the job's `DefaultArguments` and the run's `Arguments` (where
  PipesGlueClient put the Pipes parameters), each `--key value`;
- EMR Serverless: the run's `entryPointArguments`, with every `spark.emr-serverless.driverEnv.NAME=value` of its
  `sparkSubmitParameters` in the driver's environment (where PipesEMRServerlessClient put them); the job runs as a
  Python process on DuckDB (`spark_job.run_job(engine="duckdb")`), not under spark-submit. The job's side of EMR
  (Pipes parameters from the environment, context and messages through S3) is the subprocess launcher's and Glue's,
  both run under Spark by their tests: what EMR adds is its client's side, its request and how it reads back.

The run must then be over when the client first asks: moto's Glue runs and EMR Serverless runs end SUCCEEDED and
SUCCESS as soon as they are read, so a script that failed is reported back through the Pipes messages, which is
how the asset learns of it on AWS too.
"""

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from revolt_pipeline.pipes import spark_job

# The job with the Pipes parameters of its environment, on DuckDB.
RUN_ON_DUCKDB = (
    "from dagster_pipes import PipesEnvVarParamsLoader; from revolt_pipeline.pipes.spark_job import run_job; "
    "run_job(PipesEnvVarParamsLoader(), engine='duckdb')"
)
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"
DRIVER_ENV = "spark.emr-serverless.driverEnv."


@dataclass
class ScriptRun:
    service: str
    argv: list[str]
    env: dict[str, str]
    returncode: int
    output: str
    conf: list[str] = field(default_factory=list)  # spark-submit's `--conf` settings besides the driver's environment


@dataclass
class AwsWorkers:
    endpoint_url: str
    workdir: Path
    runs: list[ScriptRun] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name="us-east-1")

    def install(self) -> None:
        """Run the job whenever a boto3 client of this process starts a Glue or EMR Serverless job run."""
        boto3.setup_default_session()
        events = boto3.DEFAULT_SESSION.events
        events.register("provide-client-params.glue.StartJobRun", self._remember_glue_job)
        events.register("after-call.glue.StartJobRun", self._glue_run)
        events.register("after-call.emr-serverless.StartJobRun", self._emr_serverless_run)

    def uninstall(self) -> None:
        boto3.DEFAULT_SESSION = None

    def _download(self, uri: str) -> Path:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        path = self.workdir / f"script-{len(self.runs)}-{Path(key).name}"
        self.client("s3").download_file(bucket, key, str(path))
        return path

    def _remember_glue_job(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["glue_job_name"] = params["JobName"]

    def _glue_run(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        glue = self.client("glue")
        job_name = context["glue_job_name"]
        job = glue.get_job(JobName=job_name)["Job"]
        run = glue.get_job_run(JobName=job_name, RunId=parsed["JobRunId"])["JobRun"]
        arguments = {
            "--JOB_ID": f"j_{job_name}",
            "--JOB_RUN_ID": run["Id"],
            "--JOB_NAME": job_name,
            "--job-bookmark-option": "job-bookmark-disable",
            **job.get("DefaultArguments", {}),
            **run.get("Arguments", {}),
        }
        argv = [item for pair in arguments.items() for item in pair]
        self._submit("glue", self._download(job["Command"]["ScriptLocation"]), argv, {}, [])

    def _emr_serverless_run(self, parsed: dict[str, Any], **_: Any) -> None:
        emr = self.client("emr-serverless")
        run = emr.get_job_run(applicationId=parsed["applicationId"], jobRunId=parsed["jobRunId"])["jobRun"]
        submit = run["jobDriver"]["sparkSubmit"]
        words = shlex.split(submit.get("sparkSubmitParameters", ""))
        env, conf = {}, []
        for flag, value in zip(words[::2], words[1::2], strict=True):
            assert flag == "--conf", f"EMR Serverless takes --conf settings, not {flag}"
            name, setting = value.split("=", 1)
            if name.startswith(DRIVER_ENV):
                env[name.removeprefix(DRIVER_ENV)] = setting
            else:
                conf += ["--conf", value]
        entry = self._download(submit["entryPoint"])
        self._run_on_duckdb("emr-serverless", entry, list(submit.get("entryPointArguments", [])), env, conf)

    def _child_env(self, env: dict[str, str]) -> dict[str, str]:
        """The driver's environment: S3 at moto's address (boto3's own variable), Spark on 127.0.0.1."""
        return {
            **os.environ,
            **env,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
        }

    def _run_on_duckdb(self, service: str, script: Path, argv: list[str], env: dict[str, str], conf: list[str]) -> None:
        """The job that `script` is (the package's own file, as deployed), with its Pipes parameters from the driver's
        environment, building on DuckDB in a Python process of its own."""
        assert script.read_bytes() == Path(spark_job.__file__).read_bytes(), "the entry point is the job's file"
        self._run(service, [sys.executable, "-c", RUN_ON_DUCKDB, *argv], argv, env, conf)

    def _submit(self, service: str, script: Path, argv: list[str], env: dict[str, str], conf: list[str]) -> None:
        """The script through spark-submit, local[2] on 127.0.0.1, S3 at moto's address (boto3's own variable)."""
        command = [
            str(SPARK_SUBMIT), "--master", "local[2]",
            "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
            "--conf", "spark.ui.enabled=false", *conf, str(script), *argv,
        ]  # fmt: skip
        self._run(service, command, argv, env, conf)

    def _run(self, service: str, command: list[str], argv: list[str], env: dict[str, str], conf: list[str]) -> None:
        """Run the job's command as the service would, and keep what it did."""
        done = subprocess.run(
            command,
            env=self._child_env(env),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        self.runs.append(ScriptRun(service, argv, env, done.returncode, done.stdout + done.stderr, conf))
