"""Every dashboard page's address and filters: the app's routes and the Dagster UI's links both read them here."""

from urllib.parse import urlencode

# Page name -> path. A path with `{person_id}` takes that argument.
PAGES: dict[str, str] = {
    "overview": "/",
    "retention": "/retention",
    "funnels": "/funnels",
    "lifecycle": "/lifecycle",
    "events": "/events",
    "sessions": "/sessions",
    "people": "/people",
    "person": "/people/{person_id}",
    "churn": "/churn",
    "segments": "/segments",
}

# Query parameters every page understands: a URL with them reproduces the view.
FILTERS = ("from", "to", "platform", "app_version")


def page_url(base: str, page: str, person_id: str | None = None, **filters: str | None) -> str:
    """The absolute address of `page` on the dashboard at `base`, with the filters that are set.

    `from` is a Python keyword: pass it as `from_`.
    """
    if page not in PAGES:
        raise KeyError(f"no dashboard page {page!r}; pages: {', '.join(PAGES)}")
    path = PAGES[page]
    if "{person_id}" in path:
        if not person_id:
            raise ValueError(f"the dashboard page {page!r} needs a person_id")
        path = path.format(person_id=person_id)
    query = {name.rstrip("_"): value for name, value in filters.items() if value}
    unknown = set(query) - set(FILTERS)
    if unknown:
        raise ValueError(f"unknown dashboard filters {sorted(unknown)}; filters: {', '.join(FILTERS)}")
    return base.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
