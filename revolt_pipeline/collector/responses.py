"""Shared pieces of the collector's HTTP layer."""

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from revolt_pipeline.collector.service import CollectorService


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def service_of(request: Request) -> "CollectorService":
    return request.app.state.service
