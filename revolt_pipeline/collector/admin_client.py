"""A small client of the collector's admin API, for the pipeline and the demo."""

from datetime import date, datetime
from typing import Any

import httpx

from revolt_pipeline.collector.reports import FlushReport, LandedReport
from revolt_pipeline.contract import format_timestamp


class CollectorAdminError(RuntimeError):
    """The collector refused or failed an admin request; the message says what it answered."""


class CollectorAdminClient:
    def __init__(self, url: str, admin_token: str, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=timeout
        )

    def _call(self, method: str, path: str, *, answers: tuple[int, ...] = (200,), **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CollectorAdminError(f"cannot reach the collector at {self.url}: {exc}") from exc
        if response.status_code not in answers:
            raise CollectorAdminError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def flush(self) -> FlushReport:
        return FlushReport.from_json(self._call("POST", "/admin/flush"))

    def landed(self, received_date: date) -> LandedReport:
        return LandedReport.from_json(
            self._call("GET", "/admin/landed", params={"received_date": received_date.isoformat()})
        )

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/admin/stats")

    def health(self) -> dict[str, Any]:
        """The collector's health report; `status` says ok, degraded or unavailable (answered with 503)."""
        return self._call("GET", "/health", answers=(200, 503))

    def set_clock(self, moment: datetime) -> None:
        """Move a simulated clock (collectors started with --simulated-clock only)."""
        self._call("POST", "/admin/clock", json={"now": format_timestamp(moment)})

    def close(self) -> None:
        self._http.close()
