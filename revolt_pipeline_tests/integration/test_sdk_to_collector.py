"""Our SDK against the real collector over HTTP: every event lands, exactly, wherever it is stored."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from revolt_pipeline.sdk import Client
from revolt_pipeline_tests.fixtures.collector import SOURCES, CollectorHarness, CollectorProcess, read_landed

IOS_KEY = SOURCES["ios"][1]


def send_mixed_events(client: Client, count: int) -> set[str]:
    ids = set()
    for n in range(count):
        message_id = f"evt-{n}"
        user = {"user_id": f"user-{n % 97}"} if n % 5 else {"anonymous_id": f"anon-{n % 13}"}
        kind = n % 4
        if kind == 0:
            queued = client.track(**user, event="Timer Started", properties={"n": n}, message_id=message_id)
        elif kind == 1:
            queued = client.screen(**user, name="Timesheet", properties={"n": n}, message_id=message_id)
        elif kind == 2:
            queued = client.page(**user, name="Reports", properties={"path": "/reports"}, message_id=message_id)
        else:
            queued = client.identify(**user, traits={"plan": "team"}, message_id=message_id)
        assert queued
        ids.add(message_id)
    return ids


@pytest.mark.parametrize("harness_name", ["collector_server", "s3_collector_server"])
def test_sdk_events_land_as_gzip_json_lines_locally_and_in_s3(
    request: pytest.FixtureRequest, harness_name: str
) -> None:
    harness: CollectorHarness = request.getfixturevalue(harness_name)
    client = Client(IOS_KEY, harness.url, max_queue_size=20_000)
    sent = send_mixed_events(client, 5000)
    assert client.flush(timeout=120)
    client.shutdown()
    assert client.stats["sent"] == 5000

    report = harness.flush()
    landed = harness.landed()
    assert len(landed) == 5000
    assert {record["messageId"] for record in landed} == sent
    assert all(
        o["key"].endswith(".jsonl.gz") and o["key"].startswith("landing/received_date=") for o in report["uploaded"]
    )
    assert harness.landed("quarantine") == []
    by_type = Counter(record["type"] for record in landed)
    assert by_type == {"track": 1250, "screen": 1250, "page": 1250, "identify": 1250}
    assert all(
        record["source"] == "ios" and record["message"]["context"]["library"]["name"] == "revolt-python"
        for record in landed
    )


def test_disk_queue_delivers_everything_once_the_collector_comes_up(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "collector")  # not started yet: the SDK meets a closed port
    client = Client(IOS_KEY, collector.url, queue_path=tmp_path / "queue.sqlite", max_backoff=0.5)
    try:
        sent = send_mixed_events(client, 800)
        time.sleep(1.0)
        assert client.stats["retries"] > 0 and client.stats["sent"] == 0
        collector.start()
        assert client.flush(timeout=120)
    finally:
        client.shutdown()
    try:
        landed = _flushed_landing(collector)
    finally:
        collector.stop()
    assert sorted(record["messageId"] for record in landed) == sorted(sent)


CHILD = textwrap.dedent(
    """
    import sys
    from revolt_pipeline.sdk import Client

    url, key, queue, start, stop = sys.argv[1:6]
    client = Client(key, url, queue_path=queue, flush_interval=0.05, max_batch_size=50)
    for n in range(int(start), int(stop)):
        client.track(user_id="u", event="Tick", properties={"n": n}, message_id=f"seq-{n}")
        print(n, flush=True)
    client.flush(timeout=120)
    client.shutdown()
    print("done", flush=True)
    """
)


def test_a_sending_process_killed_mid_stream_loses_nothing(tmp_path: Path, collector_server: CollectorHarness) -> None:
    queue = tmp_path / "queue.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    first = subprocess.Popen(
        [sys.executable, "-c", CHILD, collector_server.url, IOS_KEY, str(queue), "0", "1000000"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert first.stdout is not None
    last_tracked = -1
    for line in first.stdout:
        last_tracked = int(line)
        if last_tracked >= 3000:
            break
    first.send_signal(signal.SIGKILL)
    first.wait(30)

    second = subprocess.run(
        [sys.executable, "-c", CHILD, collector_server.url, IOS_KEY, str(queue), "0", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert second.stdout.strip().endswith("done"), second.stderr

    collector_server.flush()
    delivered = Counter(record["messageId"] for record in collector_server.landed())
    missing = [n for n in range(last_tracked + 1) if f"seq-{n}" not in delivered]
    assert missing == []
    # At least once: only the batch in flight at the kill may arrive twice.
    assert sum(count - 1 for count in delivered.values()) <= 50


def _flushed_landing(collector: CollectorProcess) -> list[dict]:
    import httpx

    from revolt_pipeline.storage import ObjectStore
    from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN

    httpx.post(collector.url + "/admin/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)
    return read_landed(ObjectStore((collector.home / "store").as_uri()))
