"""The collector's ASGI application: routes wired to one CollectorService."""

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from revolt_pipeline.collector.protocol import CountResponses, internal_error
from revolt_pipeline.collector.routes import admin, ingest, ops
from revolt_pipeline.collector.service import CollectorService


def create_app(service: CollectorService) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = Starlette(
        routes=[*ingest.routes, *admin.routes, *ops.routes],
        middleware=[Middleware(CountResponses, metrics=service.metrics)],
        exception_handlers={Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.service = service
    return app
