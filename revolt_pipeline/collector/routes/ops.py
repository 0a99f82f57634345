"""Operational endpoints: health for load balancers and monitoring, metrics for Prometheus."""

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revolt_pipeline.collector.responses import json_response, service_of
from revolt_pipeline.collector.service import UNAVAILABLE


async def health(request: Request) -> Response:
    """200 while ingest works (`ok`, or `degraded` when landing stalls), 503 when ingest fails."""
    report = await service_of(request).health()
    response = json_response(report, 503 if report["status"] == UNAVAILABLE else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


async def metrics(request: Request) -> Response:
    return Response(service_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/health", health, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
