"""The pipeline's rules as a resource, so every asset of a run applies the same ones."""

from datetime import timedelta

import dagster as dg

from revolt_pipeline.transforms.rules import PipelineRules


class RulesResource(dg.ConfigurableResource):
    """Lateness window and session rules (REVOLT_LATENESS_DAYS, REVOLT_SESSION_TIMEOUT_MINUTES,
    REVOLT_MAX_SESSION_HOURS)."""

    lateness_days: float = 3.0
    session_timeout_minutes: float = 30.0
    max_session_hours: float = 24.0

    def rules(self) -> PipelineRules:
        return PipelineRules(
            lateness=timedelta(days=self.lateness_days),
            session_timeout=timedelta(minutes=self.session_timeout_minutes),
            max_session_length=timedelta(hours=self.max_session_hours),
        )
