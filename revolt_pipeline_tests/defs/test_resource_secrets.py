"""Dagster's UI shows the names of the variables that hold secrets, never the secrets.

The code location is loaded as the webserver loads it (workspace.yaml, a code server in its own
process), then everything the webserver gets from it is read: the repository snapshot, every job's
snapshot, the resources' configuration through GraphQL (the resource page) and every job's default run
configuration (the launchpad's scaffold).
"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dagster._core.test_utils import instance_for_test
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._serdes import serialize_value
from dagster_graphql.test.utils import execute_dagster_graphql

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
LOCATION = "revolt_pipeline"
ADMIN_TOKEN = "admin-token-value-7f3a9c"
DB_PASSWORD = "db-password-value-41c2e8"
REPORT_DB_URL = f"postgresql+psycopg://reports:{DB_PASSWORD}@127.0.0.1:5432/reports"

RESOURCES = """
query($repository: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $repository) {
    __typename
    ... on ResourceDetailsList { results { name configuredValues { key value type } } }
    ... on PythonError { message }
  }
}"""
DEFAULT_RUN_CONFIG = """
query($job: PipelineSelector!) {
  runConfigSchemaOrError(selector: $job) {
    __typename
    ... on RunConfigSchema { rootDefaultYaml }
    ... on PythonError { message }
  }
}"""


@pytest.fixture
def webserver_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], WorkspaceRequestContext]]:
    """Load the code location as dagster-webserver does, with the environment the test has set by then."""
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path / "home"))
    for name in ("REVOLT_STORAGE_URL", "REVOLT_SOURCES_FILE", "REVOLT_COLLECTOR_URL"):
        monkeypatch.delenv(name, raising=False)

    def load() -> WorkspaceRequestContext:
        process = WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(WORKSPACE)]))
        contexts.append(process)
        request = process.create_request_context()
        error = request.get_code_location_entries()[LOCATION].load_error
        assert error is None, error
        return request

    contexts: list[WorkspaceProcessContext] = []
    with instance_for_test() as instance:
        yield load
        for process in contexts:
            process.__exit__(None, None, None)


def everything_the_webserver_sees(request: WorkspaceRequestContext) -> tuple[str, dict[str, dict[str, dict]]]:
    """All the text the webserver receives or serves about the location, and the resources' configured values."""
    location = request.get_code_location(LOCATION)
    repository = next(iter(location.get_repositories().values()))
    seen = [serialize_value(repository.repository_snap)]
    selector = {"repositoryLocationName": LOCATION, "repositoryName": repository.name}
    for job in repository.get_all_jobs():
        seen.append(serialize_value(repository.get_full_job(job.name).job_snapshot))
        answer = execute_dagster_graphql(request, DEFAULT_RUN_CONFIG, {"job": {**selector, "pipelineName": job.name}})
        assert answer.data["runConfigSchemaOrError"]["__typename"] == "RunConfigSchema", answer.data
        seen.append(answer.data["runConfigSchemaOrError"]["rootDefaultYaml"])
    answer = execute_dagster_graphql(request, RESOURCES, {"repository": selector})
    resources = answer.data["allTopLevelResourceDetailsOrError"]
    assert resources["__typename"] == "ResourceDetailsList", resources
    seen.append(json.dumps(resources))
    configured = {
        resource["name"]: {value["key"]: value for value in resource["configuredValues"]}
        for resource in resources["results"]
    }
    return "\n".join(seen), configured


def test_secrets_from_the_environment_show_as_variable_names(
    webserver_view: Callable[[], WorkspaceRequestContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVOLT_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("REVOLT_REPORT_DB_URL", REPORT_DB_URL)
    seen, configured = everything_the_webserver_sees(webserver_view())

    assert ADMIN_TOKEN not in seen
    assert DB_PASSWORD not in seen
    assert configured["collector"]["admin_token"] == {
        "key": "admin_token",
        "value": "REVOLT_ADMIN_TOKEN",
        "type": "ENV_VAR",
    }
    assert configured["reports"]["url"] == {"key": "url", "value": "REVOLT_REPORT_DB_URL", "type": "ENV_VAR"}


def test_the_embedded_default_shows_the_token_file_not_the_token(
    webserver_view: Callable[[], WorkspaceRequestContext], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("REVOLT_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("REVOLT_REPORT_DB_URL", raising=False)
    seen, configured = everything_the_webserver_sees(webserver_view())

    token_file = tmp_path / "home" / "admin-token"
    token = token_file.read_text().strip()
    assert token not in seen
    assert "admin_token" not in configured["collector"]
    assert configured["collector"]["admin_token_file"]["value"] == json.dumps(str(token_file))
    assert configured["reports"]["url"]["value"] == json.dumps(f"sqlite:///{tmp_path / 'home' / 'reports.sqlite'}")
