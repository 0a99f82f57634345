"""The dashboard as a real HTTP server for tests: `create_app` under uvicorn on a 127.0.0.1 port, in a thread
(what `revolt dashboard` runs, without a process to start). The browser tests keep their screenshots where
`artifacts.py` says."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from revolt_pipeline.dashboard.app import create_app
from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.fixtures.services import free_port

# A script for the browser: per chart on the page, its texts laid out outside its viewBox and how many pairs of
# x-axis labels overlap, by chromium's own text layout (`getBBox`).
MEASURE = """() => [...document.querySelectorAll('svg.chart')].map(svg => {
    const box = svg.viewBox.baseVal;
    const outside = [...svg.querySelectorAll('text')].filter(t => {
        const b = t.getBBox();
        return b.x < box.x - 0.5 || b.y < box.y - 0.5 || b.x + b.width > box.x + box.width + 0.5
            || b.y + b.height > box.y + box.height + 0.5;
    }).map(t => t.textContent);
    const labels = [...svg.querySelectorAll('text.x-label')].map(t => t.getBBox()).sort((a, b) => a.x - b.x);
    const overlaps = labels.slice(1).filter((b, i) => b.x < labels[i].x + labels[i].width).length;
    return {title: svg.getAttribute('aria-label'), outside, overlaps, labels: labels.length};
})"""


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
