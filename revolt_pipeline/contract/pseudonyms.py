"""Pseudonyms: an id or a personal value replaced by its salted SHA-256, so that equal values still match (a
deleted id on the suppression list, a hashed email joined across events) while the value itself is not kept.

The salt is secret (`Settings.resolved_privacy_salt`): without it, a short value such as a phone number could be
found again by hashing every candidate. SQL computes the same digest as `sha256(salt || value)` (DuckDB's
`sha256`, Spark's `sha2(..., 256)`), so a pseudonym made in cleaning equals one made here.
"""

import hashlib


def pseudonym(salt: str, value: str) -> str:
    """The hex SHA-256 of `salt` followed by `value`, both as UTF-8."""
    return hashlib.sha256((salt + value).encode()).hexdigest()
