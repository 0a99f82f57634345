"""A bare ingestion endpoint: the collector's yardstick in `collector_throughput`.

What any collector must do for a batch, and nothing more: take the HTTP request, spool it, and answer 200 only
once the bytes are on disk, with the collector's fsync policy (group commit: the requests that arrive while one
`fdatasync` runs share the next). The same Starlette and uvicorn (one process) as the collector, so what the
collector costs beyond this is its own work. Two modes:

- `parse` (the bar's yardstick, the "bare endpoint" of STACK-NOTES): the batch parsed with the standard
  library's `json` and spooled one line per event (`json.dumps`), since landing needs events one by one; no
  authentication, no validation, no landed record;
- `spool`: the body's bytes appended as they came, not even parsed: the cost of HTTP and fsync alone.

    python -m benchmarks._bare_endpoint --port PORT --folder FOLDER [--mode parse|spool]
"""

import argparse
import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SUCCESS = b'{"success":true}'


class GroupCommitFile:
    """Append-only file; each append's future resolves once it is fsynced, concurrent appends sharing one sync."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._draining: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="bare-spool")

    def append(self, data: bytes) -> "asyncio.Future[None]":
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._pending.append(data)
        self._waiters.append(waiter)
        if self._draining is None:
            self._draining = loop.create_task(self._drain())
        return waiter

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                writes, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                await loop.run_in_executor(self._executor, self._write_durably, writes)
                for waiter in waiters:
                    waiter.set_result(None)
        finally:
            self._draining = None

    def _write_durably(self, writes: list[bytes]) -> None:
        data = b"".join(writes)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        os.fdatasync(self.fd)


def create_app(spool: GroupCommitFile, mode: str) -> Starlette:
    async def batch(request: Request) -> Response:
        body = await request.body()
        if mode == "parse":
            events = json.loads(body)["batch"]
            await spool.append("".join(json.dumps(event) + "\n" for event in events).encode())
        else:
            await spool.append(body + b"\n")
        return Response(SUCCESS, media_type="application/json")

    async def health(_request: Request) -> Response:
        return Response(b"ok")

    return Starlette(routes=[Route("/v1/batch", batch, methods=["POST"]), Route("/health", health)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--mode", choices=("parse", "spool"), default="parse")
    args = parser.parse_args()
    spool = GroupCommitFile(args.folder / "bare.spool")
    uvicorn.run(create_app(spool, args.mode), host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
