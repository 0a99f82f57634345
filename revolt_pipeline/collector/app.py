"""The collector's ASGI application: routes wired to one CollectorService."""

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

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

    app = Starlette(routes=[*ingest.routes, *admin.routes, *ops.routes], lifespan=lifespan)
    app.state.service = service
    return app
