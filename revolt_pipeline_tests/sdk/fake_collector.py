"""A real HTTP server standing in for the collector: records every batch and answers as a test tells it.

Real sockets rather than mocks, so the SDK's connection handling (keep-alive, refused connections,
dropped connections, gzip) is exercised for real. Speaks HTTP/1.1 with keep-alive like uvicorn.
"""

import contextlib
import gzip
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    """What to do with one request: an HTTP status with headers and body, or `drop` (close, no answer)."""

    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    rejected_indexes: tuple[int, ...] = ()
    delay: float = 0.0  # seconds to wait before answering: a slow collector


@dataclass
class ReceivedRequest:
    """One request as the server saw it, and the status it answered (None when dropped or hung)."""

    path: str
    headers: dict[str, str]
    raw_body: bytes  # as sent, possibly gzipped
    body: bytes  # decompressed
    document: Any
    received_at: float  # time.monotonic()
    status: int | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.document["batch"] if isinstance(self.document, dict) else []


class FakeCollector:
    """Records requests; answers 200 unless scripted otherwise; can go down, drop connections or hang."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.requests: list[ReceivedRequest] = []
        self._script: deque[Answer] = deque()
        self.default_answer = Answer()
        self.on_request: Callable[[ReceivedRequest], None] | None = None  # a hook, run as each request arrives
        self._hang = threading.Event()  # set: requests are recorded and then left unanswered
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "FakeCollector":
        """Listen (again) on 127.0.0.1, on the same port as before if there was one."""
        server = _QuietServer(("127.0.0.1", self.port), _Handler)
        server.daemon_threads = True
        server.collector = self  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down: stop listening (connections are refused) and cut every open keep-alive connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        assert self._thread is not None
        self._thread.join(10)

    def close(self) -> None:
        self._release.set()
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- behaviour ----------------------------------------------------------------------------

    def script(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order, then go back to `default_answer`."""
        with self._lock:
            self._script.extend(answers)

    def hang(self) -> None:
        """Record requests but never answer them (until `stop_hanging`): a batch stays in flight."""
        self._release.clear()
        self._hang.set()

    def stop_hanging(self) -> None:
        self._hang.clear()
        self._release.set()

    # -- what was received --------------------------------------------------------------------

    def answered(self, status: int = 200) -> list[ReceivedRequest]:
        with self._lock:
            return [request for request in self.requests if request.status == status]

    def delivered_messages(self) -> list[dict[str, Any]]:
        """Messages of batches answered 200, in arrival order (with duplicates, if any)."""
        return [message for request in self.answered(200) for message in request.messages]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> bool:
        """Wait until `predicate(self)` holds, re-checking whenever a request arrives."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.1))
            return True

    def wait_for_requests(self, count: int, timeout: float = 20.0) -> bool:
        return self.wait_for(lambda collector: len(collector.requests) >= count, timeout)

    def wait_for_messages(self, count: int, timeout: float = 20.0) -> bool:
        return self.wait_for(lambda collector: len(collector._delivered_unlocked()) >= count, timeout)

    def _delivered_unlocked(self) -> list[dict[str, Any]]:
        return [m for request in self.requests if request.status == 200 for m in request.messages]

    # -- called by the handler ----------------------------------------------------------------

    def _receive(self, request: ReceivedRequest) -> Answer:
        if self.on_request is not None:
            self.on_request(request)
        with self._lock:
            self.requests.append(request)
            answer = self._script.popleft() if self._script else self.default_answer
            self._lock.notify_all()
        return answer

    def _answered(self, request: ReceivedRequest, status: int | None) -> None:
        with self._lock:
            request.status = status
            self._lock.notify_all()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer (killed, or given up) is part of what these tests do.
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written apart; don't hold the body for an ACK

    def setup(self) -> None:
        super().setup()
        with self.collector._lock:
            self.collector._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.collector._lock:
                self.collector._connections.discard(self.connection)

    @property
    def collector(self) -> FakeCollector:
        return self.server.collector  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        try:
            document = json.loads(data)
        except ValueError:
            document = None
        request = ReceivedRequest(self.path, dict(self.headers.items()), raw, data, document, time.monotonic())
        answer = self.collector._receive(request)

        if self.collector._hang.is_set():
            self.collector._release.wait(60)
            self._drop()
            return
        if answer.delay:
            time.sleep(answer.delay)
        if answer.drop:
            self._drop()
            return
        body = answer.body
        if body is None:
            if answer.status == 200:
                count = len(request.messages)
                body = {"success": True, "accepted": count - len(answer.rejected_indexes)}
                if answer.rejected_indexes:
                    body["rejected"] = [
                        {"index": index, "reason": "invalid_field", "message": "rejected by the test"}
                        for index in answer.rejected_indexes
                    ]
            else:
                body = {"success": False, "code": "test_error", "message": f"scripted {answer.status}"}
        encoded = json.dumps(body).encode()
        # Recorded before answering: once the SDK has the answer, a test may already look.
        self.collector._answered(request, answer.status)
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(encoded)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        return None
