"""/health tells a load balancer and monitoring every condition that makes ingest fail or landing stall.

Each fault is real: a spool on a small tmpfs filled to the last byte, a read-only file system mounted over
the spool, a frozen ext4 file system (writes block as on a dying disk), and S3 behind a proxy that resets
or holds every connection. After each, the collector recovers to `ok` by itself and every acknowledged
event lands exactly once.
"""

import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from revolt_pipeline.collector.server import CollectorServer
from revolt_pipeline.defs.ingestion.resources import HttpCollectorResource
from revolt_pipeline.sources import add_source
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline_tests.fixtures.collector import (
    ADMIN_TOKEN,
    SOURCES,
    CollectorProcess,
    collector_config,
    read_landed,
)
from revolt_pipeline_tests.fixtures.faults import HANG, PASS, RESET, FaultyProxy
from revolt_pipeline_tests.fixtures.s3 import S3Bucket
from revolt_pipeline_tests.fixtures.services import unavailable

WRITE_KEY = SOURCES["ios"][1]


def batch(start: int, size: int) -> bytes:
    messages = [
        {"type": "track", "event": "Entry Saved", "userId": f"u{n % 7}", "messageId": f"m-{n}"}
        for n in range(start, start + size)
    ]
    return orjson.dumps({"batch": messages})


def health(url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(url + "/health", timeout=10)
    return response.status_code, response.json()


def codes(report: dict[str, Any]) -> set[str]:
    return {problem["code"] for problem in report["problems"]}


def wait_for_health(url: str, accept: Callable[[int, dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
    """Poll /health until `accept(status, report)`; the faults' effects show within a few upload rounds."""
    deadline = time.monotonic() + timeout
    while True:
        status, report = health(url)
        if accept(status, report):
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"/health never became what the test waits for; last: {status} {report}")
        time.sleep(0.1)


def flush(url: str) -> dict[str, Any]:
    response = httpx.post(url + "/admin/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def assert_landed_once(store: ObjectStore, acknowledged: set[str]) -> None:
    landed = [record["messageId"] for record in read_landed(store)]
    assert sorted(landed) == sorted(acknowledged)


def run_as_root(*command: str) -> None:
    """Mount and freeze need root (tests and CI run as root); elsewhere the test cannot build its fault."""
    if shutil.which(command[0]) is None:
        unavailable(f"{command[0]} is not installed")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        unavailable(f"cannot run {' '.join(command)} (needs root): {result.stderr.strip()}")


@contextlib.contextmanager
def mounted(mountpoint: Path, source: str, *options: str) -> Iterator[Path]:
    mountpoint.mkdir(parents=True, exist_ok=True)
    run_as_root("mount", *options, source, str(mountpoint))
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)


def fill(folder: Path) -> Path:
    """Write a file until the file system has no byte left, as a disk filled by something else would."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * size)
    assert shutil.disk_usage(folder).free == 0
    return filler


def post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url + "/v1/batch", content=body, auth=(WRITE_KEY, ""), timeout=60)


def test_a_full_spool_disk_makes_health_unavailable_until_space_is_back(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    with mounted(tmp_path / "spool", "tmpfs", "-t", "tmpfs", "-o", "size=4m") as spool:
        collector = collector_process(tmp_path, env={"REVOLT_SPOOL_DIR": str(spool), "REVOLT_MAX_BATCH_BYTES": "65536"})
        assert health(collector.url)[0] == 200
        acknowledged: set[str] = set()
        assert post(collector.url, batch(0, 50)).status_code == 200
        acknowledged |= {f"m-{n}" for n in range(50)}

        filler = fill(spool)
        refused = post(collector.url, batch(50, 50))
        assert refused.status_code == 503
        assert refused.json()["code"] == "spool_unavailable"
        status, report = health(collector.url)
        assert (status, report["status"]) == (503, "unavailable")
        assert {"spool_write_failed", "spool_low_space"} <= codes(report)
        failed = next(p for p in report["problems"] if p["code"] == "spool_write_failed")
        assert "No space left on device" in failed["reason"]
        assert report["spoolFreeBytes"] == 0

        filler.unlink()  # the operator frees space: health sees it without waiting for traffic
        status, report = health(collector.url)
        assert (status, report["status"], report["problems"]) == (200, "ok", [])
        assert post(collector.url, batch(100, 50)).status_code == 200
        acknowledged |= {f"m-{n}" for n in range(100, 150)}
        flush(collector.url)
        collector.stop()  # before unmounting its spool
    assert_landed_once(ObjectStore((tmp_path / "store").as_uri()), acknowledged)


def test_a_read_only_spool_folder_makes_health_unavailable(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    collector = collector_process(tmp_path)
    with mounted(tmp_path / "spool" / "events", "tmpfs", "-t", "tmpfs", "-o", "ro,size=64m"):
        status, report = health(collector.url)
        assert (status, report["status"]) == (503, "unavailable")
        assert codes(report) == {"spool_not_writable"}
        assert "events spool" in report["problems"][0]["reason"]
        refused = post(collector.url, batch(0, 5))
        assert refused.status_code == 503
        assert "spool_write_failed" in codes(health(collector.url)[1])
    assert health(collector.url)[1]["status"] == "ok"
    assert post(collector.url, batch(5, 5)).status_code == 200
    flush(collector.url)
    assert_landed_once(ObjectStore((tmp_path / "store").as_uri()), {f"m-{n}" for n in range(5, 10)})


def test_a_spool_write_that_hangs_makes_health_unavailable(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    image = tmp_path / "spool.img"
    with open(image, "wb") as handle:
        handle.truncate(16 << 20)
    run_as_root("mkfs.ext4", "-q", str(image))
    with mounted(tmp_path / "spool", str(image), "-o", "loop") as spool:
        collector = collector_process(
            tmp_path, env={"REVOLT_SPOOL_DIR": str(spool), "REVOLT_SPOOL_STALL_SECONDS": "0.5"}
        )
        assert post(collector.url, batch(0, 5)).status_code == 200
        run_as_root("fsfreeze", "--freeze", str(spool))
        answers: list[httpx.Response] = []
        try:
            sender = threading.Thread(target=lambda: answers.append(post(collector.url, batch(5, 5))))
            sender.start()
            report = wait_for_health(collector.url, lambda status, r: "spool_write_hanging" in codes(r))
            assert report["status"] == "unavailable"
            assert health(collector.url)[0] == 503
        finally:
            subprocess.run(["fsfreeze", "--unfreeze", str(spool)], check=False)
        sender.join(60)
        assert [answer.status_code for answer in answers] == [200]  # held, never lost
        assert health(collector.url)[1]["status"] == "ok"
        flush(collector.url)
        collector.stop()
    assert_landed_once(ObjectStore((tmp_path / "store").as_uri()), {f"m-{n}" for n in range(10)})


def s3_collector(
    tmp_path: Path,
    collector_process: Callable[..., CollectorProcess],
    bucket: S3Bucket,
    proxy: FaultyProxy,
) -> CollectorProcess:
    """A collector landing in S3 through the proxy, sealing and uploading in the background at once."""
    return collector_process(
        tmp_path,
        env={
            "REVOLT_STORAGE_URL": bucket.url("events"),
            "REVOLT_S3_ENDPOINT_URL": proxy.endpoint_url,
            "REVOLT_SEGMENT_MAX_AGE_SECONDS": "0.2",
            "REVOLT_UPLOAD_INTERVAL_SECONDS": "0.2",
            "REVOLT_UPLOAD_STALL_SECONDS": "1",
        },
    )


def test_s3_refusing_degrades_health_while_events_are_still_accepted(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess], s3_bucket: S3Bucket, faulty_s3: FaultyProxy
) -> None:
    collector = s3_collector(tmp_path, collector_process, s3_bucket, faulty_s3)
    faulty_s3.set_mode(RESET)
    assert post(collector.url, batch(0, 20)).status_code == 200
    report = wait_for_health(collector.url, lambda s, r: {"upload_failed", "landing_lagging"} <= codes(r))
    assert report["status"] == "degraded"
    assert health(collector.url)[0] == 200  # ingest works: a load balancer keeps sending
    assert report["lastUploadError"]
    assert post(collector.url, batch(20, 20)).status_code == 200

    faulty_s3.set_mode(PASS)
    wait_for_health(collector.url, lambda status, r: status == 200 and r["status"] == "ok" and r["spoolEvents"] == 0)
    store = ObjectStore(s3_bucket.url("events"), s3_endpoint_url=s3_bucket.endpoint_url)
    assert_landed_once(store, {f"m-{n}" for n in range(40)})


def test_s3_hanging_degrades_health_and_recovers(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess], s3_bucket: S3Bucket, faulty_s3: FaultyProxy
) -> None:
    collector = s3_collector(tmp_path, collector_process, s3_bucket, faulty_s3)
    faulty_s3.set_mode(HANG)
    assert post(collector.url, batch(0, 20)).status_code == 200
    report = wait_for_health(collector.url, lambda s, r: "upload_hanging" in codes(r))
    assert (report["status"], report["uploadInFlightSeconds"] > 1) == ("degraded", True)
    assert post(collector.url, batch(20, 20)).status_code == 200

    faulty_s3.set_mode(PASS)
    wait_for_health(collector.url, lambda status, r: status == 200 and r["status"] == "ok" and r["spoolEvents"] == 0)
    store = ObjectStore(s3_bucket.url("events"), s3_endpoint_url=s3_bucket.endpoint_url)
    assert_landed_once(store, {f"m-{n}" for n in range(40)})


def test_a_collector_starts_while_s3_refuses_and_lands_once_it_is_back(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess], s3_bucket: S3Bucket, faulty_s3: FaultyProxy
) -> None:
    faulty_s3.set_mode(RESET)
    collector = s3_collector(tmp_path, collector_process, s3_bucket, faulty_s3)
    assert post(collector.url, batch(0, 10)).status_code == 200
    wait_for_health(collector.url, lambda status, r: status == 200 and "upload_failed" in codes(r))
    faulty_s3.set_mode(PASS)
    wait_for_health(collector.url, lambda status, r: r["status"] == "ok" and r["spoolEvents"] == 0)
    store = ObjectStore(s3_bucket.url("events"), s3_endpoint_url=s3_bucket.endpoint_url)
    assert_landed_once(store, {f"m-{n}" for n in range(10)})


def test_a_collector_without_sources_is_unavailable_until_one_is_added(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.touch()
    config = collector_config(tmp_path, (tmp_path / "store").as_uri())
    with CollectorServer(config) as server:
        status, report = health(server.url)
        assert (status, codes(report)) == (503, {"no_sources"})
        # The pipeline's resource reads the report rather than failing on the 503.
        resource = HttpCollectorResource(url=server.url, admin_token=ADMIN_TOKEN)
        assert resource.health()["status"] == "unavailable"
        add_source(sources, "web", "web", "wk_web_test")
        wait_for_health(server.url, lambda status, r: status == 200 and r["status"] == "ok", timeout=10)


def test_health_answers_ok_with_its_shape(tmp_path: Path) -> None:
    config = collector_config(tmp_path, (tmp_path / "store").as_uri())
    with CollectorServer(config) as server:
        response = httpx.get(server.url + "/health")
        assert response.headers["cache-control"] == "no-store"
        report = response.json()
        assert set(report) == {
            "status",
            "collectorId",
            "problems",
            "sources",
            "spoolEvents",
            "spoolBytes",
            "spoolFreeBytes",
            "uploadLagSeconds",
            "uploadInFlightSeconds",
            "lastUploadError",
        }
        assert (report["status"], report["problems"], report["sources"]) == ("ok", [], 4)
        assert report["spoolFreeBytes"] >= config.required_free_bytes
        assert report["uploadInFlightSeconds"] is None
