"""The dashboard as a real HTTP server for tests: `create_app` under uvicorn on a 127.0.0.1 port, in a thread
(what `revolt dashboard` runs, without a process to start), and where the browser tests keep their screenshots."""

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from revolt_pipeline.dashboard.app import create_app
from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.fixtures.services import free_port

ARTIFACTS_ENV = "REVOLT_TEST_ARTIFACTS"


@contextmanager
def dashboard_server(settings: Settings, token: str | None = None) -> Iterator[str]:
    """The dashboard over `settings`' report database on 127.0.0.1; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, token=token), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def artifacts_dir() -> Path:
    """Where screenshots go: REVOLT_TEST_ARTIFACTS/dashboard, else the checkout's gitignored test-artifacts/."""
    base = os.environ.get(ARTIFACTS_ENV, "").strip()
    root = Path(base) if base else Path(__file__).resolve().parents[2] / "test-artifacts"
    folder = root / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
