"""The admin API the pipeline uses: flush now, and what landed per received date. Bearer-token only."""

import hmac
import re
from datetime import date

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revolt_pipeline.clock import SimulatedClock
from revolt_pipeline.collector.responses import json_response, service_of
from revolt_pipeline.contract import format_timestamp, parse_timestamp

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _authorized(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = service_of(request).config.admin_token
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


def _refuse() -> Response:
    return json_response({"success": False, "code": "unauthorized", "message": "admin token required"}, 401)


async def flush(request: Request) -> Response:
    if not _authorized(request):
        return _refuse()
    try:
        report = await service_of(request).flush(force=True)
    except Exception as exc:
        return json_response({"success": False, "code": "upload_failed", "message": str(exc)}, 503)
    return json_response(report)


async def landed(request: Request) -> Response:
    if not _authorized(request):
        return _refuse()
    text = request.query_params.get("received_date", "")
    try:
        # Python also reads `20261120` and `2026-W47-5`; the API takes the one form it documents.
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        return json_response(
            {
                "success": False,
                "code": "invalid_date",
                "message": f"received_date must be YYYY-MM-DD, got {text!r}",
            },
            400,
        )
    return json_response(service_of(request).landed(day))


async def stats(request: Request) -> Response:
    if not _authorized(request):
        return _refuse()
    return json_response(service_of(request).stats())


async def clock(request: Request) -> Response:
    """Move a simulated clock forward: how demo traffic replays a week in minutes."""
    if not _authorized(request):
        return _refuse()
    service = service_of(request)
    if not isinstance(service.clock, SimulatedClock):
        return json_response(
            {"success": False, "code": "not_simulated", "message": "this collector runs on the system clock"},
            409,
        )
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        payload = None
    now = payload.get("now") if isinstance(payload, dict) else None
    moment = parse_timestamp(now) if isinstance(now, str) else None
    if moment is None:
        return json_response({"success": False, "code": "invalid_timestamp", "message": 'send {"now": RFC 3339}'}, 400)
    try:
        service.clock.set(moment)
    except ValueError as exc:
        return json_response({"success": False, "code": "clock_backwards", "message": str(exc)}, 409)
    return json_response({"now": format_timestamp(service.clock.now())})


routes = [
    Route("/admin/flush", flush, methods=["POST"]),
    Route("/admin/landed", landed, methods=["GET"]),
    Route("/admin/stats", stats, methods=["GET"]),
    Route("/admin/clock", clock, methods=["POST"]),
]
