"""Browsers and Segment's SDKs: CORS on the ingest paths, and the settings document the SDKs fetch at start.

A browser page on another origin may only send after a preflight, and may only read an answer that carries
`Access-Control-Allow-Origin`. A preflight carries no write key, so it is answered for every origin that some
source allows; each request then names its source, which keeps or refuses (403, quarantined) its origin.
The settings document is what `cdn.segment.com/v1/projects/<writeKey>/settings` serves for Segment: pointing
an SDK's CDN host at the collector makes the SDK send its events here, with no call to Segment.
"""

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revolt_pipeline.collector.responses import json_response, service_of
from revolt_pipeline.collector.routes.ingest import SHORT_PATHS
from revolt_pipeline.contract import MESSAGE_TYPES
from revolt_pipeline.sources import WRITE_KEY

INGEST_PATHS = frozenset(f"/v1/{path}" for path in ("batch", *MESSAGE_TYPES, *SHORT_PATHS))
SETTINGS_PATH = "/v1/projects/{writeKey}/settings"
# What Segment's analytics-next sends (Content-Type text/plain, Authorization: Basic, X-Retry-Count), what
# RudderStack's JS SDK adds (AnonymousId), and Content-Encoding for clients that gzip.
ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, X-Retry-Count, AnonymousId"
# analytics-next reads Retry-After on a 429; a browser hides every non-safelisted header unless exposed.
EXPOSED_HEADERS = "Retry-After"
INGEST_METHODS = "POST, OPTIONS"
SETTINGS_METHODS = "GET, HEAD, OPTIONS"
# Chromium caps a cached preflight at 2 hours; a longer value would promise what it does not do.
PREFLIGHT_MAX_AGE_SECONDS = 7200
# A settings document is fetched at every page load: let browsers keep it a few minutes.
SETTINGS_MAX_AGE_SECONDS = 300
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def is_browser_path(path: str) -> bool:
    """The paths a browser page calls: ingestion and the settings document."""
    return path in INGEST_PATHS or (path.startswith("/v1/projects/") and path.endswith("/settings"))


class BrowserCors:
    """ASGI middleware: `Access-Control-Allow-Origin` and `Vary: Origin` on every answer of a browser path.

    Every answer, 4xx and 5xx included (and those of other middleware), so that an SDK can read why it was
    refused instead of seeing a network error that it would retry.
    """

    def __init__(self, app: ASGIApp, origin_allowed: Callable[[str], bool]) -> None:
        self.app = app
        self.origin_allowed = origin_allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_browser_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")
        allowed = origin is not None and self.origin_allowed(origin)
        preflight = scope["method"] == "OPTIONS"

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Origin")
                if allowed:
                    assert origin is not None
                    headers["Access-Control-Allow-Origin"] = origin
                    if not preflight:
                        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _preflight(methods: str) -> Callable[[Request], Any]:
    async def answer(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is None or "access-control-request-method" not in request.headers:
            return Response(status_code=204, headers={"Allow": methods})  # a plain OPTIONS, not a preflight
        if not service_of(request).sources.any_allows_origin(origin):
            return json_response(
                _error("origin_not_allowed", f"no source allows browser origin {origin!r}; see allowed_origins"),
                status=403,
            )
        headers = {
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        }
        # Chromium asks before a public page may call a collector on a private address (Private Network Access).
        if request.headers.get("access-control-request-private-network") == "true":
            headers["Access-Control-Allow-Private-Network"] = "true"
        return Response(status_code=204, headers=headers)

    return answer


def public_api(public_url: str | None) -> tuple[str, str] | None:
    """(protocol, apiHost) for a configured public URL such as `https://collector.example.com`, checked."""
    if not public_url:
        return None
    parts = urlsplit(public_url.strip())
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(parts.netloc) or parts.query or parts.fragment:
        raise ValueError(
            f"REVOLT_COLLECTOR_PUBLIC_URL must be http(s)://host[:port][/path] as apps reach the collector, "
            f"got {public_url!r}"
        )
    return parts.scheme, parts.netloc + parts.path.rstrip("/") + "/v1"


def segment_settings(write_key: str, protocol: str, api_host: str) -> dict[str, Any]:
    """The settings document in the shape analytics-next, analytics-swift and analytics-kotlin read.

    `Segment.io` is the only integration (no device-mode destinations, no remote plugins or middleware to
    download), its `apiHost` is this collector, and `metrics.sampleRate` 0 stops the SDKs' telemetry to Segment.
    """
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": api_host,
                "protocol": protocol,
                # Routing hints for Segment's cloud destinations, which would only add noise to every message.
                "addBundledMetadata": False,
                "unbundledIntegrations": [],
                "maybeBundledConfigIds": {},
            }
        },
        "plan": {
            "track": {"__default": {"enabled": True, "integrations": {}}},
            "identify": {"__default": {"enabled": True}},
            "group": {"__default": {"enabled": True}},
        },
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
        "consentSettings": {"allCategories": [], "hasUnmappedDestinations": False},
        "autoInstrumentationSettings": {"sampleRate": 0},
    }


async def settings_document(request: Request) -> Response:
    service = service_of(request)
    write_key = request.path_params["writeKey"]
    source = service.sources.get(write_key) if WRITE_KEY.fullmatch(write_key) else None
    if source is None:
        return json_response(_error("unknown_write_key", "the write key is not configured for any source"), 404)
    configured: tuple[str, str] | None = request.app.state.public_api
    if configured is not None:
        (protocol, api_host), cache = configured, "public"
    else:
        host = request.headers.get("host") or _server_address(request)
        if not _HOST.fullmatch(host):
            return json_response(_error("invalid_host", "the Host header is not a host name or address"), 400)
        # Derived from the request, so no shared cache may hand it to a client that asked through another host.
        protocol, api_host, cache = request.url.scheme, host + request.scope.get("root_path", "") + "/v1", "private"
    response = json_response(segment_settings(write_key, protocol, api_host))
    response.headers["Cache-Control"] = f"{cache}, max-age={SETTINGS_MAX_AGE_SECONDS}"
    return response


def _server_address(request: Request) -> str:
    host, port = request.scope.get("server") or ("127.0.0.1", 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _error(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "code": code, "message": message}


routes = [
    *(Route(path, _preflight(INGEST_METHODS), methods=["OPTIONS"]) for path in sorted(INGEST_PATHS)),
    Route(SETTINGS_PATH, settings_document, methods=["GET"], name="segment_settings"),
    Route(SETTINGS_PATH, _preflight(SETTINGS_METHODS), methods=["OPTIONS"]),
]
