"""The windows stated once in PipelineRules: what cleaning reads, what a change reopens."""

from datetime import date, timedelta

import pytest

from revolt_pipeline.transforms.rules import PipelineRules

D = date(2026, 11, 18)


def days(*offsets: int) -> set[date]:
    return {D + timedelta(days=offset) for offset in offsets}


@pytest.mark.parametrize(("lateness_days", "after"), [(0, 0), (1, 1), (3, 3), (2.5, 3)])
def test_cleaning_reads_the_day_before_and_the_lateness_window_after(lateness_days: float, after: int) -> None:
    window = PipelineRules(lateness=timedelta(days=lateness_days)).cleaning_window
    assert (window.before, window.after) == (1, after)


def test_a_changed_event_day_reopens_the_sessions_that_read_it() -> None:
    assert PipelineRules().days_to_rebuild(days(0)) == days(-1, 0, 1)
    assert PipelineRules().days_to_rebuild(days(0, 5)) == days(-1, 0, 1, 4, 5, 6)
    assert PipelineRules().days_to_rebuild(set()) == set()


def test_a_raw_day_also_cleans_its_own_day_and_nothing_around_it() -> None:
    """A received day holding only late events (of the 18th) still gets its own event day, empty, so no
    layer shows it missing; no session around it changed, so its neighbours are not rebuilt for it."""
    received_on_the_21st = days(3)
    assert PipelineRules().days_to_clean(received_on_the_21st, days(0)) == days(-1, 0, 1, 3)
    assert PipelineRules().days_to_clean(days(0), days(0)) == days(-1, 0, 1)
    assert PipelineRules().days_to_clean(days(3), set()) == days(3)


@pytest.mark.parametrize(("hours", "after"), [(1, 1), (24, 1), (25, 2), (48, 2), (49, 3)])
def test_sessions_read_as_many_days_around_as_the_longest_session_reaches(hours: int, after: int) -> None:
    """A session starting just before midnight on D may last the maximum: its events reach D+after, and
    the first events of a day may belong to a session that started that many days before."""
    rules = PipelineRules(max_session_length=timedelta(hours=hours))
    assert (rules.session_window.before, rules.session_window.after) == (after, after)
    assert rules.days_to_rebuild(days(0)) == days(*range(-after, after + 1))
