"""The OpenAPI description stays true to the collector: every route documented, every operation served."""

import json
import socket
from functools import reduce
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
from revolt_pipeline.collector.server import CollectorServer
from revolt_pipeline.collector.service import CollectorService, HttpLimits
from revolt_pipeline.contract.openapi import DOCUMENT, bundle, openapi_document
from revolt_pipeline_tests.fixtures.collector import CollectorHarness, collector_config

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
CONTRACT = resources.files("revolt_pipeline.contract")
URN = "urn:revolt:openapi"


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
        URN, Resource.from_contents(openapi_document(), default_specification=DRAFT202012)
    )
    validator = jsonschema.Draft202012Validator({"$ref": f"{URN}#/components/schemas/{component}"}, registry=registry)
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


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = reduce(lambda parent, key: parent[key], node["$ref"].removeprefix("#/").split("/"), document)
    return node


def _absolute(node: Any, base: str) -> Any:
    """A schema cut out of the description, its `#/...` references made to point into the description."""
    if isinstance(node, list):
        return [_absolute(item, base) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: base + value if key == "$ref" and value.startswith("#") else _absolute(value, base)
        for key, value in node.items()
    }


def answer_of(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send `data`, then read until the collector closes: its own answer to what HTTP clients cannot send."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def assert_documented(method: str, path: str, raw: bytes, code: str) -> None:
    """The answer's status is documented for the operation, and its body and required headers are as documented."""
    document = openapi_document()
    status, headers, body = answer_of(raw)
    operation = _resolve(document, document["paths"][path])[method.lower()]
    assert str(status) in operation["responses"], f"{status} {body} is not documented for {method} {path}"
    response = _resolve(document, operation["responses"][str(status)])
    registry = Registry().with_resource(URN, Resource.from_contents(document, default_specification=DRAFT202012))
    schema = _absolute(response["content"]["application/json"]["schema"], URN)
    assert jsonschema.Draft202012Validator(schema, registry=registry).is_valid(body), (status, body)
    assert body["code"] == code
    for name, header in response.get("headers", {}).items():
        required = _resolve(document, header).get("required", False)
        assert not required or name.lower() in headers, f"{name} is missing from {status} {code}"


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/batch"), ("GET", "/health"), ("OPTIONS", "/v1/t")])
def test_the_http_layers_own_answers_are_documented_for_every_operation(tmp_path: Path, method: str, path: str) -> None:
    """What the fuzzer cannot reach: slow headers and bodies, oversized headers, broken HTTP, too many clients."""
    quick = HttpLimits(header_timeout_seconds=0.3, body_timeout_seconds=0.3, max_header_bytes=1024)
    line = f"{method} {path} HTTP/1.1\r\nHost: collector\r\n".encode()
    store = (tmp_path / "store").as_uri()
    with CollectorServer(collector_config(tmp_path / "quick", store, http_limits=quick)) as server:
        assert_documented(method, path, raw_exchange(server.port, line), "request_timeout")
        if method == "POST":  # routes that answer without reading a body are not held by a slow one
            slow_body = line + b"Content-Length: 100\r\n\r\n{"
            assert_documented(method, path, raw_exchange(server.port, slow_body), "request_timeout")
        too_large = line + b"X-Padding: " + b"a" * 2000 + b"\r\n\r\n"
        assert_documented(method, path, raw_exchange(server.port, too_large), "headers_too_large")
        broken = line + b"Content-Length: nope\r\n\r\n"
        assert_documented(method, path, raw_exchange(server.port, broken), "bad_request")
    one = HttpLimits(max_connections=1)
    with CollectorServer(collector_config(tmp_path / "one", store, http_limits=one)) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as holder:
            holder.sendall(line)  # mid-headers: busy, so no connection can be closed to make room
            answer = raw_exchange(server.port, line + b"Content-Length: 0\r\n\r\n")
        assert_documented(method, path, answer, "over_capacity")


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
