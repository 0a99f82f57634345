"""Slow, idle, oversized and too many clients against a real collector: each is answered, counted, and let go.

The collector runs as `revolt collector serve` with deadlines of 1 s. A client below waits up to
`GIVE_UP_SECONDS` for the collector to act; a collector without limits holds it that long and fails.
Nothing here asserts how fast anything was: only what was answered, what was counted, and memory.
"""

import base64
import itertools
import select
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from revolt_pipeline.collector.server import CollectorServer
from revolt_pipeline.collector.service import CollectorConfig, HttpLimits
from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.fixtures.collector import (
    ADMIN_TOKEN,
    SOURCES,
    CollectorHarness,
    CollectorProcess,
    collector_config,
)

GIVE_UP_SECONDS = 30.0
SHORT_DEADLINES = {
    "REVOLT_HEADER_TIMEOUT_SECONDS": "1",
    "REVOLT_BODY_TIMEOUT_SECONDS": "1",
    "REVOLT_KEEPALIVE_TIMEOUT_SECONDS": "1",
}
# Four connections at most; deadlines long enough that the test, not the clock, decides who holds a slot.
FOUR_CONNECTIONS = {
    "REVOLT_MAX_CONNECTIONS": "4",
    "REVOLT_HEADER_TIMEOUT_SECONDS": "120",
    "REVOLT_KEEPALIVE_TIMEOUT_SECONDS": "120",
}
HEAD = b"POST /v1/batch HTTP/1.1\r\nHost: collector\r\n"


@pytest.fixture
def collector(collector_process: Callable[..., CollectorProcess]) -> CollectorProcess:
    return collector_process(env=SHORT_DEADLINES)


# -- helpers ----------------------------------------------------------------------------------
def counted(url: str) -> dict[tuple[str, str], float]:
    """`revolt_collector_requests_total` by (status, route), read from /metrics."""
    return {
        (sample.labels["status"], sample.labels["route"]): sample.value
        for sample in _samples(url, "revolt_collector_requests")
        if sample.name.endswith("_total")
    }


def metric_value(url: str, family: str) -> float:
    return sum(sample.value for sample in _samples(url, family) if not sample.name.endswith("_created"))


def _samples(url: str, family: str) -> list[Any]:
    text = httpx.get(url + "/metrics", timeout=GIVE_UP_SECONDS).text
    return [
        sample for metric in text_string_to_metric_families(text) if metric.name == family for sample in metric.samples
    ]


def new_counts(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    return {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}


def connect(port: int, **options: int) -> socket.socket:
    sock = socket.socket()
    for option, value in options.items():
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, option), value)
    sock.settimeout(GIVE_UP_SECONDS)
    sock.connect(("127.0.0.1", port))
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """All the collector sends until it closes; fails if it keeps the connection past GIVE_UP_SECONDS."""
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the collector held the connection for {GIVE_UP_SECONDS} s")
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    sock.close()
    return b"".join(chunks)


def trickle(sock: socket.socket, pieces: Iterable[bytes], every: float = 0.2) -> bytes:
    """Send one piece every `every` seconds, like a slow client, until the collector answers or closes."""
    deadline = time.monotonic() + GIVE_UP_SECONDS
    for piece in pieces:
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"the collector kept reading a trickle for {GIVE_UP_SECONDS} s")
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
    return read_until_closed(sock)


def parse_answer(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict((name.lower(), value.strip()) for name, value in (line.split(":", 1) for line in header_lines))
    return int(status_line.split()[1]), headers, orjson.loads(body)


def assert_refused(raw: bytes, status: int, code: str) -> dict[str, str]:
    """The answer is `status` in the collector's error shape, and the collector closes after it."""
    answer_status, headers, body = parse_answer(raw)
    assert (answer_status, body["success"], body["code"]) == (status, False, code), raw[:400]
    assert headers["connection"] == "close"
    return headers


def read_one_response(sock: socket.socket) -> tuple[int, bytes]:
    """One response with a Content-Length, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), body


def peak_memory_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM): a spike that was freed again still shows."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


# -- deadlines --------------------------------------------------------------------------------
def test_connection_that_sends_nothing_is_closed_and_counted_as_408(collector: CollectorProcess) -> None:
    before = counted(collector.url)

    # No answer: a browser's unused preconnection would take it for the answer to its next request.
    assert read_until_closed(connect(collector.port)) == b""

    assert new_counts(before, counted(collector.url)) == {("408", "none"): 1, ("200", "/metrics"): 1}


def test_headers_sent_a_line_at_a_time_get_408(collector: CollectorProcess) -> None:
    before = counted(collector.url)
    sock = connect(collector.port)
    sock.sendall(HEAD)

    answer = trickle(sock, (b"X-Slow-%d: 1\r\n" % n for n in itertools.count()))

    assert_refused(answer, 408, "request_timeout")
    assert new_counts(before, counted(collector.url))[("408", "none")] == 1


def test_body_sent_a_byte_at_a_time_gets_408_and_nothing_is_kept(collector: CollectorProcess) -> None:
    before = counted(collector.url)
    key = SOURCES["web"][1]
    sock = connect(collector.port)
    sock.sendall(
        HEAD
        + b"Authorization: Basic "
        + base64.b64encode(f"{key}:".encode())
        + b"\r\nContent-Length: 100000\r\n\r\n"
        + b'{"batch": ['
    )

    answer = trickle(sock, itertools.repeat(b" "))

    assert_refused(answer, 408, "request_timeout")
    assert new_counts(before, counted(collector.url))[("408", "/v1/batch")] == 1
    stats = httpx.get(collector.url + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert stats["acceptedBySource"] == {} and stats["spoolEvents"] == 0


def test_idle_keep_alive_connection_is_closed_without_an_answer(collector: CollectorProcess) -> None:
    closed_before = metric_value(collector.url, "revolt_collector_idle_connections_closed")
    sock = connect(collector.port)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: collector\r\n\r\n")
    status, _ = read_one_response(sock)
    assert status == 200

    assert read_until_closed(sock) == b""  # closed, and no 408 to a client that asked nothing

    assert metric_value(collector.url, "revolt_collector_idle_connections_closed") == closed_before + 1


def test_malformed_request_gets_400_in_the_collector_shape(collector: CollectorProcess) -> None:
    before = counted(collector.url)
    sock = connect(collector.port)
    sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    assert_refused(read_until_closed(sock), 400, "bad_request")
    assert new_counts(before, counted(collector.url))[("400", "none")] == 1


def test_client_that_never_reads_its_answers_is_let_go(collector: CollectorProcess) -> None:
    """Pipelined requests whose answers are never read fill the buffers; the stalled write is dropped."""
    sock = connect(collector.port, SO_RCVBUF=4096)
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: collector\r\n\r\n" * 10_000)

    deadline = time.monotonic() + GIVE_UP_SECONDS
    while metric_value(collector.url, "revolt_collector_open_connections") > 1:  # 1: this /metrics request
        assert time.monotonic() < deadline, "the collector kept a connection whose client does not read"
        time.sleep(0.2)
    answers = read_until_closed(sock).count(b"HTTP/1.1 200 OK")

    assert 0 < answers < 10_000
    assert httpx.get(collector.url + "/health").status_code == 200


# -- header size ------------------------------------------------------------------------------
def test_header_just_over_the_limit_gets_431(collector: CollectorProcess) -> None:
    before = counted(collector.url)
    sock = connect(collector.port)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: collector\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")

    assert_refused(read_until_closed(sock), 431, "headers_too_large")
    assert new_counts(before, counted(collector.url))[("431", "none")] == 1


def test_100_mb_header_does_not_grow_the_collector(collector: CollectorProcess) -> None:
    assert collector.process is not None
    before = counted(collector.url)
    peak_before = peak_memory_kib(collector.process.pid)
    sock = connect(collector.port)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: collector\r\nX-Big: ")
    chunk = b"a" * 65536
    try:
        for _ in range(100 * 2**20 // len(chunk)):
            sock.sendall(chunk)  # the answer comes after 32 KB; keep sending as a careless client would
        sock.sendall(b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the collector stopped reading: that is allowed too, buffering it is not
    answer = read_until_closed(sock)

    growth_kib = peak_memory_kib(collector.process.pid) - peak_before
    assert growth_kib < 8 * 1024, f"the collector's peak memory grew by {growth_kib} KiB"
    if answer:
        assert_refused(answer, 431, "headers_too_large")
    assert new_counts(before, counted(collector.url))[("431", "none")] == 1


# -- connections ------------------------------------------------------------------------------
def test_connections_beyond_the_limit_get_503_then_service_resumes(
    collector_process: Callable[..., CollectorProcess],
) -> None:
    collector = collector_process(env=FOUR_CONNECTIONS)
    before = counted(collector.url)
    holders = [connect(collector.port) for _ in range(4)]
    for holder in holders:
        holder.sendall(HEAD)  # mid-headers: busy, not idle, so nothing can be closed to make room

    newcomer = connect(collector.port)
    newcomer.sendall(b"GET /health HTTP/1.1\r\nHost: collector\r\n\r\n")
    headers = assert_refused(read_until_closed(newcomer), 503, "over_capacity")
    assert int(headers["retry-after"]) > 0

    for holder in holders:
        holder.close()
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while (status := httpx.get(collector.url + "/health").status_code) == 503 and time.monotonic() < deadline:
        time.sleep(0.05)  # the collector learns of the closes a moment later
    assert status == 200
    counts = new_counts(before, counted(collector.url))
    assert counts[("503", "none")] >= 1 and counts[("200", "/health")] == 1


def test_an_idle_connection_makes_room_for_a_new_client(collector_process: Callable[..., CollectorProcess]) -> None:
    collector = collector_process(env=FOUR_CONNECTIONS)
    closed_before = metric_value(collector.url, "revolt_collector_idle_connections_closed")
    idle = [connect(collector.port) for _ in range(4)]
    for sock in idle:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: collector\r\n\r\n")
        assert read_one_response(sock)[0] == 200

    assert httpx.get(collector.url + "/health").status_code == 200

    assert metric_value(collector.url, "revolt_collector_idle_connections_closed") >= closed_before + 1
    for sock in idle:
        sock.close()


# -- every answer counted ---------------------------------------------------------------------
def test_every_route_counts_its_answers_by_status(collector_server: CollectorHarness) -> None:
    url = collector_server.url
    before = counted(url)
    web_key = SOURCES["web"][1]
    track = {"type": "track", "event": "Timer Started", "userId": "u-1", "messageId": "m-1"}
    http = collector_server.http

    assert http.get(url + "/health").status_code == 200
    assert http.post(url + "/admin/flush").status_code == 401
    assert collector_server.post("/v1/batch", {"batch": [track]}).status_code == 200
    assert collector_server.post("/v1/t", b"{not json").status_code == 400
    assert collector_server.post("/v1/track", track, key="wk_nobody").status_code == 401
    too_big = b'{"batch": [' + b" " * collector_server.config.limits.max_batch_bytes + b"]}"
    assert collector_server.post("/v1/batch", too_big).status_code == 413
    assert http.get(url + "/nowhere").status_code == 404
    assert http.get(url + "/v1/batch", auth=(web_key, "")).status_code == 405

    assert new_counts(before, counted(url)) == {
        ("200", "/health"): 1,
        ("401", "/admin/flush"): 1,
        ("200", "/v1/batch"): 1,
        ("400", "/v1/t"): 1,
        ("401", "/v1/track"): 1,
        ("413", "/v1/batch"): 1,
        ("404", "unmatched"): 1,
        ("405", "/v1/batch"): 1,
        ("200", "/metrics"): 1,  # the `before` reading
    }


def test_unhandled_error_is_answered_and_counted_as_500(collector_server: CollectorHarness) -> None:
    assert collector_server.server is not None
    before = counted(collector_server.url)
    collector_server.server.service.ledger.close()  # a fault no route handles: its database is gone

    response = collector_server.http.get(
        collector_server.url + "/admin/landed",
        params={"received_date": "2026-11-20"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )

    assert response.status_code == 500
    assert response.json() == {"success": False, "code": "internal_error", "message": "internal server error"}
    assert new_counts(before, counted(collector_server.url))[("500", "/admin/landed")] == 1


def test_in_process_collector_applies_the_same_limits(tmp_path: Path) -> None:
    limits = HttpLimits(header_timeout_seconds=0.5, max_header_bytes=1024)
    with CollectorServer(collector_config(tmp_path, (tmp_path / "store").as_uri(), http_limits=limits)) as server:
        sock = connect(server.port)
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        assert_refused(read_until_closed(sock), 408, "request_timeout")
        sock = connect(server.port)
        sock.sendall(b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n")
        assert_refused(read_until_closed(sock), 431, "headers_too_large")


def test_limits_come_from_the_environment_and_must_be_positive(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    monkeypatch.setenv("REVOLT_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("REVOLT_BODY_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("REVOLT_MAX_HEADER_BYTES", "4096")
    limits = CollectorConfig.from_settings(Settings.from_env()).http_limits
    assert limits == HttpLimits(body_timeout_seconds=2.5, max_header_bytes=4096)

    monkeypatch.setenv("REVOLT_MAX_CONNECTIONS", "0")
    with pytest.raises(ValueError, match="max_connections must be positive"):
        CollectorConfig.from_settings(Settings.from_env())
