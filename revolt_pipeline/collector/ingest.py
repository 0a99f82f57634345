"""Turning one ingestion request into records to spool and an answer: no I/O, testable on its own.

The order of checks decides what a sender learns: the write key first when it comes as HTTP Basic
(so strangers get 401 before we spend time on their body), then the body's encoding and JSON, then
each message. Anything refused from a known source becomes a quarantine record with its reason and
raw payload, so nothing a real app sent is silently dropped.

JSON is checked strictly, once for the whole body (`revolt_pipeline.contract.json_bytes`): what two
readers could read two ways never lands. Only when that check fails is the batch taken apart to find
the messages at fault, so their neighbours are kept. A message is never re-serialized: it lands as
sent, less its write key and with line breaks as spaces (docs/event-contract.md). And no request
answers 5xx for its content: whatever goes wrong unexpectedly is logged, quarantined and answered
422, which SDKs do not retry. Only 503 (the spool cannot be written, retry) is a 5xx.

Privacy (`Privacy`): a message of a deleted id (its userId, anonymousId or alias previousId on the suppression
list) is dropped, counted and answered as accepted, so its SDK does not send it again; the request's and the
message's IP addresses (`clientIp`, `context.ip`, the batch's `context.ip`) are kept as the IP policy says, their
country found first (docs/privacy.md).
"""

import base64
import binascii
import ipaddress
import logging
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
import orjson

from revolt_pipeline.contract import Message, Receipt, Rejection, landed_record, validate_message
from revolt_pipeline.contract.addresses import ABSENT as NO_IP
from revolt_pipeline.contract.addresses import (
    address_country,
    kept_address,
    may_hold_ip,
    with_context_ip_kept,
    with_message_ip_kept,
)
from revolt_pipeline.contract.envelope import epoch_ms
from revolt_pipeline.contract.json_bytes import (
    REDACTED,
    WRITE_KEY_MEMBER,
    NotStrictJson,
    batch_item_spans,
    has_escaped_key_characters,
    line_breaks_as_spaces,
    parse_strict,
    parse_strict_message,
    redact_body,
    redact_in_strings,
    without_position,
    without_write_keys,
)
from revolt_pipeline.contract.messages import ABSENT, AwareTimestamp
from revolt_pipeline.contract.pseudonyms import pseudonym
from revolt_pipeline.settings import Settings
from revolt_pipeline.sources import Source

log = logging.getLogger("revolt.collector")

BATCH = "batch"
PROCESSING_FAILED = "processing_failed"
MAX_GZIP_MEMBERS = 100
_GZIP_MAGIC = b"\x1f\x8b"
_WHITESPACE = b" \t\r\n"
_BODY_WRITE_KEY = re.compile(rb'"writeKey"[ \t\r\n]*+:[ \t\r\n]*+"([^"\\]{1,512})"')


@dataclass(frozen=True)
class Limits:
    """The largest message and request body accepted; the defaults are the settings'."""

    max_message_bytes: int = Settings.max_message_bytes
    max_batch_bytes: int = Settings.max_batch_bytes


@dataclass(frozen=True)
class Privacy:
    """What the collector withholds: addresses beyond the IP policy, and events of the ids on the suppression list.

    `suppressed` holds pseudonyms (`contract/pseudonyms.py`) made with `salt`; ids are hashed only while the list
    is not empty, and each id's answer is remembered for the life of this list (an app's ids recur in batch after
    batch), up to MAX_REMEMBERED ids, so the usual cost is a dictionary lookup per id.
    """

    MAX_REMEMBERED = 200_000

    ip_policy: str = Settings.ip_policy
    salt: str | None = None
    suppressed: frozenset[str] = frozenset()
    _answers: dict[str | int, bool] = field(default_factory=dict, compare=False, repr=False)

    def any_suppressed(self, ids: tuple[Any, ...]) -> bool:
        """Whether the pseudonym of one of `ids` (None for an id a message lacks) is on the list."""
        if not self.suppressed or self.salt is None:
            return False
        answers = self._answers
        for identifier in ids:
            if identifier is None:
                continue
            known = answers.get(identifier)
            if known is None:
                if len(answers) >= self.MAX_REMEMBERED:
                    answers.clear()
                known = answers[identifier] = pseudonym(self.salt, str(identifier)) in self.suppressed
            if known:
                return True
        return False


class _MessageIds(msgspec.Struct):
    """The ids of a message that failed validation (or of a landed record's message), read leniently."""

    userId: str | int | None = None
    anonymousId: str | int | None = None
    previousId: str | int | None = None


_ids_decoder = msgspec.json.Decoder(_MessageIds)


def message_ids(raw: bytes) -> tuple[Any, Any, Any]:
    """userId, anonymousId and previousId of a JSON message, each None when absent or not an id."""
    try:
        ids = _ids_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None, None, None
    return ids.userId, ids.anonymousId, ids.previousId


@dataclass
class IngestOutcome:
    status: int
    body: dict[str, Any]
    source: Source | None = None
    accepted: list[bytes] = field(default_factory=list)
    quarantined: list[bytes] = field(default_factory=list)
    rejection_reasons: list[str] = field(default_factory=list)
    suppressed: int = 0  # messages of ids on the suppression list: dropped, answered as accepted


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, inflated: bytes | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.inflated = inflated  # what a broken gzip body gave before it broke


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


def client_address(host: str | None) -> str | None:
    """The sender's address as the landed record keeps it (`clientIp`), or None when it is no IP address.

    `host` is the connection's peer, or what a trusted proxy put in `X-Forwarded-For` (uvicorn decides which,
    from `REVOLT_TRUSTED_PROXIES`). Written in the one canonical form; an IPv4 address mapped into IPv6 (a
    dual-stack socket's `::ffff:1.2.3.4`) as IPv4.
    """
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def _encoding(content_encoding: str | None) -> str:
    encoding = (content_encoding or "identity").strip().lower()
    return "gzip" if encoding == "x-gzip" else encoding  # RFC 9110: x-gzip is gzip


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The request body as sent before compression, refusing anything larger than `limit` bytes."""
    encoding = _encoding(content_encoding)
    if encoding == "identity":
        if len(body) > limit:
            raise _Refused(413, "batch_too_large", f"request body exceeds {limit} bytes")
        return body
    if encoding != "gzip":
        raise _Refused(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip")
    return inflate_gzip(body, limit)


def inflate_gzip(body: bytes, limit: int) -> bytes:
    """Every member of a gzip body, as `gzip.decompress` reads it, with `limit` over their total.

    Input goes in chunks that start small and double, so neither a long body nor many tiny members
    make zlib copy the rest of the body again and again. Bytes after the last member that are not
    another member are refused: what a client appended is data we would otherwise drop silently.
    """
    view = memoryview(body)
    pieces: list[bytes] = []
    size = position = members = 0
    while position < len(body) or members == 0:
        if view[position : position + 2] != _GZIP_MAGIC:
            trailing = f"{len(body) - position} bytes after the gzip data are not a gzip member"
            raise _Refused(400, "invalid_encoding", trailing if members else "body is not gzip", b"".join(pieces))
        members += 1
        if members > MAX_GZIP_MEMBERS:
            raise _Refused(400, "invalid_encoding", f"more than {MAX_GZIP_MEMBERS} gzip members", b"".join(pieces))
        inflater, chunk_size = zlib.decompressobj(16 + zlib.MAX_WBITS), 1024
        while not inflater.eof:
            if position >= len(body):
                raise _Refused(400, "invalid_encoding", "gzip body is truncated", b"".join(pieces))
            chunk = view[position : position + chunk_size]
            try:
                piece = inflater.decompress(chunk, limit - size + 1)
            except zlib.error as exc:
                raise _Refused(400, "invalid_encoding", f"body is not valid gzip: {exc}", b"".join(pieces)) from None
            size += len(piece)
            if size > limit:
                raise _Refused(413, "batch_too_large", f"decompressed body exceeds {limit} bytes")
            pieces.append(piece)
            position += len(chunk) - len(inflater.unused_data)
            chunk_size = min(chunk_size * 2, 1 << 16)
    return b"".join(pieces)


class _Batch(msgspec.Struct):
    batch: list[msgspec.Raw]
    sentAt: AwareTimestamp | None = None
    context: msgspec.Raw = ABSENT
    writeKey: str | None = None


_batch_decoder = msgspec.json.Decoder(_Batch)


@dataclass(slots=True)
class _Body:
    """A request body taken apart: its messages as sent, and what the envelope says besides them."""

    messages: list[bytes]
    not_strict: dict[int, NotStrictJson] = field(default_factory=dict)  # by index: why a message is not strict JSON
    sent_at: datetime | None = None
    context: bytes | None = None  # the batch's context as sent; None when absent or null
    write_key: str | None = None

    @classmethod
    def of(cls, batch: _Batch, messages: list[bytes], not_strict: dict[int, NotStrictJson]) -> "_Body":
        context = None if batch.context is ABSENT else bytes(batch.context)
        return cls(messages, not_strict, batch.sentAt, None if context == b"null" else context, batch.writeKey)


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
    client_ip: str | None = None,
    privacy: Privacy = Privacy(),
) -> IngestOutcome:
    """Validate one request's messages and build their landed records. `endpoint`: `batch` or a type.

    `origin` is the browser's `Origin` header: a source accepts only the origins it allows (apps send none).
    `client_ip` is the sender's address (`client_address`), landed beside each message as `clientIp` as the IP
    policy keeps it (`privacy`).

    Never raises for what a client sends: an unexpected error is logged with its traceback, the
    body quarantined (when its source is known) with reason `processing_failed`, and the answer is
    422, so no SDK retries a body that would fail again.
    """
    request = _Request(
        body, endpoint, content_encoding, lookup_source, limits, epoch_ms(received_at), collector_id, client_ip, privacy
    )
    try:
        return request.process(authorization, origin)
    except Exception as error:
        log.exception("could not process a request to /v1/%s (%d bytes); answering 422", endpoint, len(body))
        return request.processing_failed(error)


class _Request:
    """One request on its way through the checks; what is learnt (source, decoded body) serves the quarantine."""

    def __init__(
        self,
        body: bytes,
        endpoint: str,
        content_encoding: str | None,
        lookup_source: Callable[[str], Source | None],
        limits: Limits,
        received_ms: int,
        collector_id: str,
        client_ip: str | None = None,
        privacy: Privacy = Privacy(),
    ) -> None:
        self.body = body
        self.client_ip = client_ip
        self.privacy = privacy
        self.endpoint = endpoint
        self.content_encoding = content_encoding
        self.lookup_source = lookup_source
        self.limits = limits
        self.received_ms = received_ms
        self.collector_id = collector_id
        self.source: Source | None = None
        self.text: bytes | None = None  # the body after Content-Encoding, once known
        self.text_complete = True

    # -- the checks, in order ------------------------------------------------------------------
    def process(self, authorization: str | None, origin: str | None) -> IngestOutcome:
        try:
            header_key = basic_auth_user(authorization)
            if header_key is not None:
                self.source = _known_source(header_key, self.lookup_source)
            try:
                self.text = decode_body(self.body, self.content_encoding, self.limits.max_batch_bytes)
            except _Refused as refused:
                if refused.inflated is not None:
                    self.text, self.text_complete = refused.inflated, False
                raise
            parsed = self._batch() if self.endpoint == BATCH else self._single()
            if self.source is None:
                if not parsed.write_key:
                    raise _Refused(401, "missing_write_key", "send the write key as HTTP Basic user or as writeKey")
                self.source = _known_source(parsed.write_key, self.lookup_source)
            if origin is not None and not self.source.allows_origin(origin):
                raise _Refused(
                    403, "origin_not_allowed", f"source {self.source.name!r} does not allow browser origin {origin!r}"
                )
            if parsed.context is not None and not parsed.context.startswith(b"{"):
                raise _Refused(400, "invalid_batch", "the batch's context must be an object")
        except _Refused as refused:
            return self._refused(refused)
        return self._messages(parsed)

    def _batch(self) -> _Body:
        assert self.text is not None
        try:
            parse_strict(self.text)  # one pass in Rust over the whole body: the usual, happy case
        except NotStrictJson as not_strict:
            return self._batch_with_faults(not_strict)
        batch = _decode_batch(self.text)
        return _Body.of(batch, [bytes(raw) for raw in batch.batch], {})

    def _batch_with_faults(self, not_strict: NotStrictJson) -> _Body:
        """A batch that is not strict JSON: refuse the messages at fault, or the request if the envelope is."""
        text = self.text
        assert text is not None
        whole = _Refused(400, not_strict.reason, not_strict.detail)
        spans = batch_item_spans(text)
        if spans is None:
            raise whole
        messages: list[bytes] = []
        faults: dict[int, NotStrictJson] = {}
        pieces: list[bytes] = []
        previous = 0
        for index, (start, end) in enumerate(spans):
            messages.append(text[start:end])
            try:
                parse_strict_message(messages[-1])
            except NotStrictJson as fault:
                if fault.reason == "malformed_json":
                    raise whole from None  # not JSON at all: where its messages end cannot be trusted
                faults[index] = fault
            pieces += (text[previous:start], b"0")
            previous = end
        skeleton = b"".join([*pieces, text[previous:]])
        try:
            document = parse_strict(skeleton)
        except NotStrictJson as fault:  # e.g. a second "batch" key, whose events nobody would see
            raise _Refused(400, fault.reason, f"the batch envelope: {without_position(fault.detail)}") from None
        consistent = isinstance(document, dict) and document.get(BATCH) == [0] * len(spans)
        if not consistent or not faults:
            raise whole
        return _Body.of(_decode_batch(skeleton), messages, faults)

    def _single(self) -> _Body:
        """A single-message body, kept as sent: only `"type":"<endpoint>",` goes in when it has no type."""
        assert self.text is not None
        raw = self.text.strip(_WHITESPACE)
        try:
            document = parse_strict_message(raw)
        except NotStrictJson as not_strict:
            raise _Refused(400, not_strict.reason, not_strict.detail) from None
        if not isinstance(document, dict):
            raise _Refused(400, "not_an_object", "a message must be a JSON object")
        if "type" not in document:
            raw = _with_type(raw, self.endpoint)
        elif document["type"] != self.endpoint:
            raise _Refused(400, "type_mismatch", f"type {document['type']!r} sent to the {self.endpoint} endpoint")
        key = document.get("writeKey")
        return _Body([raw], write_key=key if isinstance(key, str) else None)

    def _messages(self, parsed: _Body) -> IngestOutcome:
        assert self.source is not None and self.text is not None
        cleaner = _Cleaner(self.text, self.source.write_key.encode())
        try:
            batch_context = None if parsed.context is None else cleaner.clean(parsed.context)
        except NotStrictJson as fault:
            return self._refused(_Refused(400, fault.reason, f"the batch's context: {fault.detail}"))
        policy = self.privacy.ip_policy
        addresses = _Addresses(self.client_ip)
        if batch_context is not None and may_hold_ip(batch_context):
            batch_context, batch_ip = with_context_ip_kept(batch_context, 0, policy)
            addresses.batch_context_ip(batch_ip)
        receipt = Receipt(
            received_at_ms=self.received_ms,
            sent_at_ms=None if parsed.sent_at is None else epoch_ms(parsed.sent_at),
            batch_context=batch_context,
            source=self.source.name,
            platform=self.source.platform,
            collector=self.collector_id,
            client_ip=None if self.client_ip is None else kept_address(self.client_ip, policy),
        )
        shared_fields = receipt.shared_fields()
        outcome = IngestOutcome(200, {}, self.source)
        rejected: list[dict[str, Any]] = []
        limit = self.limits.max_message_bytes
        suppressing = bool(self.privacy.suppressed)
        for index, raw in enumerate(parsed.messages):
            result: Message | Rejection
            fault = parsed.not_strict.get(index) if parsed.not_strict else None
            if fault is not None:
                strict = False
                result = Rejection(fault.reason, fault.detail)
            else:
                try:
                    raw, strict = cleaner.clean(raw), True
                except NotStrictJson as made_ambiguous:
                    strict, result = False, Rejection(made_ambiguous.reason, made_ambiguous.detail)
                else:
                    if len(raw) > limit:
                        result = Rejection("message_too_large", f"message is {len(raw)} bytes; the limit is {limit}")
                    else:
                        result = validate_message(raw)
            if suppressing:
                ids = (
                    message_ids(raw)
                    if isinstance(result, Rejection)
                    else (result.userId, result.anonymousId, getattr(result, "previousId", None))
                )
                if self.privacy.any_suppressed(ids):
                    outcome.suppressed += 1
                    continue
            if isinstance(result, Rejection):
                outcome.rejection_reasons.append(result.reason)
                outcome.quarantined.append(self._message_record(result, index, raw, strict))
                rejected.append({"index": index, **result.as_dict(), **_message_id_of(raw)})
                continue
            raw, sent_ip = with_message_ip_kept(raw, policy)
            outcome.accepted.append(landed_record(result, raw, receipt, shared_fields, addresses.country(sent_ip)))

        if rejected and not outcome.accepted and not outcome.suppressed:
            too_large = all(entry["reason"] == "message_too_large" for entry in rejected)
            outcome.status = 413 if too_large else 400
            first = rejected[0]
            outcome.body = _error(first["reason"], first["message"])
            if self.endpoint == BATCH:
                outcome.body["message"] = f"no valid message in the batch; first: {first['message']}"
                outcome.body["rejected"] = rejected
        else:
            # Suppressed messages count as accepted: whoever holds the write key learns nothing of who is deleted.
            outcome.body = {"success": True, "accepted": len(outcome.accepted) + outcome.suppressed}
            if rejected:
                outcome.body["rejected"] = rejected
        return outcome

    # -- refusals and the quarantine -----------------------------------------------------------
    def _refused(self, refused: _Refused) -> IngestOutcome:
        outcome = IngestOutcome(refused.status, _error(refused.code, refused.message), self.source)
        outcome.rejection_reasons.append(refused.code)
        if self.source is None and refused.status == 400:
            self.source = self._source_from_body()
        # A forgotten allowed origin is a configuration slip of a real site: keep its events to recover.
        if self.source is not None and refused.status in (400, 403, 415):
            outcome.source = self.source
            outcome.quarantined.append(self._body_record(refused.code, refused.message))
        return outcome

    def processing_failed(self, error: Exception) -> IngestOutcome:
        """The safety net's answer: 422 with a code, the body quarantined when its source is known."""
        message = "the collector could not process this request; it is kept for the operator, do not retry it"
        outcome = IngestOutcome(422, _error(PROCESSING_FAILED, message), self.source)
        outcome.rejection_reasons.append(PROCESSING_FAILED)
        try:
            if self.source is None:
                self.source = self._source_from_body()
            if self.source is not None:
                outcome.source = self.source
                detail = f"{type(error).__name__}: {error}"[:1000]
                outcome.quarantined.append(self._body_record(PROCESSING_FAILED, detail))
        except Exception:
            log.exception("could not quarantine the request that failed")
        return outcome

    def _source_from_body(self) -> Source | None:
        """Find who sent a body we refused, so it is quarantined rather than lost. Any `"writeKey": "..."` will do."""
        text = self._readable_body()[0]
        for found, _ in zip(_BODY_WRITE_KEY.finditer(text or b""), range(4), strict=False):
            source = self.lookup_source(found[1].decode("utf-8", "replace"))
            if source is not None:
                return source
        return None

    def _readable_body(self) -> tuple[bytes | None, bool]:
        """The body as far as it could be decoded, and whether that is all of it."""
        if self.text is not None:
            return self.text, self.text_complete
        encoding = _encoding(self.content_encoding)
        if encoding == "identity":
            return self.body, True
        if encoding == "gzip":
            try:
                return inflate_gzip(self.body, self.limits.max_batch_bytes), True
            except _Refused as refused:
                return refused.inflated, False
        return None, False  # an encoding we cannot read could hide a write key: not kept

    def _record(self, reason: str, detail: str, index: int | None) -> dict[str, Any]:
        assert self.source is not None
        return {
            "receivedAt": self.received_ms,
            "reason": reason,
            "detail": detail,
            "endpoint": self.endpoint,
            "index": index,
            "source": self.source.name,
            "platform": self.source.platform,
            "collector": self.collector_id,
            "payload": None,
        }

    def _body_record(self, reason: str, detail: str) -> bytes:
        """A refused request: its body, inflated as far as it inflates, write keys replaced by a marker."""
        assert self.source is not None
        record = self._record(reason, detail, None)
        text, complete = self._readable_body()
        secret = self.source.write_key.encode()
        record["rawBodyBase64"] = None if text is None else base64.b64encode(redact_body(text, secret)).decode()
        record["rawBodyComplete"] = complete
        record["contentEncoding"] = self.content_encoding
        return orjson.dumps(record)

    def _message_record(self, rejection: Rejection, index: int, raw: bytes, strict: bool) -> bytes:
        """A refused message: as JSON when it is strict JSON (already cleaned), else base64, keys redacted."""
        assert self.source is not None
        record = self._record(rejection.reason, rejection.detail, index)
        if strict:
            # Not landed as an event, but kept: its address is withheld like an accepted message's.
            record["payload"] = orjson.Fragment(with_message_ip_kept(raw, self.privacy.ip_policy)[0])
        else:
            record["payloadBase64"] = base64.b64encode(redact_body(raw, self.source.write_key.encode())).decode()
        return orjson.dumps(record)


class _Addresses:
    """The country of each message's address, as the pipeline would pick the address: the message's `context.ip`,
    else the batch's (a `null` in the message removes it, as a JSON merge patch does), else the request's.
    Looked up from the full addresses, before the policy truncates or drops them."""

    def __init__(self, client_ip: str | None) -> None:
        self.client_country = None if client_ip is None else address_country(client_ip)
        self.default_country = self.client_country

    def batch_context_ip(self, sent: Any) -> None:
        if sent is not NO_IP and sent is not None:
            self.default_country = address_country(sent) if isinstance(sent, str) else None

    def country(self, sent: Any) -> str | None:
        if sent is NO_IP:
            return self.default_country
        if sent is None:
            return self.client_country
        return address_country(sent) if isinstance(sent, str) else None


class _Cleaner:
    """The two edits a message gets before it is stored, each only when the body calls for it.

    Write keys: every `writeKey` member goes, at any depth, and the sender's key, should it appear
    in another string, is replaced by a marker. Line breaks: CR and LF become spaces, so a
    pretty-printed message fits on its JSON Lines record.
    """

    def __init__(self, text: bytes, secret: bytes) -> None:
        self.secret = secret
        self.members = WRITE_KEY_MEMBER in text
        # The key may be spelled with `\u` escapes, which a search for its bytes would miss.
        self.secret_seen = secret in text or has_escaped_key_characters(text)
        self.line_breaks = b"\n" in text or b"\r" in text

    def clean(self, raw: bytes) -> bytes:
        """The message as it is stored; NotStrictJson when the marker made two member names the same."""
        if self.members and WRITE_KEY_MEMBER in raw:
            raw = without_write_keys(raw)
        if self.secret_seen:
            redacted = redact_in_strings(raw, self.secret)
            if redacted != raw:
                _still_strict(redacted)
            raw = redacted
        if self.line_breaks:
            raw = line_breaks_as_spaces(raw)
        return raw


def _still_strict(redacted: bytes) -> None:
    """A key in a member name, beside a member named like the marker, would land as a duplicate key."""
    try:
        parse_strict_message(redacted)
    except NotStrictJson as fault:
        detail = f"once the write key in it is replaced by {REDACTED.decode()!r}: {without_position(fault.detail)}"
        raise NotStrictJson(fault.reason, detail) from None


def _decode_batch(text: bytes) -> _Batch:
    try:
        return _batch_decoder.decode(text)
    except msgspec.ValidationError as error:
        if "datetime" in str(error):
            raise _Refused(400, "invalid_timestamp", str(error)) from None
        raise _Refused(400, "invalid_batch", f"a batch is an object with a `batch` array: {error}") from None
    except msgspec.DecodeError as error:
        raise _Refused(400, "malformed_json", f"body is not valid JSON: {error}") from None


def _with_type(raw: bytes, endpoint: str) -> bytes:
    """`raw` (a JSON object) with `"type":"<endpoint>"` as its first member; every other byte as sent."""
    rest = raw[1:]
    separator = b"" if rest.lstrip(_WHITESPACE).startswith(b"}") else b","
    return b'{"type":"%s"%s%s' % (endpoint.encode(), separator, rest)


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
