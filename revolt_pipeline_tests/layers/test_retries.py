"""What the pipeline retries: store and connection faults, a bounded number of times; nothing else."""

import pytest

from revolt_pipeline.layers.commits import IncompleteDay
from revolt_pipeline.layers.staging import store_may_recover
from revolt_pipeline.retrying import Backoff, RetriesExhausted, call_with_retries

INSTANT = Backoff(retries=3, first_delay=0, max_delay=0)
REFUSED = "When listing objects under key 'lake/' in bucket 'b': AWS Error NETWORK_CONNECTION during ListObjectsV2"


class Flaky:
    """Fails with `error` the first `failures` calls, then returns the number of calls."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.calls


def test_a_transient_error_is_retried_until_the_work_succeeds() -> None:
    work = Flaky(3, OSError(REFUSED))
    warnings: list[str] = []
    assert call_with_retries(work, transient=store_may_recover, backoff=INSTANT, what="w", warn=warnings.append) == 4
    assert len(warnings) == 3 and "w: attempt 1 of 4 failed" in warnings[0] and "NETWORK_CONNECTION" in warnings[0]


def test_other_errors_are_raised_at_once() -> None:
    work = Flaky(1, ValueError("column x holds NaN"))
    with pytest.raises(ValueError):
        call_with_retries(work, transient=store_may_recover, backoff=INSTANT, what="w")
    assert work.calls == 1


def test_when_the_retries_run_out_the_error_says_what_how_often_and_why() -> None:
    work = Flaky(10, OSError(REFUSED))
    with pytest.raises(RetriesExhausted) as exhausted:
        call_with_retries(
            work, transient=store_may_recover, backoff=INSTANT, what="building raw_events", consequence="Nothing lost."
        )
    assert work.calls == exhausted.value.attempts == 4
    message = str(exhausted.value)
    assert message.startswith("building raw_events: gave up after 4 attempts over ")
    assert "Nothing lost. Last error: OSError: When listing objects" in message
    assert isinstance(exhausted.value.__cause__, OSError)


def test_backoff_doubles_up_to_its_ceiling_with_jitter_below_it() -> None:
    delays = list(Backoff(retries=5, first_delay=1, max_delay=4).delays())
    assert len(delays) == 5
    for delay, ceiling in zip(delays, [1, 2, 4, 4, 4], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    with pytest.raises(ValueError):
        Backoff(retries=-1)


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (OSError(REFUSED), True),
        (OSError("AWS Error SLOW_DOWN during PutObject operation"), True),
        (OSError("AWS Error SERVICE_UNAVAILABLE during GetObject operation"), True),
        (ConnectionResetError("reset by peer"), True),
        (OSError("AWS Error ACCESS_DENIED during PutObject operation"), False),
        (OSError("AWS Error NO_SUCH_BUCKET during ListObjectsV2 operation"), False),
        (FileNotFoundError("no object s3://b/lake/x"), False),
        (IncompleteDay("raw_events of 2026-11-18 is incomplete"), False),
        (PermissionError("denied"), False),
        (ValueError("bad data"), False),
        (RetriesExhausted("the report database gave up", 3), False),
    ],
)
def test_only_store_errors_a_retry_may_cure_are_retried(error: Exception, retried: bool) -> None:
    assert store_may_recover(error) is retried
