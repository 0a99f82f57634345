"""The suppression list: the pseudonyms of deleted ids, whose new events the collector drops.

It holds pseudonyms (`contract.pseudonyms.pseudonym(salt, id)`, the salt `Settings.resolved_privacy_salt()`),
never ids in clear: the list itself must not keep what a deletion removed. One JSON object in the store,
`{"pseudonyms": [...sorted...]}`, replaced whole (`ObjectStore.put` is atomic on a folder and on S3), so a
collector reading it while a deletion writes it sees either list, never half of one. Entries are only ever added:
an id once deleted stays suppressed.
"""

import re
from collections.abc import Iterable

import orjson

from revolt_pipeline.storage.object_store import ObjectStore

SUPPRESSION_KEY = "privacy/suppressed.json"
_PSEUDONYM = re.compile(r"[0-9a-f]{64}")


class SuppressionListError(ValueError):
    """The stored list cannot be read as one: the collector keeps the list it had, deletion refuses to extend it."""


def read_suppressed(store: ObjectStore) -> frozenset[str]:
    """The pseudonyms on the list; empty when there is no list yet. SuppressionListError when it is unreadable."""
    try:
        data = store.get(SUPPRESSION_KEY)
    except FileNotFoundError:
        return frozenset()
    return parse_suppressed(data, store.uri(SUPPRESSION_KEY))


def parse_suppressed(data: bytes, where: str = SUPPRESSION_KEY) -> frozenset[str]:
    """The pseudonyms of a stored list's bytes, refusing anything that is not a list of hex SHA-256 digests."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SuppressionListError(f"{where} is not JSON: {exc}") from None
    entries = document.get("pseudonyms") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SuppressionListError(f'{where} must be an object with a "pseudonyms" array')
    bad = [entry for entry in entries if not isinstance(entry, str) or not _PSEUDONYM.fullmatch(entry)]
    if bad:
        raise SuppressionListError(
            f"{where} holds {len(bad)} entries that are not pseudonyms (64 lowercase hex digits), e.g. {bad[0]!r}"
        )
    return frozenset(entries)


def suppress(store: ObjectStore, pseudonyms: Iterable[str]) -> None:
    """Add pseudonyms to the list, keeping those already there; the list is replaced whole, atomically.

    Not a transaction across writers: two deletions adding at the same moment could each keep only their own
    additions. Deletions run one at a time (one Dagster job), and each re-adds its ids when re-run.
    """
    new = frozenset(pseudonyms)
    bad = [entry for entry in new if not isinstance(entry, str) or not _PSEUDONYM.fullmatch(entry)]
    if bad:
        raise ValueError(f"not pseudonyms (64 lowercase hex digits; hash ids first): {len(bad)} entries")
    current = read_suppressed(store)
    if new <= current:
        return
    store.put(SUPPRESSION_KEY, orjson.dumps({"pseudonyms": sorted(current | new)}))
