"""The dashboard's web app: every page of `urls.PAGES`, rendered on the server from the report database.

`create_app(settings, token)` is all a server needs (`server.py` runs it under uvicorn for `revolt dashboard`).
Pages are plain HTML with inline SVG charts and one stylesheet: no script runs, nothing is fetched from
elsewhere, so the dashboard works offline and its Content-Security-Policy forbids scripts altogether.
"""

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from revolt_pipeline.dashboard import auth, pages, queries
from revolt_pipeline.dashboard.charts import number_text
from revolt_pipeline.dashboard.filters import MAX_DAYS, Filters, Period
from revolt_pipeline.dashboard.urls import PAGES
from revolt_pipeline.reports.loader import create_engine
from revolt_pipeline.settings import Settings

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
# Page parameters besides the filters, kept in the page's links and form so its URL reproduces it.
PAGE_PARAMS = {
    "retention": ("unit", "definition"),
    "lifecycle": ("unit",),
    "people": ("q", "page"),
    "person": ("page",),
}
TITLES = {
    "overview": "Overview",
    "retention": "Retention",
    "funnels": "Funnels",
    "lifecycle": "Lifecycle",
    "events": "Events",
    "sessions": "Sessions",
    "people": "People",
    "person": "Person",
    "churn": "Churn risk",
    "segments": "Segments",
}
NAVIGATION = [name for name in PAGES if name != "person"]
SECURITY_HEADERS = {
    # No script at all; inline styles only in the SVG charts' attributes and the login page.
    "content-security-policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",  # personal data: never kept by a shared cache or the browser's
}


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["num"] = number_text
    templates.env.filters["pct"] = lambda value, digits=1: "–" if value is None else f"{100 * value:.{digits}f}%"
    templates.env.globals["titles"] = TITLES
    templates.env.globals["navigation"] = NAVIGATION
    templates.env.globals["link"] = page_link
    return templates


def create_app(settings: Settings, token: str | None = None) -> Starlette:
    """The dashboard over the report database of `settings` (REVOLT_REPORT_DB_URL); with `token`, every page and
    asset asks for it (`auth.py`). Without one, serve it on loopback only (`server.serve` sees to that)."""
    database = ReportDatabase(settings.report_db_url)
    templates = _templates()

    def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
        response = templates.TemplateResponse(request, template, context, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        return response

    def page_endpoint(name: str) -> Any:
        builder = pages.BUILDERS[name]

        def endpoint(request: Request) -> Response:
            query = {key: value for key, value in request.query_params.items()}
            filters = Filters.from_query(query)
            params = {key: query[key] for key in PAGE_PARAMS.get(name, ()) if query.get(key)}
            context: dict[str, Any] = {
                "page": name,
                "filters": filters,
                "params": params,
                "token": bool(token),
                "errors": list(filters.errors),
                "notes": [],
                "database": database.shown,
            }
            missing_file = database.missing_file()
            if missing_file is not None:
                context.update(missing_file=str(missing_file))
                return render(request, "unavailable.html", context, status=503)
            try:
                with database.engine().connect() as connection:
                    reader = queries.Reader(connection)
                    period = Period.resolve(filters, queries.last_complete_day(reader), queries.first_day(reader))
                    if filters.first and period.first > filters.first:
                        context["errors"].append(f"at most {MAX_DAYS} days are shown: from {period.first} on")
                    context.update(
                        period=period,
                        platforms=queries.platforms(reader),
                        app_versions=queries.app_versions(reader, filters.platform),
                        no_tables=not (reader.tables & {"active_users_daily", "events_daily", "people"}),
                    )
                    request_page = pages.PageRequest(
                        reader, filters, period, params, request.path_params.get("person_id")
                    )
                    context.update(builder(request_page))
            except sa.exc.SQLAlchemyError as exc:
                log.warning("the dashboard could not read the report database: %s", exc)
                context.update(reason=str(exc.orig if getattr(exc, "orig", None) else exc).splitlines()[0][:300])
                return render(request, "unavailable.html", context, status=503)
            context["notes"] = list(context.get("notes", []))
            return render(request, f"{name}.html", context, status=context.pop("status", 200))

        return endpoint

    def login(request: Request) -> Response:
        next_page = auth.safe_next(request.query_params.get("next", "/"))
        if not token:
            return RedirectResponse(next_page, status_code=303)
        return render(request, "login.html", {"next": next_page, "failed": False, "page": "login"})

    async def login_submit(request: Request) -> Response:
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode(errors="replace")).items()}
        next_page = auth.safe_next(form.get("next", "/"))
        if not token:
            return RedirectResponse(next_page, status_code=303)
        if not auth.token_matches(token, form.get("token", "")):
            return render(request, "login.html", {"next": next_page, "failed": True, "page": "login"}, status=401)
        response = RedirectResponse(next_page, status_code=303)
        response.set_cookie(
            auth.COOKIE,
            auth.session_value(token),
            max_age=auth.COOKIE_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    def logout(request: Request) -> Response:
        response = RedirectResponse(auth.LOGIN_PATH if token else "/", status_code=303)
        response.delete_cookie(auth.COOKIE, path="/")
        return response

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            database.dispose()

    routes = [
        *(Route(path.replace("{person_id}", "{person_id:path}"), page_endpoint(name)) for name, path in PAGES.items()),
        Route(auth.LOGIN_PATH, login, methods=["GET"]),
        Route(auth.LOGIN_PATH, login_submit, methods=["POST"]),
        Route(auth.LOGOUT_PATH, logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(auth.TokenMiddleware, token=token)], lifespan=lifespan)
    return app


class ReportDatabase:
    """The report database the pages read, connected to once it exists. A SQLite file that is not there yet is
    reported as such, and neither it nor its folder is created: a mistyped REVOLT_REPORT_DB_URL would otherwise
    show an empty dashboard over a new, empty file, as if the pipeline had never run."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = sa.make_url(url)
        in_memory = parsed.database in (None, "", ":memory:") or parsed.query.get("uri") == "true"
        self.sqlite_file = Path(parsed.database) if parsed.get_backend_name() == "sqlite" and not in_memory else None
        self._engine: sa.Engine | None = None
        self.shown = parsed.render_as_string(hide_password=True)  # what a page may say it reads

    def missing_file(self) -> Path | None:
        """The SQLite file the settings name, when it does not exist (yet)."""
        if self.sqlite_file is not None and self._engine is None and not self.sqlite_file.is_file():
            return self.sqlite_file
        return None

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = create_engine(self.url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def page_link(page: str, filters: Filters, params: dict[str, str] | None = None, person_id: str | None = None) -> str:
    """A page's path with the filters (and page parameters) of the current view: the links between pages."""
    path = PAGES[page].replace("{person_id}", quote(person_id or "", safe=""))
    query = filters.query(**(params or {}))
    return path + (f"?{query}" if query else "")
