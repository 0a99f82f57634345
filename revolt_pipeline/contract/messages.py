"""The Segment message types we accept, as typed structs: the contract in code.

Decoding a message into these structs validates it in C (msgspec), which is what lets one
collector process validate well over 50,000 events a second. Only the fields the collector reads
or must check are typed; `context`, `properties`, `traits` and `integrations` stay raw JSON, and the
landed record keeps the message exactly as it was sent.
"""

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Raw, Struct

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
MAX_ID_LENGTH = 255

AwareTimestamp = Annotated[datetime, Meta(tz=True)]
# Segment's libraries send numeric ids as numbers; they are ids all the same.
Identifier = Annotated[str, Meta(min_length=1, max_length=MAX_ID_LENGTH)] | int
NonEmptyText = Annotated[str, Meta(min_length=1)]
ABSENT = Raw(b"null")


class Message(Struct, tag_field="type", kw_only=True):
    messageId: Annotated[str, Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None
    userId: Identifier | None = None
    anonymousId: Identifier | None = None
    timestamp: AwareTimestamp | None = None
    originalTimestamp: AwareTimestamp | None = None
    sentAt: AwareTimestamp | None = None
    context: Raw = ABSENT
    properties: Raw = ABSENT
    traits: Raw = ABSENT
    integrations: Raw = ABSENT


class Track(Message, tag="track"):
    event: NonEmptyText


class Identify(Message, tag="identify"):
    pass


class Page(Message, tag="page"):
    name: str | None = None
    category: str | None = None


class Screen(Message, tag="screen"):
    name: str | None = None
    category: str | None = None


class Group(Message, tag="group"):
    groupId: Identifier


class Alias(Message, tag="alias"):
    previousId: Identifier
    userId: Identifier


AnyMessage = Track | Identify | Page | Screen | Group | Alias
STRUCTS: dict[str, type[Message]] = {
    "track": Track,
    "identify": Identify,
    "page": Page,
    "screen": Screen,
    "group": Group,
    "alias": Alias,
}
