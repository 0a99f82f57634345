"""Bounded retries with exponential backoff, for work that is safe to repeat whole after a dropped connection.

The pipeline retries only what a restarted server or a refused connection explains, and only work
that rewrites its output whole (a report table's days in one transaction, a lake day behind its
commit record), so an attempt cut short leaves nothing a second attempt has to undo.
"""

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """`retries` more attempts after the first, waiting `first_delay` seconds, then twice as long each time.

    The defaults wait one to two minutes in all (2, 4, ... 60 s, jittered): a PostgreSQL restart, a
    failover or an S3 outage of that order is ridden out; a longer one fails the run rather than holding it.
    """

    retries: int = 6
    first_delay: float = 2.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.retries < 0 or self.first_delay < 0 or self.max_delay < 0:
            raise ValueError(f"retries and delays cannot be negative: {self!r}")

    def delays(self) -> Iterator[float]:
        """The wait before each retry, jittered down to half so parallel steps do not reconnect in step."""
        for retry in range(self.retries):
            ceiling = min(self.first_delay * 2**retry, self.max_delay)
            yield ceiling * random.uniform(0.5, 1.0)


class RetriesExhausted(RuntimeError):
    """Work that kept failing with errors worth retrying; the message says what, how often and the last error."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


def call_with_retries(
    work: Callable[[], T],
    *,
    transient: Callable[[BaseException], bool],
    backoff: Backoff,
    what: str,
    consequence: str = "",
    warn: Callable[[str], object] = log.warning,
) -> T:
    """`work()`, called again after each error `transient` accepts, at most `backoff.retries` more times.

    Any other error propagates at once. When the retries run out, RetriesExhausted says `what` failed,
    after how many attempts and how long, then `consequence` (what the failure left behind), with the
    last error chained as its cause.
    """
    started = time.monotonic()
    delays = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return work()
        except Exception as error:
            if not transient(error):
                raise
            delay = next(delays, None)
            if delay is None:
                summary = f"{what}: gave up after {attempt} attempts over {time.monotonic() - started:.1f} s."
                if consequence:
                    summary += f" {consequence}"
                raise RetriesExhausted(f"{summary} Last error: {_one_line(error)}", attempt) from error
            total = backoff.retries + 1
            warn(f"{what}: attempt {attempt} of {total} failed, retrying in {delay:.2f} s: {_one_line(error)}")
            time.sleep(delay)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
