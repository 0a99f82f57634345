"""Operational endpoints: liveness for load balancers, metrics for Prometheus."""

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revolt_pipeline.collector.responses import json_response, service_of


async def health(request: Request) -> Response:
    return json_response(service_of(request).health())


async def metrics(request: Request) -> Response:
    return Response(service_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/health", health, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
