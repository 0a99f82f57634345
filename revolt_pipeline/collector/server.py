"""Running the collector: as a process (`revolt collector serve`) or on a thread inside another program."""

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

from revolt_pipeline.clock import Clock
from revolt_pipeline.collector.app import create_app
from revolt_pipeline.collector.service import CollectorConfig, CollectorService

T = TypeVar("T")

_in_process: dict[str, "CollectorServer"] = {}
_in_process_lock = threading.Lock()


def serve(config: CollectorConfig, host: str, port: int, *, clock: Clock | None = None) -> None:
    """Serve until SIGINT or SIGTERM; uvicorn then runs the shutdown that uploads what it can."""
    service = CollectorService(config, clock=clock)
    uvicorn.run(
        create_app(service),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=15,
    )


class CollectorServer:
    """A real collector over HTTP on a background thread, for the demo, tests and in-process use.

    Its service is also reachable directly with `call`, which is how the in-process ingestion
    resource flushes it without going through HTTP.
    """

    def __init__(
        self, config: CollectorConfig, *, host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None
    ) -> None:
        self.service = CollectorService(config, clock=clock)
        self._server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.service),
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
        )
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
