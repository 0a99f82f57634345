"""REVOLT_ENGINE picks the layer runner and REVOLT_SPARK_LAUNCHER the launcher, once, in `defs/resources.py`; each
launcher refuses to start without its settings, naming the variables; and the assets never branch on the engine."""

import dataclasses
import os
import re
from pathlib import Path

import pytest

import revolt_pipeline.defs
from revolt_pipeline.defs.lake.runners import InProcessLayerRunner, SparkLayerRunner
from revolt_pipeline.defs.resources import build_resources
from revolt_pipeline.defs.spark.resources import (
    EmrServerlessSparkLauncher,
    GlueSparkLauncher,
    SubprocessSparkLauncher,
)
from revolt_pipeline.pipes.messages import JobRequest
from revolt_pipeline.settings import Settings, SettingsError
from revolt_pipeline.transforms.rules import PipelineRules


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for name in [name for name in os.environ if name.startswith("REVOLT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    return dataclasses.replace(Settings.from_env(), admin_token="token")


def test_the_default_launcher_is_a_subprocess_with_the_spark_master(settings: Settings) -> None:
    launcher = build_resources(dataclasses.replace(settings, spark_master="local[1]"))["spark_launcher"]
    assert isinstance(launcher, SubprocessSparkLauncher)
    assert launcher.master == "local[1]"
    assert launcher.spark_conf == {}  # Spark's own 1 GB heap


def test_the_subprocess_jobs_heap_is_a_setting(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOLT_SPARK_DRIVER_MEMORY", "3g")
    launcher = build_resources(Settings.from_env())["spark_launcher"]
    asked = JobRequest(step="raw_events", days=[], storage_url="file:///lake", rules=PipelineRules())
    request = launcher.complete(asked)
    assert request.spark_conf == {"spark.driver.memory": "3g"}
    for wrong in ("3 GB", "3.5g", "0g", "3"):
        monkeypatch.setenv("REVOLT_SPARK_DRIVER_MEMORY", wrong)
        with pytest.raises(SettingsError, match=f"REVOLT_SPARK_DRIVER_MEMORY must be a size such as 3g.*{wrong!r}"):
            Settings.from_env()


def test_glue_is_chosen_with_its_job_and_bucket(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOLT_SPARK_LAUNCHER", " Glue ")
    monkeypatch.setenv("REVOLT_GLUE_JOB_NAME", "revolt-cleaned")
    monkeypatch.setenv("REVOLT_PIPES_BUCKET", "revolt-pipes")
    monkeypatch.setenv("REVOLT_S3_REGION", "eu-west-1")
    launcher = build_resources(dataclasses.replace(Settings.from_env(), admin_token="t"))["spark_launcher"]
    assert isinstance(launcher, GlueSparkLauncher)
    assert (launcher.job_name, launcher.pipes_bucket, launcher.pipes_prefix, launcher.region) == (
        "revolt-cleaned",
        "revolt-pipes",
        "dagster-pipes/",
        "eu-west-1",
    )


def test_emr_serverless_is_chosen_with_its_application(settings: Settings) -> None:
    chosen = dataclasses.replace(
        settings,
        spark_launcher="emr_serverless",
        emr_application_id="00abc",
        emr_execution_role_arn="arn:aws:iam::1:role/r",
        emr_entry_point="s3://b/scripts/spark_job.py",
        pipes_bucket="b",
    )
    launcher = build_resources(chosen)["spark_launcher"]
    assert isinstance(launcher, EmrServerlessSparkLauncher)
    assert launcher.entry_point == "s3://b/scripts/spark_job.py"


def test_a_launcher_without_its_settings_is_refused_naming_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVOLT_SPARK_LAUNCHER", "emr_serverless")
    monkeypatch.setenv("REVOLT_EMR_APPLICATION_ID", "00abc")
    monkeypatch.delenv("REVOLT_PIPES_BUCKET", raising=False)
    with pytest.raises(
        SettingsError, match="needs REVOLT_EMR_EXECUTION_ROLE_ARN, REVOLT_EMR_ENTRY_POINT, REVOLT_PIPES"
    ):
        Settings.from_env()
    monkeypatch.setenv("REVOLT_SPARK_LAUNCHER", "lambda")
    with pytest.raises(SettingsError, match="REVOLT_SPARK_LAUNCHER must be one of subprocess, glue, emr_serverless"):
        Settings.from_env()


def test_the_engine_chooses_how_every_step_builds_its_days(settings: Settings) -> None:
    assert isinstance(build_resources(settings)["layer_runner"], InProcessLayerRunner)
    on_spark = build_resources(dataclasses.replace(settings, engine="spark", spark_master="local[1]"))
    runner = on_spark["layer_runner"]
    assert isinstance(runner, SparkLayerRunner)
    assert runner.launcher is on_spark["spark_launcher"]


def test_no_asset_module_branches_on_the_engine() -> None:
    """The engine reaches the assets as the resource they call and as the kind the UI shows, never as an `if`."""
    folder = Path(revolt_pipeline.defs.__file__).parent
    for path in folder.glob("*/assets.py"):
        text = path.read_text()
        assert not re.search(r"\bif\b[^\n]*(on_spark|engine|SPARK)", text), path
        assert "spark_launcher" not in text, path
