"""The event contract: which Segment-compatible messages we accept, and what the collector lands."""

from revolt_pipeline.contract.envelope import Receipt, landed_record
from revolt_pipeline.contract.messages import MESSAGE_TYPES, Message
from revolt_pipeline.contract.timestamps import format_timestamp, parse_timestamp
from revolt_pipeline.contract.validation import Rejection, validate_message

__all__ = [
    "MESSAGE_TYPES",
    "Message",
    "Receipt",
    "Rejection",
    "format_timestamp",
    "landed_record",
    "parse_timestamp",
    "validate_message",
]
