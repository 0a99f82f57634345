"""Running the collector: as a process (`revolt collector serve`) or on a thread inside another program."""

import asyncio
import contextlib
import logging
import resource
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

from revolt_pipeline.clock import Clock
from revolt_pipeline.collector.app import create_app
from revolt_pipeline.collector.protocol import collector_protocol
from revolt_pipeline.collector.service import CollectorConfig, CollectorService

T = TypeVar("T")
log = logging.getLogger("revolt.collector")

_in_process: dict[str, "CollectorServer"] = {}
_in_process_lock = threading.Lock()
# Files a collector keeps open besides its connections: spool segments, the ledger, S3 connections, logs.
_FILES_BESIDES_CONNECTIONS = 256


def uvicorn_config(service: CollectorService, host: str, port: int, **options: Any) -> uvicorn.Config:
    """One uvicorn configuration for every way the collector runs, so the same HTTP limits apply."""
    return uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        http=collector_protocol(service.config.http_limits, service.metrics),  # type: ignore[arg-type]
        # No route speaks WebSocket: an Upgrade must not hand a connection to a protocol without our limits.
        ws="none",
        access_log=False,
        # The client's address (recorded as clientIp) and scheme from X-Forwarded-For/-Proto of these peers only.
        proxy_headers=True,
        forwarded_allow_ips=service.config.forwarded_allow_ips,
        **options,
    )


def serve(config: CollectorConfig, host: str, port: int, *, clock: Clock | None = None) -> None:
    """Serve until SIGINT or SIGTERM; uvicorn then runs the shutdown that uploads what it can."""
    service = CollectorService(config, clock=clock)
    _allow_open_files(config.http_limits.max_connections + _FILES_BESIDES_CONNECTIONS)
    server = uvicorn.Server(uvicorn_config(service, host, port, log_level="info", timeout_graceful_shutdown=15))
    with contextlib.suppress(KeyboardInterrupt):  # SIGINT: uvicorn has already shut down cleanly
        server.run()
    if not server.started:
        raise RuntimeError(f"the collector could not serve on {host}:{port}")


def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit on open files (often 1024) so the connection limit, not the OS, turns clients away."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning("open files are limited to %d: fewer connections than REVOLT_MAX_CONNECTIONS can be served", target)


class CollectorServer:
    """A real collector over HTTP on a background thread, for the demo, tests and in-process use.

    Its service is also reachable directly with `call`, which is how the in-process ingestion
    resource flushes it without going through HTTP.
    """

    def __init__(
        self, config: CollectorConfig, *, host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None
    ) -> None:
        self.service = CollectorService(config, clock=clock)
        self._server = uvicorn.Server(uvicorn_config(self.service, host, port, log_level="warning", lifespan="on"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def collector_id(self) -> str:
        return self.service.collector_id

    def start(self, timeout: float = 30.0) -> "CollectorServer":
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._serve(ready))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name=f"collector-{self.collector_id}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure or not self._server.started:
            self.stop()
            raise RuntimeError(f"collector did not start: {failure[0] if failure else 'timed out'}")
        with _in_process_lock:
            _in_process[self.collector_id] = self
        return self

    async def _serve(self, ready: threading.Event) -> None:
        serving = asyncio.create_task(self._server.serve())
        while not self._server.started and not serving.done():
            await asyncio.sleep(0.01)
        if self._server.started:
            self.port = self._server.servers[0].sockets[0].getsockname()[1]
        ready.set()
        await serving

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 300.0) -> T:
        """Run a coroutine of the service on the server's event loop and wait for its result."""
        if self._loop is None or not self._loop.is_running():
            coroutine.close()
            raise RuntimeError("the collector is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        with _in_process_lock:
            if _in_process.get(self.collector_id) is self:
                del _in_process[self.collector_id]
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> "CollectorServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def in_process_collector(collector_id: str) -> CollectorServer:
    """The collector with this id running in this process, for the in-process ingestion resource."""
    with _in_process_lock:
        server = _in_process.get(collector_id)
    if server is None:
        running = ", ".join(sorted(_in_process)) or "none"
        raise LookupError(f"no collector {collector_id!r} runs in this process (running: {running})")
    return server
