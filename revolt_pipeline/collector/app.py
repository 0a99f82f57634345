"""The collector's ASGI application: routes wired to one CollectorService."""

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from revolt_pipeline.collector.protocol import CountResponses, http_error, internal_error
from revolt_pipeline.collector.routes import admin, browser, ingest, ops
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
        routes=[*ingest.routes, *browser.routes, *admin.routes, *ops.routes],
        # Outermost first: every answer is counted, CORS headers included or not.
        middleware=[
            Middleware(CountResponses, metrics=service.metrics),
            Middleware(browser.BrowserCors, origin_allowed=service.sources.any_allows_origin),
        ],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.public_api = browser.public_api(service.config.public_url)  # checked before serving
    return app
