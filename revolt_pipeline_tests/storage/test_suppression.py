"""The suppression list: pseudonyms only, added to and never lost, replaced whole on a folder and on S3."""

from pathlib import Path

import pytest

from revolt_pipeline.contract.pseudonyms import pseudonym
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.suppression import (
    SUPPRESSION_KEY,
    SuppressionListError,
    read_suppressed,
    suppress,
)
from revolt_pipeline_tests.fixtures.s3 import S3Bucket

SALT = "test-salt"


def test_no_list_yet_suppresses_no_one(tmp_path: Path) -> None:
    assert read_suppressed(ObjectStore(tmp_path.as_uri())) == frozenset()


def test_suppress_adds_and_keeps_what_is_there(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path.as_uri())
    first, second = pseudonym(SALT, "user-1"), pseudonym(SALT, "anon-2")
    suppress(store, [first])
    suppress(store, [second, first])
    assert read_suppressed(store) == {first, second}
    assert b"user-1" not in store.get(SUPPRESSION_KEY)


def test_ids_in_clear_are_refused(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path.as_uri())
    with pytest.raises(ValueError, match="pseudonyms"):
        suppress(store, ["user-1"])
    assert not store.exists(SUPPRESSION_KEY)


@pytest.mark.parametrize("content", [b"not json", b"[]", b'{"pseudonyms": ["user-1"]}', b'{"pseudonyms": 3}'])
def test_an_unreadable_list_is_an_error_and_is_not_overwritten(tmp_path: Path, content: bytes) -> None:
    store = ObjectStore(tmp_path.as_uri())
    store.put(SUPPRESSION_KEY, content)
    with pytest.raises(SuppressionListError):
        read_suppressed(store)
    with pytest.raises(SuppressionListError):
        suppress(store, [pseudonym(SALT, "user-2")])
    assert store.get(SUPPRESSION_KEY) == content


def test_the_list_on_s3(s3_bucket: S3Bucket) -> None:
    store = ObjectStore(s3_bucket.url("lake"), s3_endpoint_url=s3_bucket.endpoint_url)
    entries = {pseudonym(SALT, f"user-{n}") for n in range(3)}
    suppress(store, entries)
    assert read_suppressed(store) == entries
