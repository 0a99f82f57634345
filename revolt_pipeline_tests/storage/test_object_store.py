"""One object store interface, the same behaviour on a local folder and on S3 over HTTP."""

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from revolt_pipeline.storage import ObjectStore
from revolt_pipeline_tests.fixtures.s3 import S3Bucket


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "file":
        yield ObjectStore((tmp_path / "store").as_uri())
    else:
        bucket: S3Bucket = request.getfixturevalue("s3_bucket")
        yield ObjectStore(bucket.url("prefix/inside"), s3_endpoint_url=bucket.endpoint_url)


def test_put_get_list_delete(store: ObjectStore) -> None:
    store.put("landing/received_date=2026-11-20/hour=10/a.jsonl.gz", b"\x1f\x8bnot really gzip")
    store.put("landing/received_date=2026-11-20/hour=11/b.jsonl.gz", b"two")
    store.put("watermarks/c.json", b"{}")
    assert store.get("landing/received_date=2026-11-20/hour=10/a.jsonl.gz") == b"\x1f\x8bnot really gzip"
    keys = [info.key for info in store.list("landing/received_date=2026-11-20")]
    assert keys == [
        "landing/received_date=2026-11-20/hour=10/a.jsonl.gz",
        "landing/received_date=2026-11-20/hour=11/b.jsonl.gz",
    ]
    assert [info.size for info in store.list("watermarks")] == [2]
    assert store.exists("watermarks/c.json")
    store.delete("watermarks/c.json")
    store.delete("watermarks/c.json")  # deleting twice is fine
    assert not store.exists("watermarks/c.json")
    assert list(store.list("nothing/here")) == []
    with pytest.raises(FileNotFoundError, match="no object"):
        store.get("watermarks/c.json")


def test_emptying_a_store_leaves_nothing_but_its_root(store: ObjectStore, tmp_path: Path) -> None:
    assert store.is_empty()
    store.put("events/event_date=2026-11-20/part-0.parquet", b"x")
    assert not store.is_empty()
    store.delete_everything()
    assert store.is_empty() and list(store.list()) == []
    store.put("again.txt", b"y")  # still usable
    assert [info.key for info in store.list()] == ["again.txt"]


def test_put_replaces_an_object_whole(store: ObjectStore) -> None:
    store.put("k/object.bin", b"a" * 1000)
    store.put("k/object.bin", b"b" * 10)
    assert store.get("k/object.bin") == b"b" * 10


def test_a_reader_never_sees_half_an_object(store: ObjectStore) -> None:
    big_a, big_b = b"a" * 3_000_000, b"b" * 3_000_000
    store.put("k/big.bin", big_a)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(store.get("k/big.bin")[-1:] + bytes([len(store.get("k/big.bin")) % 251]))

    reader = threading.Thread(target=read)
    reader.start()
    for data in (big_b, big_a, big_b):
        store.put("k/big.bin", data)
    stop.set()
    reader.join()
    assert seen <= {b"a" + bytes([3_000_000 % 251]), b"b" + bytes([3_000_000 % 251])}
    assert [info.key for info in store.list("k")] == ["k/big.bin"]  # no temporary files visible


@pytest.mark.parametrize("key", ["", "../escape", "a/../../b"])
def test_invalid_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        ObjectStore(tmp_path.as_uri()).put(key, b"x")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example/x", "file:// or s3://"),
        ("s3:///nobucket", "need a bucket"),
        ("file://host/x", "absolute"),
    ],
)
def test_invalid_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ObjectStore(url)
