"""The pipeline's rules from the settings, and the lineage they imply between partitions.

The rules are read once, by `build_definitions`, and given to the assets (which apply them), to the
partition mappings (which draw them in the UI) and to the cascade (which rebuilds by them): one
setting changes all three.
"""

from datetime import timedelta
from typing import Any

import dagster as dg

from revolt_pipeline.layers.funnels import read_funnels
from revolt_pipeline.settings import Settings
from revolt_pipeline.transforms.pii import PiiRules
from revolt_pipeline.transforms.rules import DayWindow, PipelineRules


def pipeline_rules(settings: Settings) -> PipelineRules:
    """REVOLT_LATENESS_DAYS, _SESSION_TIMEOUT_MINUTES, _MAX_SESSION_HOURS, _MAU_WINDOW_DAYS and the funnels of
    REVOLT_FUNNELS_FILE as rules (a malformed funnels file stops the code location loading, saying why)."""
    return PipelineRules(
        funnels=read_funnels(settings.funnels_file) if settings.funnels_file else (),
        lateness=timedelta(days=settings.lateness_days),
        session_timeout=timedelta(minutes=settings.session_timeout_minutes),
        max_session_length=timedelta(hours=settings.max_session_hours),
        mau_window_days=settings.mau_window_days,
        retention_start_event=settings.retention_start_event,
        retention_return_event=settings.retention_return_event,
        pii=pii_rules(settings),
    )


def pii_rules(settings: Settings) -> PiiRules:
    """REVOLT_PII_HASH_KEYS and REVOLT_PII_DROP_KEYS, with the privacy salt (generated once in REVOLT_HOME unless
    REVOLT_PRIVACY_SALT is set) when keys are hashed. The salt stays in the rules' values, never in metadata."""
    salt = settings.resolved_privacy_salt() if settings.pii_hash_keys else None
    return PiiRules(hash_keys=settings.pii_hash_keys, drop_keys=settings.pii_drop_keys, salt=salt)


def reads_window(upstream: Any, window: DayWindow) -> dg.AssetDep:
    """Depend on the upstream days a step reads to build a day: `window.before` days earlier to
    `window.after` days later (days before the first partition are simply not there)."""
    return dg.AssetDep(
        upstream,
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-window.before, end_offset=window.after, allow_nonexistent_upstream_partitions=True
        ),
    )


def rules_metadata(rules: PipelineRules) -> dict[str, Any]:
    """The rules an asset was built with, shown on its page in the UI."""
    return {
        "rules/lateness_days": rules.lateness / timedelta(days=1),
        "rules/session_timeout_minutes": rules.session_timeout / timedelta(minutes=1),
        "rules/max_session_hours": rules.max_session_length / timedelta(hours=1),
        "rules/mau_window_days": rules.mau_window_days,
        "rules/retention_start_event": rules.retention_start_event or "(first seen)",
        "rules/retention_return_event": rules.retention_return_event or "(any activity)",
        "rules/pii_hashed_keys": ", ".join(rules.pii.hash_keys) or "(none)",
        "rules/pii_dropped_keys": ", ".join(rules.pii.drop_keys) or "(none)",
    }
