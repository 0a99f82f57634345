"""JSON for messages: orjson when it is installed (over ten times faster), the standard library when not.

Both paths give the same text: UTF-8, compact, datetimes in the collector's RFC 3339 form, and NaN or
infinities written as null (they are not JSON; the collector would refuse the whole batch for them).
"""

import json
import math
import re
from datetime import date, datetime
from typing import Any
from uuid import UUID

from revolt_pipeline.sdk.context import format_timestamp

try:
    import orjson
except ImportError:  # the SDK needs nothing beyond the standard library
    orjson = None  # type: ignore[assignment]


def _default(value: Any) -> Any:
    # The values applications commonly put in properties that JSON cannot write by itself.
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# Built once: json.dumps() with options builds a new encoder on every call.
_standard_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=True, separators=(",", ":"), default=_default).encode
_NON_FINITE = re.compile(r"[:,\[](?:-?Infinity|NaN)(?=[,\]}])")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def encode_json(value: Any) -> tuple[str, int]:
    """The JSON text of `value` and its size in UTF-8 bytes. Raises TypeError or ValueError if it has none."""
    if orjson is not None:
        data = orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
        return data.decode("utf-8"), len(data)
    text = _standard_encode(value)
    if _NON_FINITE.search(text):  # rare; a string that merely looks like one costs a second pass
        text = _standard_encode(_finite(value))
    return text, len(text) if text.isascii() else len(text.encode("utf-8"))
