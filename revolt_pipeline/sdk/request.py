"""One POST of a batch to the collector, and what its answer means for the sender: done, retry, or give up.

Uses `http.client` directly rather than `urllib.request`: urllib follows a redirect of a POST by
re-sending it as a body-less GET, and a persistent connection saves a handshake per batch.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import http.client
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

BATCH_PATH = "/v1/batch"
IDLE_RECONNECT_SECONDS = 4.0  # below common keep-alive timeouts (uvicorn 5 s, nginx 75 s)
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is more likely a misconfiguration than a plan


@dataclass(frozen=True)
class Delivered:
    """The collector took the batch (200). `rejected` are entries it quarantined: never to be resent."""

    rejected: list[dict[str, Any]] = field(default_factory=list)


class TransientFailure(Exception):
    """Worth retrying: network trouble, 408, 429 or 5xx. `retry_after` is the server's wish, in seconds."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class PermanentRejection(Exception):
    """The collector refused the whole batch for good (400, 401, 413 ...): resending cannot help."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class CollectorRejectedEvents(Exception):
    """Given to `on_error` with the messages a 200 answer listed as rejected (quarantined server-side)."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), capped; None if unusable.

    An HTTP date is compared with the real system time, never the SDK's injectable clock: that clock
    stands for the device's (possibly wrong) one, while the date comes from the server's.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # RFC 9110 dates are GMT
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def build_body(payloads: list[str], sent_at: str) -> bytes:
    """The batch document, assembled from already-serialized messages instead of serializing again."""
    return ('{"batch":[' + ",".join(payloads) + '],"sentAt":' + json.dumps(sent_at) + "}").encode("utf-8")


class BatchSender:
    """Posts batches to `{host}/v1/batch` over one reused connection. Used by one thread at a time."""

    def __init__(self, host: str, write_key: str, *, use_gzip: bool, timeout: float, user_agent: str) -> None:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"host must be an http:// or https:// URL, got {host!r}")
        self._scheme = parts.scheme
        self._netloc = parts.netloc.rpartition("@")[2]
        self._path = parts.path.rstrip("/") + BATCH_PATH
        self._use_gzip = use_gzip
        self._timeout = timeout
        credentials = base64.b64encode(f"{write_key}:".encode()).decode("ascii")
        self._headers = {
            "Content-Type": "application/json",
            "Authorization": f"Basic {credentials}",
            "User-Agent": user_agent,
        }
        if use_gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._connection: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def send(self, payloads: list[str], sent_at: str, timeout: float | None = None) -> Delivered:
        """POST one batch. Raises TransientFailure or PermanentRejection when not delivered.

        `timeout` can only shorten the configured one, e.g. to keep within a flush deadline.
        """
        body = build_body(payloads, sent_at)
        if self._use_gzip:
            # Level 6 compresses JSON nearly as well as 9 at a fraction of the CPU.
            body = gzip.compress(body, compresslevel=6, mtime=0)
        try:
            status, headers, data = self._post(body, self._timeout if timeout is None else min(self._timeout, timeout))
        except (OSError, http.client.HTTPException) as exc:
            self.close()  # the connection's state is unknown; start afresh next time
            raise TransientFailure(f"network error: {exc!r}") from exc

        if 200 <= status < 300:
            return Delivered(rejected=_rejected_entries(data, len(payloads)))
        # 408: the collector gave up waiting for a slow body; nothing of it was kept.
        if status in (408, 429) or status >= 500:
            raise TransientFailure(
                f"collector answered {status}",
                status=status,
                retry_after=parse_retry_after(headers.get("Retry-After")),
            )
        code, message = _error_details(data)
        if 300 <= status < 400:
            message = f"redirected to {headers.get('Location')!r}; point host at the collector itself ({message})"
        raise PermanentRejection(status, code, message)

    def _post(self, body: bytes, timeout: float) -> tuple[int, http.client.HTTPMessage, bytes]:
        # Servers close idle keep-alive connections (uvicorn after 5 s); one found closed is not a
        # network failure, so try once more on a fresh connection before reporting one.
        if self._connection is not None and time.monotonic() - self._last_used > IDLE_RECONNECT_SECONDS:
            self.close()
        reused = self._connection is not None and self._connection.sock is not None
        try:
            return self._post_once(body, timeout)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            if not reused:
                raise
            self.close()
            return self._post_once(body, timeout)

    def _post_once(self, body: bytes, timeout: float) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection = self._connection
        if connection is None:
            factory = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            connection = self._connection = factory(self._netloc, timeout=timeout)
        else:
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
        if connection.sock is None:
            connection.connect()
            # http.client writes headers and body separately; with Nagle's algorithm on, the body can
            # wait for the server's delayed ACK (~40 ms). urllib3 sets this option by default too.
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.request("POST", self._path, body=body, headers=self._headers)
        response = connection.getresponse()
        data = response.read()  # read it all, or the connection cannot be reused
        self._last_used = time.monotonic()
        if response.will_close:
            self.close()
        return response.status, response.headers, data

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _rejected_entries(data: bytes, batch_size: int) -> list[dict[str, Any]]:
    """The `rejected` list of a 200 answer, keeping only entries that point at a message of the batch."""
    document = _parse_json(data)
    entries = document.get("rejected") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return []
    return [
        entry
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("index"), int)
        and not isinstance(entry.get("index"), bool)
        and 0 <= entry["index"] < batch_size
    ]


def _error_details(data: bytes) -> tuple[str, str]:
    document = _parse_json(data)
    if isinstance(document, dict):
        return str(document.get("code", "unknown")), str(document.get("message", ""))
    return "unknown", data[:200].decode("utf-8", "replace")
