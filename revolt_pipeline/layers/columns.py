"""What each lake column means: the descriptions of the column schemas the Dagster UI shows for every asset.

A lake dataset loaded into the report table of the same name shares that table's COMMENTs (reports/schema.py),
so each is written once. The others are described here by column name, once: an event's columns mean the same in
`raw_events`, `events`, `sessionized_events` and `events_quarantine`. Where a name means something else in one
dataset, that dataset's own entry says so and wins.
"""

import re

from revolt_pipeline.ml.segments import ITEM_PREFIX, PLATFORM_PREFIX
from revolt_pipeline.reports import schema

_EVENT_TIME = "When the event happened (UTC): the device's time corrected by its clock skew, clamped to receipt"

COLUMNS = {
    # The landed envelope and the message (docs/event-contract.md).
    "message_id": "The message's messageId, or one the collector generated; the key deduplication keeps once.",
    "message_id_generated": "True when the app sent no messageId and the collector made one up.",
    "type": "The message type: track, page, screen, identify, alias or group.",
    "event_name": "The track event's name, or the page's or screen's name; NULL for identify, alias and group.",
    "user_id": "The userId the app sent, when it knew who the person is.",
    "anonymous_id": "The anonymousId the app sent: the device or browser before (or besides) a login.",
    "previous_id": "An alias call's previousId: the id the user id replaces.",
    "group_id": "A group call's groupId: the account or team the person belongs to.",
    "received_at": "When the collector received the batch (UTC, the collector's clock).",
    "received_date": "The day (UTC) the collector received it: the raw partition it came from.",
    "sent_at": "The device's clock when the batch was sent, or NULL.",
    "original_timestamp": "The event's time on the device's clock, as sent, or NULL.",
    "timestamp": "The event's time corrected by the device's clock skew: receivedAt - (sentAt - originalTimestamp).",
    "event_time": _EVENT_TIME + " when it lay in the future.",
    "timestamp_clamped": "True when the corrected time lay after receipt and was clamped to it.",
    "clock_skew_ms": "sentAt - receivedAt in milliseconds: how far the device's clock is off (plus network time).",
    "source": "The source (app) whose write key sent it.",
    "platform": "The platform of the source that sent it (ios, android, web, ...).",
    "collector": "Which collector replica accepted it.",
    "client_ip": "The address the request came from (the peer, or the client a trusted proxy named), as the "
    "collector's IP policy keeps it (truncated by default), or NULL.",
    "ip_country": "The country of the event's IP address, found by the collector from the full address before "
    "it truncated or dropped it; NULL when it had none (and for events landed before collectors found it).",
    "landed_file": "The name of the landed file the row was read from (its collector and segment), or NULL for "
    "raw days written before raw kept it.",
    "batch_context": "The batch envelope's context as sent (JSON); the message's own context wins over it.",
    "context": "The message's context merged over the batch's (JSON): app, device, OS, locale, library, ...",
    "properties": "The track, page or screen call's properties as sent (JSON).",
    "traits": "The identify call's traits as sent (JSON).",
    "message": "The message exactly as the app sent it (its bytes, less any write key).",
    # Columns cleaning pulls out of the context.
    "person_id": "The stitched person: the user id the event's ids lead to through identity links, else its "
    "anonymous id.",
    "app_name": "context.app.name: the app that sent the event.",
    "app_version": "context.app.version: the app's version.",
    "app_build": "context.app.build: the app's build.",
    "device_id": "context.device.id.",
    "device_manufacturer": "context.device.manufacturer.",
    "device_model": "context.device.model.",
    "device_type": "context.device.type (ios, android, desktop, ...).",
    "os_name": "context.os.name.",
    "os_version": "context.os.version.",
    "locale": "context.locale (en-US, ...).",
    "timezone": "context.timezone, the device's IANA time zone.",
    "library_name": "context.library.name: the SDK that sent the event.",
    "library_version": "context.library.version.",
    "ip": "The event's IP address: context.ip, else the address the collector received it from, as the "
    "collector's IP policy keeps it (truncated by default).",
    "user_agent": "context.userAgent.",
    "country": "ISO 3166-1 alpha-2 country, found offline from the IP address, else the time zone; 'unknown' "
    "when neither tells.",
    "country_method": "How the country was found: ip, timezone or unknown.",
    # Quarantine.
    "reason": "Why the row is not an event: too_late, duplicate, missing_identity, unknown_type or "
    "missing_event_name (docs/pipeline.md, Cleaning).",
    "detail": "The specifics of the reason (e.g. how late, or which delivery was kept).",
    # Sessions.
    "session_id": "The session: the person's events with no gap longer than the session timeout.",
    "session_start": "When the session's first event happened (UTC).",
    "session_end": "When the session's last event happened (UTC).",
    "duration_seconds": "Seconds from the session's first event to its last.",
    "entry_event": "The session's first step (`track: <event>`, `screen: <name>` or `page: <name>`).",
    "exit_event": "The session's last step.",
    "steps": "The session's path: its steps in order, immediate repeats kept.",
    "split": "True when a run of activity longer than the maximum session length was cut into pieces.",
    # Identity links.
    "from_id": "An anonymous id (or an alias's previous id) that belongs to a user.",
    "to_user_id": "The user id it belongs to; the first link of an id wins.",
    "linked_at": "When the message that linked them happened (UTC).",
}

# Names that mean something else in one dataset.
DATASET_COLUMNS: dict[str, dict[str, str]] = {
    "events_quarantine": {
        "timestamp": "The event's corrected time, when the row had one.",
        "message": "The row as landed: the message exactly as the app sent it.",
    },
    "person_days": {
        "platform_versions": "The (platform, app version) pairs the person was active with on the day.",
        "os_versions": "The (OS name, OS version) pairs the person was active with on the day.",
        "device_types": "The device types the person was active with on the day.",
        "country_methods": "The (country, method that found it) pairs the person was active with on the day.",
        "locales": "The locales the person was active with on the day.",
        "sources": "The sources (apps) the person was active in on the day.",
        "libraries": "The (SDK name, SDK version) pairs of the person's events of the day.",
        "first_event_time": "The person's first event of the day (UTC).",
        "last_event_time": "The person's last event of the day (UTC).",
        "first_platform": "The platform of the person's first event of the day.",
        "last_platform": "The platform of the person's last event of the day.",
        "first_app_version": "The app version of the person's first event of the day that sent one.",
        "first_event_app_version": "The app version of the person's first event of the day (`unknown` when it sent "
        "none): with first_platform, what the person arrived with that day.",
        "last_app_version": "The app version of the person's last event of the day.",
        "first_os_name": "The OS of the person's first event of the day.",
        "last_os_name": "The OS of the person's last event of the day.",
        "first_os_version": "The OS version of the person's first event of the day.",
        "last_os_version": "The OS version of the person's last event of the day.",
        "first_locale": "The locale of the person's first event of the day.",
        "last_locale": "The locale of the person's last event of the day.",
        "first_country": "The country of the person's first event of the day.",
        "first_country_method": "How the country of the person's first event of the day was found.",
        "last_country": "The country of the person's last event of the day.",
        "last_country_method": "How the country of the person's last event of the day was found.",
        "traits": "The person's traits from the day's identify calls, the latest winning per trait (JSON).",
        "traits_at": "When the day's latest identify call with traits happened (UTC).",
    },
    "people": {
        "last_platform": "The platform of the person's latest event.",
        "app_version": "The app version of the person's latest event.",
        "os_name": "The OS of the person's latest event.",
        "os_version": "The OS version of the person's latest event.",
        "locale": "The locale of the person's latest event.",
        "country": "The country of the person's latest event.",
        "country_method": "How the country of the person's latest event was found: ip, timezone or unknown.",
        "first_country_method": "How the country of the person's first event with one was found: ip or timezone.",
        "traits_at": "When the latest identify call with traits happened (UTC).",
    },
    "cohort_activity": {
        "snapshot_date": "The last day built into the snapshot.",
        "definition": "first_seen (cohort: first seen; return: any activity) or anchored (on the configured start "
        "and return events).",
        "person_id": "The person.",
        "cohort_date": "The day the person entered the cohort (first seen, or the start event).",
        "day_bits": "Bit N set when the person returned on the cohort's day + N (N = 0 to 30).",
        "week_bits": "Bit N set when the person returned in the cohort's ISO week + N (N = 0 to 12).",
        "acquired_at": "When the event that put the person in the cohort happened (UTC): their first event, or "
        "(anchored) their first start event.",
        "platform": "The platform of the event that put the person in the cohort (`unknown` when not known): "
        "retention by app version splits cohorts by it.",
        "app_version": "The app version of that event, within its platform (`unknown` if the app did not say).",
    },
    "person_platforms": {
        "snapshot_date": "The last day built into the snapshot.",
        "person_id": "The person.",
        "platform": "A platform the person was active on (`unknown` if the app did not say).",
        "app_version": "An app version of that platform the person was active with (`unknown` if not sent).",
        "first_seen": "The first day (UTC) the person was active with that platform and app version.",
    },
    "funnel_progress": {
        "event_date": "The day (UTC) the person entered the funnel.",
        "funnel": "The funnel's name in the funnels file (REVOLT_FUNNELS_FILE).",
        "platform": "The platform of the person's step 1 event.",
        "app_version": "The app version of the person's step 1 event (`unknown` if the app did not say).",
        "entered_at": "When the person did step 1 (UTC).",
        "steps_reached": "How many steps the person reached within the funnel's window.",
        "step_times": "When the person reached each step (UTC), in step order.",
    },
    "sessions": {
        "identified": "True when an event of the session carried a user id.",
        "events": "Events in the session.",
    },
    "segment_profiles": {
        "segment": "The person's segment (as in person_segments).",
        "active_day_share": "Share of the 28 days before the cutoff the person was active on.",
        "sessions_per_active_day": "Sessions per active day in the 28 days before the cutoff.",
        "events_per_session": "Events per session in the 28 days before the cutoff.",
    },
}

_FEATURES = {
    "cutoff": "The midnight (UTC) the features are as of: they read only what happened before it.",
    "days_since_last_active": "Days from the person's last active day to the cutoff (1: the day before).",
    "days_since_first_seen": "Days from the person's first sighting to the cutoff.",
    "active_days_trend": "Share of the last 7 days active minus the share of the 21 days before them active: "
    "negative when activity falls.",
    "sessions_trend": "Sessions in the last 7 days minus the weekly average of the 21 days before them.",
    "platforms_28d": "Distinct platforms the person used in the 28 days.",
    "feature_events_28d": "Track events (feature use) in the 28 days.",
    "distinct_features_28d": "Distinct track events the person used in the 28 days.",
    "feature_usage_28d": "Each track event's name and how often the person sent it in the 28 days.",
    "on_latest_app_version": "1 when the person's latest app version is the one of its platform that appeared last "
    "in the window, 0 when older, NULL when no version was sent.",
    "identified": "1 when the person was known by a user id on an active day of the window.",
    "primary_platform": "The platform the person's active days most often ended on.",
    "app_platform": "The platform of the person's latest app version.",
    "app_version": "The person's latest app version.",
    "sessions_share_7d": "The last 7 days' share of the 28 days' sessions.",
    "active_days_share_7d": "The last 7 days' share of the 28 days' active days.",
    "longest_gap_days_28d": "The longest run of inactive days between two active days in the 28 days.",
    "mean_gap_days_28d": "The mean number of days from one active day to the next in the 28 days (1: the next day).",
    "silence_beyond_longest_gap": "Inactive days since the last active day minus the longest earlier gap: "
    "positive when this silence is longer than any before.",
    "active_weekdays_28d": "Distinct weekdays the person was active on in the 28 days.",
    "session_seconds_trend": "Mean session length of the last 7 days over that of the 28 days.",
    "sessions_before_silence_7d": "Sessions in the 7 days up to the person's last active day.",
    "trend_before_silence": "Sessions of the week up to the last active day against the week before it: "
    "(last - before) / (last + before).",
    "burst_before_silence": "Sessions of the week up to the last active day over the 28 days' weekly average.",
}
DATASET_COLUMNS["person_features"] = _FEATURES
# Features over a window of N days before the cutoff: `<measure>_<N>d`.
_WINDOWED = {
    "active_days": "Days the person was active",
    "sessions": "Sessions the person started",
    "events": "Events the person sent",
    "session_seconds": "Seconds spent in sessions",
    "mean_session_seconds": "Mean session length in seconds",
}
_WINDOW = re.compile(r"(?P<measure>[a-z_]+)_(?P<days>\d+)d")


def _report_comment(dataset: str, column: str) -> str | None:
    table = schema.metadata.tables.get(dataset)
    if table is None or column not in table.columns:
        return None
    return table.columns[column].comment


def _pattern(dataset: str, column: str) -> str | None:
    if column.startswith(PLATFORM_PREFIX):
        return f"1 when {column.removeprefix(PLATFORM_PREFIX)} is the person's main platform, else 0."
    if column.startswith(ITEM_PREFIX):
        return f"Share of the person's feature use going to {column.removeprefix(ITEM_PREFIX)}."
    window = _WINDOW.fullmatch(column)
    if dataset == "person_features" and window and window["measure"] in _WINDOWED:
        return f"{_WINDOWED[window['measure']]} in the {window['days']} days before the cutoff."
    return None


def describe(dataset: str, column: str) -> str | None:
    """What `column` of the lake dataset (or report table) `dataset` holds, or None when nothing says."""
    return (
        DATASET_COLUMNS.get(dataset, {}).get(column)
        or _report_comment(dataset, column)
        or _pattern(dataset, column)
        or COLUMNS.get(column)
    )
