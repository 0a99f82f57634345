"""Turning one ingestion request into records to spool and an answer: no I/O, testable on its own.

The order of checks decides what a sender learns: the write key first when it comes as HTTP Basic
(so strangers get 401 before we spend time on their body), then the body's encoding and JSON, then
each message. Anything refused from a known source becomes a quarantine record with its reason and
raw payload, so nothing a real app sent is silently dropped.
"""

import base64
import binascii
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
import orjson

from revolt_pipeline.contract import Message, Receipt, Rejection, landed_record, validate_message
from revolt_pipeline.contract.envelope import epoch_ms
from revolt_pipeline.contract.messages import ABSENT, AwareTimestamp
from revolt_pipeline.sources import Source

BATCH = "batch"


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024


@dataclass
class IngestOutcome:
    status: int
    body: dict[str, Any]
    source: Source | None = None
    accepted: list[bytes] = field(default_factory=list)
    quarantined: list[bytes] = field(default_factory=list)
    rejection_reasons: list[str] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def basic_auth_user(authorization: str | None) -> str | None:
    """The user name of an HTTP Basic header, which Segment's SDKs use to carry the write key."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise _Refused(401, "invalid_authorization", "Authorization must be HTTP Basic with the write key as user")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _Refused(401, "invalid_authorization", "Authorization header is not valid base64") from None
    return decoded.partition(":")[0]


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The request body as sent before compression, refusing anything larger than `limit` bytes."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        if len(body) > limit:
            raise _Refused(413, "batch_too_large", f"request body exceeds {limit} bytes")
        return body
    if encoding != "gzip":
        raise _Refused(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _Refused(400, "invalid_encoding", f"body is not valid gzip: {exc}") from None
    if len(data) > limit:
        raise _Refused(413, "batch_too_large", f"decompressed body exceeds {limit} bytes")
    if not inflater.eof:
        raise _Refused(400, "invalid_encoding", "gzip body is truncated")
    return data


class _Batch(msgspec.Struct):
    batch: list[msgspec.Raw]
    sentAt: AwareTimestamp | None = None
    context: msgspec.Raw = ABSENT
    writeKey: str | None = None


_batch_decoder = msgspec.json.Decoder(_Batch)


def process_request(
    body: bytes,
    *,
    endpoint: str,
    content_encoding: str | None,
    authorization: str | None,
    origin: str | None = None,
    lookup_source: Callable[[str], Source | None],
    limits: Limits,
    received_at: datetime,
    collector_id: str,
) -> IngestOutcome:
    """Validate one request's messages and build their landed records. `endpoint`: `batch` or a type.

    `origin` is the browser's `Origin` header: a source accepts only the origins it allows (apps send none).
    """
    source: Source | None = None
    received_ms = epoch_ms(received_at)
    try:
        header_key = basic_auth_user(authorization)
        if header_key is not None:
            source = _known_source(header_key, lookup_source)
        text = decode_body(body, content_encoding, limits.max_batch_bytes)
        if endpoint == BATCH:
            batch = _decode_batch(text)
            messages, sent_at, context, body_key = batch.batch, batch.sentAt, batch.context, batch.writeKey
        else:
            message, body_key = _single_message(text, endpoint)
            messages, sent_at, context = [message], None, ABSENT
        if source is None:
            if not body_key:
                raise _Refused(401, "missing_write_key", "send the write key as HTTP Basic user or as writeKey")
            source = _known_source(body_key, lookup_source)
        if origin is not None and not source.allows_origin(origin):
            raise _Refused(
                403, "origin_not_allowed", f"source {source.name!r} does not allow browser origin {origin!r}"
            )
        if memoryview(context)[:1].tobytes() not in (b"{", b"n"):
            raise _Refused(400, "invalid_batch", "the batch's context must be an object")
    except _Refused as refused:
        outcome = IngestOutcome(refused.status, _error(refused.code, refused.message), source)
        outcome.rejection_reasons.append(refused.code)
        if source is None and refused.status == 400:
            source = _source_from_body(body, content_encoding, limits, lookup_source)
        # A forgotten allowed origin is a configuration slip of a real site: keep its events to recover.
        if source is not None and refused.status in (400, 403, 415):
            outcome.quarantined.append(
                _quarantine_record(
                    refused.code,
                    refused.message,
                    None,
                    endpoint,
                    source,
                    received_ms,
                    collector_id,
                    raw_body=body,
                )
            )
        return outcome

    receipt = Receipt(
        received_at_ms=received_ms,
        sent_at_ms=None if sent_at is None else epoch_ms(sent_at),
        batch_context=None if context is ABSENT or bytes(context) == b"null" else orjson.Fragment(bytes(context)),
        source=source.name,
        platform=source.platform,
        collector=collector_id,
    )
    shared_fields = receipt.shared_fields()
    outcome = IngestOutcome(200, {}, source)
    rejected: list[dict[str, Any]] = []
    # analytics.js repeats the write key inside each message; only then is it worth looking for.
    keys_inside = endpoint == BATCH and text.count(b'"writeKey"') > (1 if body_key else 0)
    for index, item in enumerate(messages):
        raw = bytes(item)
        if keys_inside and b'"writeKey"' in raw:
            raw = _without_write_key(raw)
        if len(raw) > limits.max_message_bytes:
            result: Message | Rejection = Rejection(
                "message_too_large", f"message is {len(raw)} bytes; the limit is {limits.max_message_bytes}"
            )
        else:
            result = validate_message(raw)
        if isinstance(result, Rejection):
            outcome.rejection_reasons.append(result.reason)
            outcome.quarantined.append(
                _quarantine_record(
                    result.reason,
                    result.detail,
                    index,
                    endpoint,
                    source,
                    received_ms,
                    collector_id,
                    payload=raw,
                )
            )
            rejected.append({"index": index, **result.as_dict(), **_message_id_of(raw)})
            continue
        outcome.accepted.append(landed_record(result, raw, receipt, shared_fields))

    if rejected and not outcome.accepted:
        too_large = all(entry["reason"] == "message_too_large" for entry in rejected)
        outcome.status = 413 if too_large else 400
        first = rejected[0]
        outcome.body = _error(first["reason"], first["message"])
        if endpoint == BATCH:
            outcome.body["message"] = f"no valid message in the batch; first: {first['message']}"
            outcome.body["rejected"] = rejected
    else:
        outcome.body = {"success": True, "accepted": len(outcome.accepted)}
        if rejected:
            outcome.body["rejected"] = rejected
    return outcome


def _decode_batch(text: bytes) -> _Batch:
    try:
        return _batch_decoder.decode(text)
    except msgspec.ValidationError as error:
        if "datetime" in str(error):
            raise _Refused(400, "invalid_timestamp", str(error)) from None
        raise _Refused(400, "invalid_batch", f"a batch is an object with a `batch` array: {error}") from None
    except msgspec.DecodeError as error:
        raise _Refused(400, "malformed_json", f"body is not valid JSON: {error}") from None


def _single_message(text: bytes, endpoint: str) -> tuple[bytes, str | None]:
    """A single-message body as raw JSON with its type filled in, and the write key it carried."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise _Refused(400, "malformed_json", f"body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise _Refused(400, "not_an_object", "a message must be a JSON object")
    key = document.pop("writeKey", None)
    kind = document.setdefault("type", endpoint)
    if kind != endpoint:
        raise _Refused(400, "type_mismatch", f"type {kind!r} sent to the {endpoint} endpoint")
    return orjson.dumps(document), key if isinstance(key, str) else None


def _source_from_body(
    body: bytes, content_encoding: str | None, limits: Limits, lookup_source: Callable[[str], Source | None]
) -> Source | None:
    """Find who sent a body we refused, so its payload is quarantined rather than lost."""
    try:
        document = orjson.loads(decode_body(body, content_encoding, limits.max_batch_bytes))
    except (orjson.JSONDecodeError, _Refused):
        return None
    key = document.get("writeKey") if isinstance(document, dict) else None
    return lookup_source(key) if isinstance(key, str) else None


def _without_write_key(raw: bytes) -> bytes:
    """The message without its write key: a credential, not event data."""
    document = orjson.loads(raw)
    if isinstance(document, dict):
        document.pop("writeKey", None)
    return orjson.dumps(document)


def _message_id_of(raw: bytes) -> dict[str, str]:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    message_id = document.get("messageId") if isinstance(document, dict) else None
    return {"messageId": message_id} if isinstance(message_id, str) else {}


def _known_source(write_key: str, lookup_source: Callable[[str], Source | None]) -> Source:
    source = lookup_source(write_key)
    if source is None:
        raise _Refused(401, "unknown_write_key", "the write key is not configured for any source")
    return source


def _error(code: str, message: str) -> dict[str, Any]:
    # `code` and `message` are what Segment's SDKs read from an error body.
    return {"success": False, "code": code, "message": message}


def _quarantine_record(
    reason: str,
    detail: str,
    index: int | None,
    endpoint: str,
    source: Source,
    received_ms: int,
    collector_id: str,
    *,
    payload: bytes | None = None,
    raw_body: bytes | None = None,
) -> bytes:
    record: dict[str, Any] = {
        "receivedAt": received_ms,
        "reason": reason,
        "detail": detail,
        "endpoint": endpoint,
        "index": index,
        "source": source.name,
        "platform": source.platform,
        "collector": collector_id,
        "payload": None if payload is None else orjson.Fragment(payload),
    }
    if raw_body is not None:
        record["rawBodyBase64"] = base64.b64encode(raw_body).decode("ascii")
    return orjson.dumps(record)
