"""Fuzzing a real collector process from its own OpenAPI description (schemathesis).

Every documented operation gets valid and invalid requests generated from the description (bodies
from the contract's JSON Schemas, headers, query strings, with and without credentials). Whatever
is sent, the collector must never answer 5xx, must answer only documented statuses, and every answer
must match its documented schema and content type. The example budget keeps it to about a minute.

The description is loaded from the package, not over HTTP: schemathesis parametrizes at collection
time, before any server runs. `test_openapi.py` checks that the collector serves this same document.
"""

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from revolt_pipeline.contract.openapi import openapi_document
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, SOURCES, CollectorProcess

EXAMPLES_PER_OPERATION = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "mode": "all"},
        "request-timeout": 30,
        "auth": {
            "openapi": {
                "writeKey": {"username": SOURCES["web"][1], "password": ""},
                "adminToken": {"bearer": ADMIN_TOKEN},
            }
        },
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """One `revolt collector serve` process for every operation's examples.

    On a simulated clock, so that setting the clock (`POST /admin/clock`) is exercised beyond its refusal.
    """
    home = tmp_path_factory.mktemp("fuzzed-collector")
    process = CollectorProcess(home, args=("--simulated-clock", "2026-11-20T09:00:00Z")).start()
    yield process
    process.stop()


@schema.parametrize()
def test_no_request_gets_a_server_error_or_an_undocumented_answer(
    case: schemathesis.Case, collector: CollectorProcess
) -> None:
    case.call_and_validate(base_url=collector.url, checks=CHECKS)
