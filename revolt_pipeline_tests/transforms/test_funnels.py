"""Funnels, built by the layer library without Dagster: the funnels file, the order modes, late data and re-runs."""

import gzip
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revolt_pipeline.layers.checks import CheckOutcome, funnel_progress_checks, funnel_steps_check
from revolt_pipeline.layers.commits import committed_days
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.funnels import FUNNELS, FunnelDay, read_funnels
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, funnel_progress_key, funnel_steps_key, landed_object_key
from revolt_pipeline.transforms.funnels import FunnelFileError, parse_funnels
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.transforms.harness import at, duckdb_connection, landed

SIGNUP = """
[[funnels]]
name = "signup"
window = "1h"
steps = [
  { type = "page", event = "Home" },
  { type = "page", event = "Pricing" },
  { type = "track", event = "Signup Started", where = { plan = ["team", "business"] } },
  { type = "track", event = "Signed Up" },
]
"""
RULES = PipelineRules(funnels=parse_funnels(SIGNUP, "funnels.toml"))
DAILY, WEEKLY = "funnel_steps_daily", "funnel_steps_weekly"
DAILY_BY_PLATFORM, WEEKLY_BY_PLATFORM = "funnel_steps_daily_by_platform", "funnel_steps_weekly_by_platform"
DAILY_BY_APP_VERSION = "funnel_steps_daily_by_app_version"


class FunnelLake:
    """A store that receives batches over time, built as the cascade builds it, funnels included."""

    def __init__(self, folder: Path, connection: Any, rules: PipelineRules = RULES) -> None:
        self.store = ObjectStore((folder / "store").as_uri())
        (folder / "work").mkdir()
        self.connection = connection
        self.builder = DayBuilder(self.store, rules, folder / "work", connect=lambda: nullcontext(connection))
        self.segment = 0

    def receive(self, records: list[dict[str, Any]], when: datetime) -> None:
        self.segment += 1
        lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
        self.store.put(landed_object_key(LANDING, when, "c1", f"{self.segment:06d}"), gzip.compress(lines))
        self.builder.every_layer([when.date()])

    def rows(self, table: str, day: date) -> list[dict[str, Any]]:
        cursor = self.connection.execute(
            f"SELECT * FROM read_parquet('{self.store.path(funnel_steps_key(table, day))}') ORDER BY ALL"
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def progress_checks(self, day: date) -> list[CheckOutcome]:
        """The day's funnel progress, judged as `funnel_progress`'s asset check judges it."""
        return funnel_progress_checks(FunnelDay(day, {}, self.store.path(funnel_progress_key(day)), {}))

    def reached(self, day: date, table: str = DAILY) -> list[int]:
        return [row["reached"] for row in self.rows(table, day) if row["funnel"] == "signup"]

    def snapshot(self) -> dict[tuple[str, date], list[dict[str, Any]]]:
        days = sorted(committed_days(self.store, FUNNELS))
        weeks = sorted({day - timedelta(days=day.weekday()) for day in days})
        return {(DAILY, day): self.rows(DAILY, day) for day in days} | {
            (WEEKLY, w): self.rows(WEEKLY, w) for w in weeks
        }


def _visit(prefix: str, start: datetime, **identity: Any) -> list[dict[str, Any]]:
    return [
        landed(f"{prefix}1", start, kind="page", event="Home", **identity),
        landed(f"{prefix}2", start + timedelta(minutes=5), kind="page", event="Pricing", **identity),
    ]


# --- the funnels file ---------------------------------------------------------------------------------------------


def test_a_funnels_file_is_read_with_its_steps_filters_window_and_order(tmp_path: Path) -> None:
    path = tmp_path / "funnels.toml"
    path.write_text(
        SIGNUP + '\n[[funnels]]\nname = "views"\nwindow = "7d"\norder = "any"\n'
        'steps = [{ type = ["page", "screen"], event = "Dashboard", label = "Any dashboard" }]\n'
    )
    signup, views = read_funnels(path)
    assert (signup.name, signup.window, signup.order, len(signup.steps)) == ("signup", timedelta(hours=1), "ordered", 4)
    assert signup.steps[2].where[0].values == ("team", "business")
    assert signup.steps[2].matches("track", "Signup Started", {"plan": "team"})
    assert not signup.steps[2].matches("track", "Signup Started", {"plan": "free"})
    assert (views.steps[0].types, views.steps[0].label, views.window) == (
        ("page", "screen"),
        "Any dashboard",
        timedelta(days=7),
    )
    assert PipelineRules(funnels=(signup, views)).funnel_window.after == 7


def test_no_funnels_file_means_no_funnels(tmp_path: Path) -> None:
    assert read_funnels(tmp_path / "missing.toml") == ()
    assert PipelineRules().funnel_window.after == 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[funnels]]\nname = "a"\nwindow = "1h"\nsteps = []\n', "funnel 'a': steps is empty or missing"),
        (
            '[[funnels]]\nname = "a"\nwindow = "soon"\nsteps = [{type="page", event="Home"}]\n',
            "funnel 'a': window must",
        ),
        (
            '[[funnels]]\nname = "a"\nwindow = "0h"\nsteps = [{type="page", event="Home"}]\n',
            "funnel 'a': window must be more",
        ),
        (
            '[[funnels]]\nname = "a"\nwindow = "1h"\ncolour = "red"\nsteps = [{type="page", event="Home"}]\n',
            "funnel 'a': unknown key 'colour'",
        ),
        (
            '[[funnels]]\nname = "a"\nwindow = "1h"\nsteps = [{type="page", event="Home", evnet="x"}]\n',
            "funnel 'a': step 1: unknown key 'evnet'",
        ),
        (
            '[[funnels]]\nname = "a"\nwindow = "1h"\nsteps = [{type="click", event="Home"}]\n',
            "funnel 'a': step 1: type must",
        ),
        (
            '[[funnels]]\nname = "a"\nwindow = "1h"\norder = "loose"\nsteps = [{type="page", event="Home"}]\n',
            "funnel 'a': order must be one of ordered, strict, any",
        ),
        (
            '[[funnels]]\nname = "a"\nwindow = "1h"\nsteps = [{type="page", event="Home", where={plan={x=1}}}]\n',
            "funnel 'a': step 1: where.plan",
        ),
        (
            '[[funnels]]\nname = "a"\nwindow = "1h"\nsteps = [{type="page", event="Home"}]\n' * 2,
            "funnel 'a': duplicate name",
        ),
        ('[[funnels]]\nwindow = "1h"\nsteps = [{type="page", event="Home"}]\n', "funnel #1: name must be"),
        ('[[funnel]]\nname = "a"\n', "unknown key 'funnel'"),
        ("[[funnels]\n", "not valid TOML"),
    ],
)
def test_a_malformed_funnels_file_names_the_file_the_funnel_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "funnels.toml"
    path.write_text(text)
    with pytest.raises(FunnelFileError) as raised:
        read_funnels(path)
    assert str(raised.value).startswith(f"{path}: ") and problem in str(raised.value)


# --- what counts as a step ------------------------------------------------------------------------------------------


def _progress(tmp_path: Path, funnels: str, records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    rules = PipelineRules(funnels=parse_funnels(funnels, "funnels.toml"))
    with duckdb_connection() as connection:
        lake = FunnelLake(tmp_path, connection, rules)
        lake.receive(records, at("2026-11-10 23:00"))
        assert [(check.name, check.problems) for check in lake.progress_checks(date(2026, 11, 10))] == [
            ("funnel_progress_consistent", [])
        ]
        return {
            row["funnel"]: [r["reached"] for r in lake.rows(DAILY, date(2026, 11, 10)) if r["funnel"] == row["funnel"]]
            for row in lake.rows(DAILY, date(2026, 11, 10))
        }


def test_order_modes_ordered_strict_and_any(tmp_path: Path) -> None:
    steps = '[{type="page", event="Home"}, {type="page", event="Pricing"}, {type="track", event="Signup Started"}]'
    funnels = "".join(
        f'[[funnels]]\nname = "{order}"\nwindow = "1h"\norder = "{order}"\nsteps = {steps}\n'
        for order in ("ordered", "strict", "any")
    )
    records = [
        # u1: Home, Signup Started, Pricing: `ordered` reaches Pricing only, `strict` not even that (Signup Started
        # is the next funnel event after Home), `any` all three.
        landed("a1", at("2026-11-10 10:00"), kind="page", event="Home", user_id="u1"),
        landed("a2", at("2026-11-10 10:01"), kind="track", event="Signup Started", user_id="u1"),
        landed("a3", at("2026-11-10 10:02"), kind="page", event="Pricing", user_id="u1"),
        # u2: Home, Pricing, Home, Signup Started: the second Home breaks the strict attempt of the first, and
        # the strict attempt from the second Home never sees Pricing after it.
        landed("b1", at("2026-11-10 10:00"), kind="page", event="Home", user_id="u2"),
        landed("b2", at("2026-11-10 10:01"), kind="page", event="Pricing", user_id="u2"),
        landed("b3", at("2026-11-10 10:02"), kind="page", event="Home", user_id="u2"),
        landed("b4", at("2026-11-10 10:03"), kind="track", event="Signup Started", user_id="u2"),
        # u3: all three in order with an identify and another page in between: every mode; Signup Started after
        # the window does not count.
        landed("c1", at("2026-11-10 10:00"), kind="page", event="Home", user_id="u3"),
        landed("c2", at("2026-11-10 10:01"), kind="identify", user_id="u3"),
        landed("c3", at("2026-11-10 10:02"), kind="page", event="Blog", user_id="u3"),
        landed("c4", at("2026-11-10 10:03"), kind="page", event="Pricing", user_id="u3"),
        landed("c5", at("2026-11-10 11:00:00.001"), kind="track", event="Signup Started", user_id="u3"),
        landed("c6", at("2026-11-10 10:59"), kind="track", event="Signup Started", user_id="u3"),
    ]
    reached = _progress(tmp_path, funnels, records)
    assert reached == {"ordered": [3, 3, 2], "strict": [3, 2, 1], "any": [3, 3, 3]}


# --- late data and re-runs ------------------------------------------------------------------------------------------


def test_a_late_event_completes_a_funnel_begun_the_day_before_and_changes_only_its_rows(tmp_path: Path) -> None:
    with duckdb_connection() as connection:
        lake = FunnelLake(tmp_path, connection)
        lake.receive(_visit("v", at("2026-11-10 23:50"), user_id="u1"), at("2026-11-10 23:59"))
        lake.receive(
            [landed("o1", at("2026-11-11 09:00"), kind="page", event="Home", user_id="u2")], at("2026-11-11 09:30")
        )
        lake.receive(
            [landed("o2", at("2026-11-12 09:00"), kind="page", event="Home", user_id="u3")], at("2026-11-12 09:30")
        )
        before = lake.snapshot()
        assert lake.reached(date(2026, 11, 10)) == [1, 1, 0, 0]
        # Signup Started at 00:05 on the 11th, sent from a phone that was offline until the 13th.
        late = [
            landed(
                "s1",
                at("2026-11-11 00:05"),
                kind="track",
                event="Signup Started",
                user_id="u1",
                properties={"plan": "team"},
                received=at("2026-11-13 08:00"),
            ),
        ]
        lake.receive(late, at("2026-11-13 08:00"))
        after = lake.snapshot()
        assert lake.reached(date(2026, 11, 10)) == [1, 1, 1, 0]  # the day the funnel began, not the 11th
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {(DAILY, date(2026, 11, 10)), (WEEKLY, date(2026, 11, 9))}
    (step_3,) = [row for row in after[(DAILY, date(2026, 11, 10))] if row["step"] == 3]
    assert step_3["median_seconds_from_previous"] == 10 * 60 and step_3["conversion_from_previous"] == 1.0
    assert all(funnel_steps_check(rows).passed for rows in after.values())


def test_a_late_identify_stitches_an_anonymous_visitors_first_steps_to_their_signed_up_steps(tmp_path: Path) -> None:
    """Home and Pricing anonymously on the 10th, Signup Started and Signed Up as u1 minutes later (a server-side
    track, no anonymous id); the identify linking them arrives on the 13th, dated the 12th."""
    with duckdb_connection() as connection:
        lake = FunnelLake(tmp_path, connection)
        lake.receive(
            [
                *_visit("v", at("2026-11-10 10:00"), user_id=None, anonymous_id="anon"),
                landed(
                    "s1", at("2026-11-10 10:10"), event="Signup Started", user_id="u1", properties={"plan": "business"}
                ),
                landed("s2", at("2026-11-10 10:11"), event="Signed Up", user_id="u1"),
                landed("o1", at("2026-11-10 11:00"), kind="page", event="Home", user_id="u2"),
            ],
            at("2026-11-10 12:00"),
        )
        lake.receive(
            [landed("o2", at("2026-11-11 09:00"), kind="page", event="Home", user_id="u2")], at("2026-11-11 09:30")
        )
        lake.receive(
            [landed("o3", at("2026-11-12 09:00"), kind="page", event="Pricing", user_id="u2")], at("2026-11-12 09:30")
        )
        before = lake.snapshot()
        assert lake.reached(date(2026, 11, 10)) == [2, 1, 0, 0]  # anon reached Pricing; u1 never entered
        identify = landed(
            "i1",
            at("2026-11-12 20:00"),
            kind="identify",
            user_id="u1",
            anonymous_id="anon",
            received=at("2026-11-13 08:00"),
        )
        lake.receive([identify], at("2026-11-13 08:00"))
        after = lake.snapshot()
        assert lake.reached(date(2026, 11, 10)) == [2, 1, 1, 1]  # one person, anon's visit and u1's signup
        assert lake.reached(date(2026, 11, 9), WEEKLY) == [2, 1, 1, 1]
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {(DAILY, date(2026, 11, 10)), (WEEKLY, date(2026, 11, 9))}


def test_building_a_day_again_changes_nothing(tmp_path: Path) -> None:
    with duckdb_connection() as connection:
        lake = FunnelLake(tmp_path, connection)
        lake.receive(_visit("v", at("2026-11-10 23:50"), user_id="u1"), at("2026-11-10 23:59"))
        lake.receive(_visit("w", at("2026-11-11 08:00"), user_id="u2"), at("2026-11-11 09:00"))
        before = lake.snapshot()
        lake.builder.funnel_days([date(2026, 11, 10)])
        lake.builder.every_layer([date(2026, 11, 11)])
        assert lake.snapshot() == before


SIGNUP_STEPS = [
    ("Home", "page", None),
    ("Pricing", "page", None),
    ("Signup Started", "track", {"plan": "team"}),
    ("Signed Up", "track", None),
]


def _signup_attempt(
    prefix: str, start: datetime, steps: int, user_id: str, platform: str, **fields: Any
) -> list[dict[str, Any]]:
    """The first `steps` steps of a signup, a minute apart, by `user_id` on `platform` (`fields`: more of the
    landed record's, such as its app version)."""
    return [
        landed(
            f"{prefix}{n}",
            start + timedelta(minutes=n),
            kind=kind,
            event=event,
            user_id=user_id,
            platform=platform,
            properties=properties,
            **fields,
        )
        for n, (event, kind, properties) in enumerate(SIGNUP_STEPS[:steps])
    ]


def test_a_week_by_platform_counts_each_person_once_on_the_platform_of_their_furthest_attempt(tmp_path: Path) -> None:
    """u1 gets further on iOS on the 11th than on the web the day before; u2 furthest on Android first; u3 enters
    on iOS then on the web, reaching no further: the earliest of equals counts."""
    attempt = _signup_attempt
    with duckdb_connection() as connection:
        lake = FunnelLake(tmp_path, connection)
        lake.receive(
            [
                *attempt("a", at("2026-11-10 10:00"), 2, "u1", "web"),
                *attempt("b", at("2026-11-10 11:00"), 4, "u2", "android"),
                *attempt("c", at("2026-11-10 12:00"), 1, "u3", "ios"),
            ],
            at("2026-11-10 13:00"),
        )
        lake.receive(attempt("d", at("2026-11-11 10:00"), 3, "u1", "ios"), at("2026-11-11 11:00"))
        lake.receive(
            [
                *attempt("e", at("2026-11-12 10:00"), 1, "u2", "web"),
                *attempt("f", at("2026-11-12 11:00"), 1, "u3", "web"),
            ],
            at("2026-11-12 12:00"),
        )
        week = date(2026, 11, 9)
        by_platform = lake.rows(WEEKLY_BY_PLATFORM, week)
        total = lake.rows(WEEKLY, week)
        daily_by_platform = lake.rows(DAILY_BY_PLATFORM, date(2026, 11, 10))

    reached = {
        platform: [row["reached"] for row in by_platform if row["platform"] == platform]
        for platform in {row["platform"] for row in by_platform}
    }
    assert reached == {"android": [1, 1, 1, 1], "ios": [2, 1, 1, 0]}  # u1 on iOS, not on the web too
    assert {row["platform"] for row in daily_by_platform} == {"web", "android", "ios"}
    assert [row["reached"] for row in total] == [3, 2, 2, 1]
    for step in (1, 2, 3, 4):  # the platforms add up to the total
        assert sum(r["reached"] for r in by_platform if r["step"] == step) == total[step - 1]["reached"]
    assert {row["as_of_date"] for row in by_platform} == {row["as_of_date"] for row in total}
    assert funnel_steps_check(by_platform).passed


def test_a_day_by_app_version_counts_each_attempt_under_the_platform_and_version_it_entered_on(
    tmp_path: Path,
) -> None:
    """u1 enters on iOS 1.9, then gets further on iOS 2.0 the same day: only the furthest attempt counts, on 2.0;
    u2 on iOS 1.9, u3 on the web 1.0, u4 on Android with no app version (`unknown`)."""

    def attempt(
        prefix: str, start: datetime, steps: int, user_id: str, platform: str, version: str | None
    ) -> list[dict[str, Any]]:
        version_fields = {"app_version": version} if version else {"context": {"app": {}}}
        return _signup_attempt(prefix, start, steps, user_id, platform, **version_fields)

    day = date(2026, 11, 10)
    with duckdb_connection() as connection:
        lake = FunnelLake(tmp_path, connection)
        lake.receive(
            [
                *attempt("a", at("2026-11-10 09:00"), 1, "u1", "ios", "1.9"),
                *attempt("b", at("2026-11-10 10:00"), 3, "u1", "ios", "2.0"),
                *attempt("c", at("2026-11-10 11:00"), 2, "u2", "ios", "1.9"),
                *attempt("d", at("2026-11-10 12:00"), 4, "u3", "web", "1.0"),
                *attempt("e", at("2026-11-10 13:00"), 1, "u4", "android", None),
            ],
            at("2026-11-10 14:00"),
        )
        by_version = lake.rows(DAILY_BY_APP_VERSION, day)
        by_platform = lake.rows(DAILY_BY_PLATFORM, day)
        progress = connection.execute(
            f"SELECT person_id, platform, app_version FROM read_parquet('{lake.store.path(funnel_progress_key(day))}')"
            " ORDER BY ALL"
        ).fetchall()

    reached = {
        (platform, version): [
            r["reached"] for r in by_version if (r["platform"], r["app_version"]) == (platform, version)
        ]
        for platform, version in {(r["platform"], r["app_version"]) for r in by_version}
    }
    assert reached == {
        ("ios", "2.0"): [1, 1, 1, 0],
        ("ios", "1.9"): [1, 1, 0, 0],
        ("web", "1.0"): [1, 1, 1, 1],
        ("android", "unknown"): [1, 0, 0, 0],
    }
    assert [(p, v) for _, p, v in progress] == [("ios", "2.0"), ("ios", "1.9"), ("web", "1.0"), ("android", "unknown")]
    for platform in ("ios", "web", "android"):  # the versions add up to their platform
        for step in (1, 2, 3, 4):
            assert sum(r["reached"] for r in by_version if (r["platform"], r["step"]) == (platform, step)) == next(
                r["reached"] for r in by_platform if (r["platform"], r["step"]) == (platform, step)
            )
    assert funnel_steps_check(by_version).passed


def test_the_check_flags_steps_that_gain_people_and_conversions_outside_zero_to_one() -> None:
    good = [
        {
            "event_date": date(2026, 11, 10),
            "funnel": "f",
            "step": 1,
            "entered": 2,
            "reached": 2,
            "conversion_from_start": 1.0,
            "conversion_from_previous": 1.0,
        },
        {
            "event_date": date(2026, 11, 10),
            "funnel": "f",
            "step": 2,
            "entered": 2,
            "reached": 1,
            "conversion_from_start": 0.5,
            "conversion_from_previous": 0.5,
        },
    ]
    assert funnel_steps_check(good).passed
    bad = [dict(good[0], reached=1), dict(good[1], reached=3, conversion_from_start=1.5)]
    problems = funnel_steps_check(bad).problems
    assert len(problems) == 3 and "2 entered but 1 reached step 1" in problems[0]


def test_the_progress_check_flags_a_person_twice_and_steps_missing_or_out_of_order(tmp_path: Path) -> None:
    def at_minute(minute: int) -> datetime:
        return datetime(2026, 11, 10, 10, minute, tzinfo=UTC)

    def entry(person: str, reached: int, times: list[datetime | None]) -> dict[str, Any]:
        return {
            "event_date": date(2026, 11, 10),
            "funnel": "f",
            "person_id": person,
            "platform": "web",
            "entered_at": at_minute(0),
            "steps_reached": reached,
            "step_times": times,
        }

    rows = [
        entry("ok", 2, [at_minute(0), at_minute(5), None]),
        entry("twice", 1, [at_minute(0), None, None]),
        entry("twice", 1, [at_minute(0), None, None]),
        entry("nowhere", 0, [None, None, None]),
        entry("late", 1, [at_minute(1), None, None]),
        entry("gap", 2, [at_minute(0), None, at_minute(5)]),
        entry("backwards", 3, [at_minute(0), at_minute(9), at_minute(5)]),
    ]
    path = str(tmp_path / "funnel_progress.parquet")
    pq.write_table(pa.Table.from_pylist(rows), path)
    (outcome,) = funnel_progress_checks(FunnelDay(date(2026, 11, 10), {}, path, {}))
    assert outcome.name == "funnel_progress_consistent" and outcome.facts == {"entries": 7}
    assert outcome.problems == [
        "f: twice has more than one row",
        "f: nowhere reached 0 of 3 steps",
        "f: late did step 1 at 2026-11-10 10:01:00+00:00, not at the entry (2026-11-10 10:00:00+00:00)",
        "f: gap reached 2 steps but has times for steps 1, 3",
        "f: backwards reached a step before the step before it",
    ]
    pq.write_table(pa.Table.from_pylist(rows[:2]), path)
    assert funnel_progress_checks(FunnelDay(date(2026, 11, 10), {}, path, {}))[0].passed


def test_a_funnel_window_crossing_midnight_makes_the_day_before_a_reader() -> None:
    rules = replace(RULES)
    assert rules.funnel_window.days(date(2026, 11, 10)) == [date(2026, 11, 10), date(2026, 11, 11)]
    assert rules.funnel_days_to_rebuild({date(2026, 11, 11)}) == {date(2026, 11, 10), date(2026, 11, 11)}


def test_the_settings_name_the_funnels_file_and_the_rules_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from revolt_pipeline.defs.rules import pipeline_rules
    from revolt_pipeline.settings import Settings

    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    monkeypatch.delenv("REVOLT_FUNNELS_FILE", raising=False)
    settings = Settings.from_env()
    assert settings.funnels_file == tmp_path / "funnels.toml"
    assert pipeline_rules(settings).funnels == ()  # no file: no funnels, no error
    settings.funnels_file.write_text(SIGNUP)
    assert [funnel.name for funnel in pipeline_rules(settings).funnels] == ["signup"]
    elsewhere = tmp_path / "conf" / "my-funnels.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text('[[funnels]]\nname = "a"\nwindow = "1h"\nsteps = []\n')
    monkeypatch.setenv("REVOLT_FUNNELS_FILE", str(elsewhere))
    with pytest.raises(FunnelFileError, match=f"^{elsewhere}: funnel 'a': steps is empty"):
        pipeline_rules(Settings.from_env())
