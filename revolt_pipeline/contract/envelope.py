"""The landed record: what the collector adds around a message, with the message kept as sent.

One JSON line per accepted event:

    {"messageId", "type", "receivedAt", "sentAt", "originalTimestamp", "timestamp", "clockSkewMs",
     "source", "platform", "collector", "messageIdGenerated", "ipCountry", "clientIp", "batchContext",
     "messageBytes", "message"}

The client's bytes stay untouched under `message`: that is what "lossless" means here (less any
write key, and with line breaks as spaces: docs/event-contract.md). The fields around it are ours
and typed. Their times are integers, milliseconds since the Unix epoch in UTC: exact, cheap to
compute for every event, and typed without parsing downstream. `ipCountry` is the country of the event's
address (its `context.ip`, else the batch's, else `clientIp`) found before the collector truncated or dropped
them (`contract/addresses.py`): the one place the full address was known. `message` comes last and
`messageBytes` gives its length, so a reader can cut the message out of the line exactly, without a
JSON parser that would re-serialize it (`1.10` read and written again is `1.1`).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from revolt_pipeline.contract.messages import Message

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, truncated like every formatted timestamp: exact integer arithmetic."""
    return (moment - _EPOCH) // _MILLISECOND


def _number(value: int | None) -> bytes:
    return b"null" if value is None else b"%d" % value


@dataclass(frozen=True, slots=True)
class Receipt:
    """What is the same for every message of one request."""

    received_at_ms: int
    sent_at_ms: int | None
    batch_context: bytes | None
    source: str
    platform: str
    collector: str
    # The sender's address (through trusted proxies) as the IP policy keeps it; cleaning's context.ip default.
    client_ip: str | None = None

    def shared_fields(self) -> bytes:
        """The record's fields that every message of the request shares, serialized once."""
        return orjson.dumps(
            {
                "receivedAt": self.received_at_ms,
                "source": self.source,
                "platform": self.platform,
                "collector": self.collector,
                "clientIp": self.client_ip,
                # Last of them, right before messageBytes: a reader finds its bytes between the two.
                "batchContext": None if self.batch_context is None else orjson.Fragment(self.batch_context),
            }
        )[1:-1]


def landed_record(
    message: Message, raw: bytes, receipt: Receipt, shared_fields: bytes, ip_country: str | None = None
) -> bytes:
    """The record to spool for an accepted message; `shared_fields` is `receipt.shared_fields()`.

    Clock skew is corrected the standard way, `timestamp = receivedAt - (sentAt - originalTimestamp)`:
    both device times come from the same (possibly wrong) clock, so their difference can be trusted
    even when the clock cannot. Server-side libraries send `timestamp` instead of
    `originalTimestamp`; it is the device time all the same. Built by formatting bytes rather than
    serializing a dict: this runs for every event at full rate.
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
    generated = message.messageId is None
    return (
        b'{"messageId":%b,"type":"%b","sentAt":%b,"originalTimestamp":%b,"timestamp":%d,"clockSkewMs":%b,'
        b'"messageIdGenerated":%b,"ipCountry":%b,%b,"messageBytes":%d,"message":%b}'
        % (
            orjson.dumps(str(uuid.uuid4()) if generated else message.messageId),
            message.__struct_config__.tag.encode(),
            _number(sent_at_ms),
            _number(original_ms),
            corrected_ms,
            _number(skew_ms),
            b"true" if generated else b"false",
            b"null" if ip_country is None else orjson.dumps(ip_country),
            shared_fields,
            len(raw),
            raw,
        )
    )
