"""Client text made fit for the report database: one rule, its column limits, and the SQL that applies it.

Apps name their events, pages, properties and versions; the report database cannot hold every name:
PostgreSQL text refuses NUL, report columns have a length, and `all` marks the total rows. Refusing the
value at the load would blank the day's reports for everyone, and refusing the event at the collector
would lose the rest of it; so every value bound for a report column passes through `ReportText.sql`
on its way there:

- NUL (U+0000) becomes U+FFFD, the replacement character;
- a value longer than its column is cut, and ends with `…` and the first 8 hex digits of the MD5 of the
  whole value (of its UTF-8 bytes, NUL included): long values sharing a prefix stay distinct rows, and
  `left(md5(event_name), 8)` finds the original in the lake;
- a value equal to one its column reserves (`all`) gets the same ending, uncut.

The transforms apply it in SQL before they group, so values that end up equal merge into one row and
can never collide on a primary key. Lengths count characters (code points), as PostgreSQL does. The lake
keeps every value as it was sent. The rule is idempotent: a value already fit comes back unchanged.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from revolt_pipeline.transforms.engine import sql_string

# Characters each text column of the report tables holds; reports/schema.py declares its columns from here.
# A name means one thing: `event_name` has the same limit in every table.
REPORT_TEXT_CHARS: dict[str, int] = {
    "platform": 64,
    "app_version": 64,
    "event_type": 16,
    "event_name": 255,
    "property": 255,
    "json_type": 16,
    # What devices and SDKs say of themselves (context.os, .device.type, .locale, .library), the source's name
    # and the country's ISO code ('unknown' when none was found).
    "os_name": 64,
    "os_version": 64,
    "device_type": 64,
    "country": 16,
    "country_method": 16,
    "locale": 64,
    "source": 64,
    "library_name": 64,
    "library_version": 64,
    "step": 255,  # a path's step: its kind and an event name, page or screen name or path (`track: ...`)
}
# A move between steps names two of them, each a step.
REPORT_TEXT_CHARS.update(from_step=REPORT_TEXT_CHARS["step"], to_step=REPORT_TEXT_CHARS["step"])
# A recommended item is a path step (transforms/recommendations.py).
REPORT_TEXT_CHARS["item"] = REPORT_TEXT_CHARS["step"]
# Anchored retention's events (settings, recorded on each retention row) are event names.
REPORT_TEXT_CHARS["start_event"] = REPORT_TEXT_CHARS["return_event"] = REPORT_TEXT_CHARS["event_name"]
REPLACEMENT = "\ufffd"
MARKER = "…"
DIGEST_CHARS = 8


@dataclass(frozen=True)
class ReportText:
    """A value bound for the report column `column`, as the SQL `expression` of the value sent.

    `reserved` lists values the report itself gives a meaning in that column (the totals' `all`).
    """

    column: str
    expression: str
    reserved: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        chars = REPORT_TEXT_CHARS.get(self.column)
        if chars is None:
            raise ValueError(f"{self.column!r} is not a text column of the report tables: {sorted(REPORT_TEXT_CHARS)}")
        if chars <= len(MARKER) + DIGEST_CHARS or any(len(word) > self.kept_chars for word in self.reserved):
            raise ValueError(f"{self.column}: {chars} characters leave no room for a value and its marker")

    @property
    def chars(self) -> int:
        return REPORT_TEXT_CHARS[self.column]

    @property
    def kept_chars(self) -> int:
        """Characters of a cut value kept before its marker and digest."""
        return self.chars - len(MARKER) - DIGEST_CHARS

    @property
    def sql(self) -> str:
        """The value made safe; NULL stays NULL."""
        value = f"replace({self.expression}, chr(0), {sql_string(REPLACEMENT)})"
        ending = f"{sql_string(MARKER)} || left(md5({self.expression}), {DIGEST_CHARS})"
        reserved = (
            f" WHEN {value} IN ({', '.join(sql_string(word) for word in self.reserved)}) THEN {value} || {ending}"
            if self.reserved
            else ""
        )
        return (
            f"(CASE WHEN length({value}) > {self.chars} THEN left({value}, {self.kept_chars}) || {ending}"
            f"{reserved} ELSE {value} END)"
        )

    @property
    def made_safe_sql(self) -> str:
        """True where the rule changed the value."""
        return f"(({self.expression}) IS DISTINCT FROM {self.sql})"


def made_safe_counts_query(source: str, texts: Sequence[ReportText]) -> str:
    """One row, one column per report column: how many distinct values of `source` the rule changed."""
    counts = ", ".join(
        f"count(DISTINCT {text.expression}) FILTER (WHERE {text.made_safe_sql}) AS {text.column}" for text in texts
    )
    return f"SELECT {counts} FROM {source}"
