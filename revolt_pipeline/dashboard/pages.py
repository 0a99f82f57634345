"""Each page's content from what `queries.py` read: the charts (inline SVG from `charts.py`) and the tables a
template shows. One function per page of `urls.PAGES`, taking the request's reader, filters and period."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from revolt_pipeline.dashboard import charts, queries
from revolt_pipeline.dashboard.filters import Filters, Period
from revolt_pipeline.dashboard.queries import ALL_EVENTS, Reader

# The breakdowns stand two to a row (dashboard.css, `.grid`): drawn this wide, their text shows at its size there.
BREAKDOWN_WIDTH = 560
NOT_TRAINED = "Not trained yet: run ml_job (`revolt launch ml_job`, or `revolt demo --ml`) to score churn and segments."


@dataclass(frozen=True)
class PageRequest:
    reader: Reader
    filters: Filters
    period: Period
    params: dict[str, str]  # the page's own parameters besides the filters (unit, q, ...)
    person_id: str | None = None


def _percent(value: float) -> str:
    return f"{value:.0f}%"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _in_minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _page_number(text: str | None) -> int:
    """A page number from the URL; anything else (text, zero, a negative or huge number, digits of other scripts,
    which Python's int() would read) reads as page 1."""
    return int(text) if text and text.isascii() and text.isdigit() and 0 < len(text) < 7 and int(text) > 0 else 1


def _unit(page: PageRequest) -> str:
    return "week" if page.params.get("unit") == "week" else "day"


def overview(page: PageRequest) -> dict[str, Any]:
    result = queries.overview(page.reader, page.filters, page.period)
    labels = [day.isoformat() for day in result.days]
    return {
        "metrics": result.metrics,
        "notes": result.notes,
        "charts": [
            charts.line_chart(
                "Active users per day", labels, {"DAU": result.dau, "WAU": result.wau, "MAU": result.mau}
            ),
            charts.bar_chart("New users per day", labels, result.new_users),
            charts.bar_chart("Sessions per day", labels, result.sessions),
        ],
        "empty": all(metric.value is None for metric in result.metrics),
    }


def retention(page: PageRequest) -> dict[str, Any]:
    unit = _unit(page)
    definition = page.params.get("definition", "first_seen")
    result = queries.retention(page.reader, page.period, unit, definition, page.filters)
    if result is None:
        return {
            "missing": "No retention yet: people_job builds retention_daily and retention_weekly, and their "
            "_by_app_version tables, which a platform or app version reads."
        }
    rows = [f"{cohort.isoformat()} ({size})" for cohort, size in zip(result.cohorts, result.sizes, strict=True)]
    columns = [f"{unit[0]}{period}" for period in result.periods]
    return {
        "unit": unit,
        "result": result,
        "charts": [
            charts.heatmap(
                f"Retention by {unit} cohort ({result.definition}): percent of the cohort active {unit}s later",
                rows,
                columns,
                result.percent,
            )
        ],
        "notes": _acquired_on_note(page.filters),
    }


def _acquired_on_note(filters: Filters) -> list[str]:
    """What a filtered heatmap's cohorts are: who arrived on the platform and version, back on any platform."""
    if not (filters.platform or filters.app_version):
        return []
    on = filters.platform or "any platform"
    if filters.app_version:
        on += f" version {filters.app_version}"
    return [
        f"Cohorts of the people acquired on {on} (the platform and app version of the event that put them in the "
        "cohort); their returns count on any platform."
    ]


def lifecycle(page: PageRequest) -> dict[str, Any]:
    unit = _unit(page)
    result = queries.lifecycle(page.reader, page.period, unit, page.filters)
    if result is None:
        return {
            "missing": "No lifecycle yet: people_job builds lifecycle_daily and lifecycle_weekly, and their "
            "_by_platform and _by_app_version tables, which a platform (and app version) reads."
        }
    return {
        "unit": unit,
        "result": result,
        "charts": [
            charts.stacked_bar_chart(
                f"Lifecycle per {unit}: new, returning, resurrecting above the axis, dormant below",
                result.labels,
                result.states,
            )
        ],
        "notes": _lifecycle_note(page.filters),
    }


def _lifecycle_note(filters: Filters) -> list[str]:
    """What a filtered lifecycle counts: states on the platform (and version) alone; none across platforms."""
    if filters.app_version and not filters.platform:
        return [queries.LIFECYCLE_ACROSS_PLATFORMS]
    if filters.platform:
        on = filters.platform + (f" version {filters.app_version}" if filters.app_version else "")
        return [
            f"States judged on the activity on {on} alone: new is active on it for the first time, dormant is away "
            "from it (perhaps active elsewhere). They do not add up to everyone's lifecycle."
        ]
    return []


def _reached_text(step: queries.FunnelStep) -> str:
    """A funnel bar's text: the people who reached the step and their percent of those who entered."""
    share = "" if step.conversion_from_start is None else f" ({100 * step.conversion_from_start:.0f}%)"
    return charts.number_text(step.reached) + share


def funnels(page: PageRequest) -> dict[str, Any]:
    result = queries.funnels(page.reader, page.filters, page.period)
    if result is None:
        return {
            "missing": "No funnels yet: funnels_job builds the funnel tables from REVOLT_FUNNELS_FILE "
            "(docs/pipeline.md says its format)."
        }
    return {
        "funnels": [
            {
                "name": name,
                "steps": steps,
                "chart": charts.bar_chart(
                    f"Funnel {name}: people who reached each step (% of those who entered)",
                    [f"{step.step}. {step.name}" for step in steps],
                    [step.reached for step in steps],
                    value_texts=[_reached_text(step) for step in steps],
                ),
            }
            for name, steps in result.items()
        ],
        "minutes": _minutes,
        "notes": [],
    }


def events(page: PageRequest) -> dict[str, Any]:
    result = queries.events(page.reader, page.filters, page.period)
    if result is None:
        return {"missing": "No events yet: report_job builds events_daily and its breakdowns."}
    labels = [day.isoformat() for day in result.days]
    breakdown_charts = {
        name: charts.horizontal_bar_chart(
            f"Events by {name}",
            [row["value"] for row in rows],
            [row["events"] for row in rows],
            width=BREAKDOWN_WIDTH,
        )
        for name, rows in result.breakdowns.items()
    }
    return {
        "result": result,
        "charts": [
            charts.horizontal_bar_chart(
                "Top events", [row["label"] for row in result.top], [row["events"] for row in result.top]
            ),
            charts.line_chart("Events per day", labels, {ALL_EVENTS: result.trend[ALL_EVENTS]}),
            # On a scale of their own: beside every event's total they would lie flat along the axis.
            charts.line_chart(
                f"The top {queries.TREND_EVENTS} events per day",
                labels,
                {name: line for name, line in result.trend.items() if name != ALL_EVENTS},
            ),
        ],
        "breakdown_charts": breakdown_charts,
        "notes": result.notes,
    }


def sessions(page: PageRequest) -> dict[str, Any]:
    result = queries.sessions(page.reader, page.filters, page.period)
    if result is None:
        return {"missing": "No sessions yet: report_job builds the session tables."}
    labels = [row["day"].isoformat() for row in result.percentiles]
    return {
        "result": result,
        "minutes": _minutes,
        "charts": [
            charts.bar_chart("Sessions by length", result.buckets, result.counts),
            charts.line_chart(
                "Session length per day: median and 90th percentile (minutes)",
                labels,
                {
                    "median": [_in_minutes(row["p50_duration_seconds"]) for row in result.percentiles],
                    "90th percentile": [_in_minutes(row["p90_duration_seconds"]) for row in result.percentiles],
                },
            ),
        ],
        "notes": result.notes,
    }


def people(page: PageRequest) -> dict[str, Any]:
    text = page.params.get("q", "").strip()[:200]
    found = queries.search_people(page.reader, page.filters, page.period, text, _page_number(page.params.get("page")))
    if found is None:
        return {"missing": "No people yet: people_job builds the people and person_days tables.", "q": text}
    return {"found": found, "people": found.rows, "q": text, "limit": queries.PEOPLE_PAGE}


def person(page: PageRequest) -> dict[str, Any]:
    assert page.person_id is not None
    filters = page.filters
    found = queries.person(page.reader, page.period, page.person_id, _page_number(page.params.get("page")), filters)
    if found is None:
        return {"missing": f"No person {page.person_id!r} in the people table.", "status": 404}
    notes = []
    if filters.platform or filters.app_version:
        only = " ".join(
            part for part in (filters.platform, filters.app_version and f"version {filters.app_version}") if part
        )
        notes.append(f"Sessions and days on {only} only; the profile counts every platform.")
    timeline = sorted(found.days, key=lambda row: row["event_date"])
    traits = found.profile.get("traits") or {}
    return {
        "person": found,
        "traits": traits if isinstance(traits, dict) else {},
        "minutes": _minutes,
        "page_size": queries.SESSIONS_PAGE,
        "charts": [
            charts.bar_chart(
                "Sessions per active day",
                [str(row["event_date"]) for row in timeline],
                [row["sessions"] for row in timeline],
            )
        ],
        "notes": notes,
    }


def churn(page: PageRequest) -> dict[str, Any]:
    result = queries.churn(page.reader, page.filters, page.period)
    if result is None:
        return {"missing": NOT_TRAINED, "not_trained": True}
    tenths = [f"{n / 10:.1f}-{(n + 1) / 10:.1f}" for n in range(queries.SCORE_BINS)]
    return {
        "result": result,
        "charts": [
            charts.bar_chart("People by churn risk band", list(result.bands), list(result.bands.values())),
            charts.bar_chart("People by churn score", tenths, result.histogram),
        ],
        "notes": ["People filtered by their latest platform and app version."]
        if page.filters.platform or page.filters.app_version
        else [],
    }


def segments(page: PageRequest) -> dict[str, Any]:
    result = queries.segments(page.reader, page.filters, page.period)
    if result is None:
        return {"missing": NOT_TRAINED, "not_trained": True}
    over_time = (
        [
            charts.stacked_bar_chart(
                "Segment sizes over time (segments followed by their description)",
                result.history_days,
                result.history,
            )
        ]
        if len(result.history_days) > 1
        else []
    )
    return {
        "result": result,
        "charts": [
            charts.horizontal_bar_chart(
                f"People per segment on {result.as_of}",
                [row["description"] for row in result.segments],
                [row["people"] for row in result.segments],
                labels_above=True,
            ),
            *over_time,
        ],
        "notes": result.notes
        + ([] if over_time else ["Segment sizes over time: the models were trained for one day of these so far."]),
    }


BUILDERS: dict[str, Callable[[PageRequest], dict[str, Any]]] = {
    "overview": overview,
    "retention": retention,
    "funnels": funnels,
    "lifecycle": lifecycle,
    "events": events,
    "sessions": sessions,
    "people": people,
    "person": person,
    "churn": churn,
    "segments": segments,
}
