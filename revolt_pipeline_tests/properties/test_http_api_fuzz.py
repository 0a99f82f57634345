"""Fuzzing a real collector process from its own OpenAPI description (schemathesis).

Every documented operation gets valid and invalid requests generated from the description (bodies
from the contract's JSON Schemas, headers, query strings, path parameters, with and without
credentials). Whatever is sent, the collector must never answer 5xx, must answer only documented
statuses, and every answer must match its documented schema, content type and headers. A message
or batch the description calls valid must be accepted whole. The example budget keeps it to about
a minute.

The description is loaded from the package, not over HTTP: schemathesis parametrizes at collection
time, before any server runs. `test_openapi.py` checks that the collector serves this same document.
"""

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from revolt_pipeline.contract.openapi import openapi_document
from revolt_pipeline.sources import add_source
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, SOURCES, CollectorProcess

EXAMPLES_PER_OPERATION = 120
# The web source allows these browser origins only, so that preflights and requests meet both answers.
ALLOWED_ORIGINS = ("https://app.example.com", "https://*.example.com")
GZIP = ("gzip", "x-gzip")
DOCUMENT = openapi_document()
# A source with the description's example write key, so that the settings document is fetched too.
EXAMPLE_KEY = DOCUMENT["components"]["parameters"]["WriteKey"]["example"]


def content_encoding(case: schemathesis.Case) -> str:
    headers = {name.lower(): value for name, value in (case.headers or {}).items()}
    return headers.get("content-encoding", "identity").strip().lower()


def sent_body(case: schemathesis.Case) -> Any:
    """The body as generated, before `compress_as_declared` gzipped it."""
    return json.loads(gzip.decompress(case.body)) if isinstance(case.body, bytes) else case.body


def compress_as_declared(case: schemathesis.Case) -> None:
    """Gzip a JSON body that declares `Content-Encoding: gzip`: the description says it is inflated first.

    Generated requests declare it without encoding the body, which the collector can only refuse.
    """
    if content_encoding(case) in GZIP and isinstance(case.body, (dict, list)):
        case.body = gzip.compress(json.dumps(case.body).encode())
        case.media_type = "application/octet-stream"


@schemathesis.check
def valid_requests_are_accepted(ctx: schemathesis.CheckContext, response: Response, case: schemathesis.Case) -> None:
    """A message or batch that the description calls valid is accepted whole: the schemas are not stricter.

    Left out: a browser Origin, since whether a source allows it is configuration, not schema.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive or case.method != "POST":
        return
    body = sent_body(case)
    if not case.path.startswith("/v1/") or not isinstance(body, (dict, list)):
        return
    if "origin" in {name.lower() for name in case.headers or {}}:
        return
    messages = body.get("batch", []) if isinstance(body, dict) and "batch" in body else [body]
    answer = response.json()
    assert response.status_code == 200, f"a valid request was refused: {response.status_code} {answer}"
    assert answer == {"success": True, "accepted": len(messages)}, f"valid messages were refused: {answer}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
    valid_requests_are_accepted,
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
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """One `revolt collector serve` process for every operation's examples.

    On a simulated clock, so that setting the clock (`POST /admin/clock`) is exercised beyond its refusal.
    """
    home = tmp_path_factory.mktemp("fuzzed-collector")
    for name, (platform, key) in SOURCES.items():
        add_source(home / "sources.toml", name, platform, key, ALLOWED_ORIGINS if name == "web" else None)
    add_source(home / "sources.toml", "example", "web", EXAMPLE_KEY)
    process = CollectorProcess(home, args=("--simulated-clock", "2026-11-20T09:00:00Z")).start()
    yield process
    process.stop()


@schema.parametrize()
def test_no_request_gets_a_server_error_or_an_undocumented_answer(
    case: schemathesis.Case, collector: CollectorProcess
) -> None:
    compress_as_declared(case)
    case.call_and_validate(base_url=collector.url, checks=CHECKS)


def test_every_operation_is_an_item_of_its_own(request: pytest.FixtureRequest) -> None:
    """pytest-xdist schedules by node id: operations sharing one would be fuzzed once between them (conftest.py)."""
    fuzzed = [
        item.nodeid
        for item in request.session.items
        if getattr(item, "originalname", None) == test_no_request_gets_a_server_error_or_an_undocumented_answer.__name__
    ]
    assert len(fuzzed) == len(set(fuzzed)) == len(list(schema.get_all_operations()))
