"""Fixtures for the SDK tests: a fake collector on a real socket, and clients that always get shut down."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from revolt_pipeline.sdk import Client
from revolt_pipeline_tests.sdk.fake_collector import FakeCollector

# Fast settings for tests: short linger and backoff, so retries happen in tenths of a second.
TEST_DEFAULTS: dict[str, Any] = {"flush_interval": 0.05, "max_backoff": 0.2, "timeout": 5.0}
WAIT = 20.0  # seconds: generous, for a loaded machine; tests never assert that things are fast

ClientFactory = Callable[..., Client]
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter that imports this checkout: for exit and crash behaviour."""
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=child_env()
    )


def child_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll `predicate` until it holds or `timeout` passes; for state the SDK changes in its own thread."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    fake = FakeCollector().start()
    yield fake
    fake.close()


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """Build Clients with the fast test defaults; each is shut down after the test (without waiting)."""
    clients: list[Client] = []

    def build(write_key: str = "test-key", host: str = "http://127.0.0.1:9", **options: Any) -> Client:
        client = Client(write_key, host, **{**TEST_DEFAULTS, **options})
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.shutdown(timeout=0)


@pytest.fixture
def unused_url() -> str:
    """An address where nothing listens: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
