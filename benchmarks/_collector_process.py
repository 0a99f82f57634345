"""Start `revolt collector serve` as a child process in a throwaway home, for benchmarks."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from revolt_pipeline.sources import add_source

WRITE_KEY = "wk_benchmark"
ADMIN_TOKEN = "benchmark-admin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CollectorProcess:
    def __init__(self, **env: str) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="revolt-bench-"))
        add_source(self.home / "sources.toml", "bench", "server", WRITE_KEY)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "REVOLT_HOME": str(self.home),
            "REVOLT_ADMIN_TOKEN": ADMIN_TOKEN,
            "REVOLT_COLLECTOR_PORT": str(self.port),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "CollectorProcess":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "revolt_pipeline.cli", "collector", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("collector did not start")

    def peak_rss_mb(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def admin(self, method: str, path: str) -> dict:
        response = httpx.request(
            method, self.url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=120
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
        shutil.rmtree(self.home, ignore_errors=True)
