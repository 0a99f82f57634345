"""Validating one raw message against the contract, with a stable reason code for every refusal.

`segment-message.schema.json` beside this module states the same rules for other tools; a test
keeps the two in agreement.
"""

from dataclasses import dataclass

import msgspec

from revolt_pipeline.contract.messages import ABSENT, AnyMessage, Message

_decoder = msgspec.json.Decoder(AnyMessage)
_OPEN_BRACE = ord("{")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message was refused: a stable machine code and a sentence for the sender."""

    reason: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.detail}


def _reason(error: msgspec.ValidationError) -> str:
    text = str(error)
    if "missing required field" in text:
        return "missing_field"
    if "at `$.type`" in text:
        return "unknown_type"
    if "datetime" in text:
        return "invalid_timestamp"
    if text.startswith("Expected `object`"):
        return "not_an_object"
    return "invalid_field"


def validate_message(raw: bytes) -> Message | Rejection:
    """The typed message, or the first thing wrong with it. `raw` is one message's JSON."""
    try:
        message = _decoder.decode(raw)
    except msgspec.ValidationError as error:
        return Rejection(_reason(error), str(error))
    except msgspec.DecodeError as error:
        return Rejection("malformed_json", str(error))
    if message.userId is None and message.anonymousId is None:
        return Rejection("missing_identity", "userId or anonymousId is required")
    # Left raw for speed; a value that is present must still be an object (or null).
    for value, field in (
        (message.context, "context"),
        (message.properties, "properties"),
        (message.traits, "traits"),
        (message.integrations, "integrations"),
    ):
        if value is not ABSENT and memoryview(value)[0] != _OPEN_BRACE and bytes(value) != b"null":
            return Rejection("invalid_field", f"{field} must be an object - at `$.{field}`")
    return message
