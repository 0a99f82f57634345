"""Reading the collectors' watermarks: when is a received day complete in the landing area?"""

from datetime import datetime

import orjson

from revolt_pipeline.contract import parse_timestamp
from revolt_pipeline.storage.layout import WATERMARKS
from revolt_pipeline.storage.object_store import ObjectStore


def read_watermarks(store: ObjectStore) -> dict[str, datetime]:
    """Each collector's promise: everything it received before this moment has landed."""
    watermarks = {}
    for info in store.list(WATERMARKS):
        document = orjson.loads(store.get(info.key))
        moment = parse_timestamp(document.get("watermark", ""))
        if moment is None:
            raise ValueError(f"unreadable watermark in {store.uri(info.key)}: {document!r}")
        watermarks[document.get("collectorId", info.key)] = moment
    return watermarks


def lagging_collectors(watermarks: dict[str, datetime], moment: datetime) -> dict[str, datetime]:
    """Collectors that may still hold events received before `moment`."""
    return {collector: mark for collector, mark in sorted(watermarks.items()) if mark < moment}
