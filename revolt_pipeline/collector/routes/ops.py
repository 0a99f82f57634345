"""Operational endpoints: health for load balancers and monitoring, metrics for Prometheus, the API's description."""

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revolt_pipeline.collector.responses import json_response, service_of
from revolt_pipeline.collector.service import UNAVAILABLE
from revolt_pipeline.contract.openapi import openapi_bytes


async def health(request: Request) -> Response:
    """200 while ingest works (`ok`, or `degraded` when landing stalls), 503 when ingest fails."""
    report = await service_of(request).health()
    response = json_response(report, 503 if report["status"] == UNAVAILABLE else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


async def metrics(request: Request) -> Response:
    return Response(service_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    """The OpenAPI 3.1 description, self-contained, for SDK generators and API fuzzers."""
    return Response(openapi_bytes(), media_type="application/json")


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
