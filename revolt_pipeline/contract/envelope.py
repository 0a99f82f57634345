"""The landed record: what the collector adds around a message, with the message kept as sent.

One JSON line per accepted event:

    {"messageId", "type", "receivedAt", "sentAt", "originalTimestamp", "timestamp", "clockSkewMs",
     "source", "platform", "collector", "messageIdGenerated", "batchContext", "message"}

The client's bytes stay untouched under `message`: that is what "lossless" means here. The fields
around it are ours and typed. Their times are integers, milliseconds since the Unix epoch in UTC:
exact, cheap to compute for every event, and typed without parsing downstream.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson

from revolt_pipeline.contract.messages import Message


def epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What is the same for every message of one request."""

    received_at_ms: int
    sent_at_ms: int | None
    batch_context: orjson.Fragment | None
    source: str
    platform: str
    collector: str


def landed_record(message: Message, raw: bytes, receipt: Receipt) -> bytes:
    """The record to spool for an accepted message.

    Clock skew is corrected the standard way, `timestamp = receivedAt - (sentAt - originalTimestamp)`:
    both device times come from the same (possibly wrong) clock, so their difference can be trusted
    even when the clock cannot. Server-side libraries send `timestamp` instead of
    `originalTimestamp`; it is the device time all the same.
    """
    original = message.originalTimestamp or message.timestamp
    original_ms = None if original is None else epoch_ms(original)
    sent_at_ms = receipt.sent_at_ms if message.sentAt is None else epoch_ms(message.sentAt)
    received_ms = receipt.received_at_ms
    if original_ms is None:
        corrected_ms, skew_ms = received_ms, None
    elif sent_at_ms is None:
        corrected_ms, skew_ms = original_ms, None
    else:
        corrected_ms, skew_ms = received_ms - (sent_at_ms - original_ms), sent_at_ms - received_ms
    return orjson.dumps(
        {
            "messageId": message.messageId or str(uuid.uuid4()),
            "type": message.__struct_config__.tag,
            "receivedAt": received_ms,
            "sentAt": sent_at_ms,
            "originalTimestamp": original_ms,
            "timestamp": corrected_ms,
            "clockSkewMs": skew_ms,
            "source": receipt.source,
            "platform": receipt.platform,
            "collector": receipt.collector,
            "messageIdGenerated": message.messageId is None,
            "batchContext": receipt.batch_context,
            "message": orjson.Fragment(raw),
        }
    )
