"""The Segment HTTP Tracking API: `/v1/batch` and one endpoint per message type."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revolt_pipeline.collector.ingest import client_address
from revolt_pipeline.collector.responses import json_response, service_of
from revolt_pipeline.contract import MESSAGE_TYPES

# analytics.js and some mobile SDKs use one-letter paths.
SHORT_PATHS = {
    "b": "batch",
    "t": "track",
    "i": "identify",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read no further than `limit` bytes so an oversized upload costs us nothing."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _endpoint(path: str) -> Route:
    endpoint = SHORT_PATHS.get(path, path)

    async def handle(request: Request) -> Response:
        service = service_of(request)
        limit = service.config.limits.max_batch_bytes
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            service.metrics.rejected.labels("batch_too_large").inc()
            return json_response(
                {
                    "success": False,
                    "code": "batch_too_large",
                    "message": f"request body exceeds {limit} bytes",
                },
                status=413,
            )
        outcome = await service.ingest(
            body,
            endpoint=endpoint,
            content_encoding=request.headers.get("content-encoding"),
            authorization=request.headers.get("authorization"),
            origin=request.headers.get("origin"),
            # The peer, or the client a trusted proxy names (uvicorn's proxy headers, REVOLT_TRUSTED_PROXIES).
            client_ip=client_address(request.client.host if request.client else None),
        )
        return json_response(outcome.body, status=outcome.status)

    return Route(f"/v1/{path}", handle, methods=["POST"], name=f"ingest_{path}")


routes = [_endpoint(path) for path in ("batch", *MESSAGE_TYPES, *SHORT_PATHS)]
