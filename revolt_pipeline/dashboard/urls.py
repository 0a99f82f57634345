"""Every dashboard page's address and filters: the app's routes and the Dagster UI's links both read them here."""

from urllib.parse import quote, urlencode

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
        path = path.format(person_id=quote(person_id, safe=""))  # an id may hold "/", "?" or "#"
    query = {name.rstrip("_"): value for name, value in filters.items() if value}
    unknown = set(query) - set(FILTERS)
    if unknown:
        raise ValueError(f"unknown dashboard filters {sorted(unknown)}; filters: {', '.join(FILTERS)}")
    return base.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")


# Report table -> the dashboard page that shows it: each report asset's metadata in the Dagster UI links there
# (`defs/reports/assets.py`). A test holds every report asset to a page here, and every page here to PAGES.
REPORT_PAGES: dict[str, str] = {
    **dict.fromkeys(
        (
            "daily_active_users",
            "daily_active_users_by_platform",
            "daily_active_users_by_app_version",
            "active_users_daily",
            "active_users_daily_by_platform",
            "active_users_daily_by_app_version",
            "active_users_daily_by_os",
            "active_users_daily_by_device_type",
            "active_users_daily_by_country",
            "active_users_daily_by_locale",
            "active_users_daily_by_source",
            "active_users_daily_by_library",
        ),
        "overview",
    ),
    **dict.fromkeys(
        (
            "events_daily",
            "events_daily_by_platform",
            "events_daily_by_app_version",
            "events_daily_by_os",
            "events_daily_by_device_type",
            "events_daily_by_country",
            "events_daily_by_locale",
            "events_daily_by_source",
            "events_daily_by_library",
            "event_catalog",
            "path_steps",
            "path_steps_by_platform",
            "path_steps_by_app_version",
            "path_transitions",
            "path_transitions_by_platform",
            "path_transitions_by_app_version",
        ),
        "events",
    ),
    **dict.fromkeys(
        (
            "sessions_daily",
            "sessions_daily_by_platform",
            "sessions_daily_by_app_version",
            "session_duration_histogram",
            "session_duration_histogram_by_platform",
            "session_duration_histogram_by_app_version",
            "session_duration_percentiles",
            "session_duration_percentiles_by_platform",
            "session_duration_percentiles_by_app_version",
        ),
        "sessions",
    ),
    **dict.fromkeys(("person_days", "people", "recommendations", "person_sessions"), "people"),
    **dict.fromkeys(("funnel_steps_daily", "funnel_steps_daily_by_platform", "funnel_steps_weekly"), "funnels"),
    "funnel_steps_weekly_by_platform": "funnels",
    "funnel_steps_daily_by_app_version": "funnels",
    **dict.fromkeys(("lifecycle_daily", "lifecycle_weekly"), "lifecycle"),
    **dict.fromkeys(("lifecycle_daily_by_platform", "lifecycle_daily_by_app_version"), "lifecycle"),
    **dict.fromkeys(("lifecycle_weekly_by_platform", "lifecycle_weekly_by_app_version"), "lifecycle"),
    **dict.fromkeys(("retention_daily", "retention_weekly"), "retention"),
    **dict.fromkeys(("retention_daily_by_app_version", "retention_weekly_by_app_version"), "retention"),
    "churn_scores": "churn",
    **dict.fromkeys(("person_segments", "segment_sizes"), "segments"),
}
