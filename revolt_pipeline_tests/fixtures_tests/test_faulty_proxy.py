"""The fault proxy forwards S3 traffic untouched, and refuses or hangs on demand."""

import contextlib
import time

import pytest

from revolt_pipeline.storage import ObjectStore
from revolt_pipeline_tests.fixtures.faults import HANG, PASS, RESET, FaultyProxy
from revolt_pipeline_tests.fixtures.s3 import S3Bucket

pytestmark = pytest.mark.services


def store_through(proxy: FaultyProxy, bucket: S3Bucket) -> ObjectStore:
    return ObjectStore(bucket.url("lake"), s3_endpoint_url=proxy.endpoint_url)


def test_traffic_passes_untouched(faulty_s3: FaultyProxy, s3_bucket: S3Bucket) -> None:
    store = store_through(faulty_s3, s3_bucket)
    store.put("a/b.bin", bytes(range(256)) * 1000)
    assert store.get("a/b.bin") == bytes(range(256)) * 1000


def test_reset_refuses_then_pass_recovers(faulty_s3: FaultyProxy, s3_bucket: S3Bucket) -> None:
    store = store_through(faulty_s3, s3_bucket)
    faulty_s3.set_mode(RESET)
    with pytest.raises(OSError):
        store.put("x", b"1")
    faulty_s3.set_mode(PASS)
    store.put("x", b"1")
    assert store.get("x") == b"1"


def test_trip_on_a_key_fails_that_request(faulty_s3: FaultyProxy, s3_bucket: S3Bucket) -> None:
    store = store_through(faulty_s3, s3_bucket)
    store.put("before", b"ok")
    faulty_s3.trip_on(b"/lake/target")
    with pytest.raises(OSError):
        store.put("target", b"never")
    assert faulty_s3.tripped.is_set() and faulty_s3.mode == RESET
    faulty_s3.set_mode(PASS)
    assert not store.exists("target")


def test_a_tripped_reset_heals_after_that_many_refused_connections(faulty_s3: FaultyProxy, s3_bucket: S3Bucket) -> None:
    store = store_through(faulty_s3, s3_bucket)
    faulty_s3.trip_on(b"/lake/target", heal_after=2)
    for _ in range(5):  # a failed put meets a refusal or more, however often the client retries inside
        with contextlib.suppress(OSError):
            store.put("target", b"accepted")
            break
    assert faulty_s3.tripped.is_set() and faulty_s3.refused == 2 and faulty_s3.mode == PASS
    assert store.get("target") == b"accepted"


def test_hang_holds_the_client(faulty_s3: FaultyProxy, s3_bucket: S3Bucket) -> None:
    import threading

    store = store_through(faulty_s3, s3_bucket)
    store.put("warm", b"1")
    faulty_s3.set_mode(HANG)
    finished = threading.Event()

    def put() -> None:
        try:
            store.put("held", b"2")
        finally:
            finished.set()

    threading.Thread(target=put, daemon=True).start()
    time.sleep(1.5)
    assert not finished.is_set()
    faulty_s3.set_mode(PASS)
    assert finished.wait(30)
