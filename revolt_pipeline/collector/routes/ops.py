"""Operational endpoints: liveness for load balancers, metrics for Prometheus, the API's own description."""

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revolt_pipeline.collector.responses import json_response, service_of
from revolt_pipeline.contract.openapi import openapi_bytes


async def health(request: Request) -> Response:
    return json_response(service_of(request).health())


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
