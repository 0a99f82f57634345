"""The OpenAPI description stays true to the collector: every route documented, every operation served."""

import json
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.routing import Route

from revolt_pipeline.collector.app import create_app
from revolt_pipeline.collector.service import CollectorService
from revolt_pipeline.contract.openapi import DOCUMENT, bundle, openapi_document
from revolt_pipeline_tests.fixtures.collector import CollectorHarness, collector_config

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
CONTRACT = resources.files("revolt_pipeline.contract")


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    operations = set()
    for path, item in document["paths"].items():
        if "$ref" in item:
            item = document["components"]["pathItems"][item["$ref"].rsplit("/", 1)[1]]
        operations |= {(method.upper(), path) for method in item if method in HTTP_METHODS}
    return operations


def served_operations(tmp_path: Path) -> set[tuple[str, str]]:
    service = CollectorService(collector_config(tmp_path, (tmp_path / "store").as_uri()))
    try:
        app = create_app(service)
    finally:
        service.close()
    operations = set()
    for route in app.routes:
        assert isinstance(route, Route), f"{route!r}: only plain routes are expected"
        methods = set(route.methods or ()) - ({"HEAD"} if "GET" in (route.methods or ()) else set())
        operations |= {(method, route.path) for method in methods}
    return operations


def test_every_route_is_documented_and_every_documented_operation_is_served(tmp_path: Path) -> None:
    documented = documented_operations(openapi_document())
    served = served_operations(tmp_path)
    assert served - documented == set(), "routes missing from contract/openapi.json"
    assert documented - served == set(), "documented operations the collector does not serve"


def test_the_collector_serves_its_description_self_contained(collector_server: CollectorHarness) -> None:
    response = httpx.get(collector_server.url + "/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document == openapi_document()
    validate(document)
    assert [ref for ref in _references(document) if not ref.startswith("#/")] == []


def test_the_description_refers_to_the_contract_schemas_instead_of_copying_them() -> None:
    source = json.loads(CONTRACT.joinpath(DOCUMENT).read_text())
    external = {ref.partition("#")[0] for ref in _references(source) if not ref.startswith("#")}
    assert external == {"segment-message.schema.json", "batch.schema.json"}
    copied = [node for node in _walk(source) if isinstance(node, dict) and "$defs" in node]
    assert copied == [], "a contract schema was copied into the description"
    validate(source, base_uri=Path(str(CONTRACT.joinpath(DOCUMENT))).as_uri())


@pytest.mark.parametrize(
    ("component", "body", "valid"),
    [
        ("TrackMessage", {"type": "track", "event": "Signed Up", "userId": 7}, True),
        ("TrackMessage", {"type": "track", "event": "", "userId": "u"}, False),
        ("TrackMessage", {"type": "page", "userId": "u"}, False),
        ("TrackMessage", {"event": "Signed Up", "anonymousId": "a"}, True),  # the endpoint fills `type` in
        ("TrackMessage", {"userId": "u"}, False),
        ("IdentifyMessage", {"userId": "u", "traits": {"plan": "team"}}, True),
        ("PageMessage", {"userId": "u", "name": 3}, False),
        ("GroupMessage", {"userId": "u", "groupId": None}, False),
        ("AliasMessage", {"type": "alias", "previousId": "a", "userId": "u"}, True),
        ("AliasMessage", {"type": "alias", "userId": "u"}, False),
        ("AliasMessage", {"previousId": "a", "userId": "u"}, True),
        ("batch.schema.json", {"batch": [], "sentAt": "2026-11-20 10:00:00+0100", "writeKey": None}, True),
        ("batch.schema.json", {"batch": [], "sentAt": "2026-11-20T10:00:00"}, False),
        ("batch.schema.json", {"batch": [{"type": "identify", "anonymousId": "a"}], "writeKey": "k"}, True),
        ("batch.schema.json", {"batch": [{"type": "identify"}]}, False),
        ("batch.schema.json", {"batch": [{"type": "track", "event": "e", "userId": "u", "sentAt": "10:00"}]}, False),
    ],
)
def test_the_served_bodies_are_the_contract_rules(component: str, body: Any, valid: bool) -> None:
    """The embedded schemas resolve inside the served document and still say what the contract says."""
    registry = Registry().with_resource(
        "urn:revolt:openapi", Resource.from_contents(openapi_document(), default_specification=DRAFT202012)
    )
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"urn:revolt:openapi#/components/schemas/{component}"}, registry=registry
    )
    assert validator.is_valid(body) is valid


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v2/batch", 404, "not_found"),
        ("GET", "/v1/projects//settings", 404, "not_found"),
        ("GET", "/v1/batch", 405, "method_not_allowed"),
        ("DELETE", "/health", 405, "method_not_allowed"),
    ],
)
def test_paths_and_methods_no_route_serves_are_answered_in_the_error_shape(
    collector_server: CollectorHarness, method: str, path: str, status: int, code: str
) -> None:
    """Starlette answers these in plain text; clients reading `code` from every error would stumble."""
    response = collector_server.http.request(method, collector_server.url + path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"success": False, "code": code, "message": response.json()["message"]}
    if status == 405:
        assert response.headers["allow"]


def test_bundling_refuses_to_overwrite_a_component_of_the_same_name() -> None:
    document = {"components": {"schemas": {"a.json": {}}}, "paths": {"/x": {"$ref": "a.json"}}}
    with pytest.raises(ValueError, match=r"a\.json"):
        bundle(document, load=lambda name: {"type": "object"})


def _walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _references(document: Any) -> list[str]:
    return [node["$ref"] for node in _walk(document) if isinstance(node, dict) and isinstance(node.get("$ref"), str)]
