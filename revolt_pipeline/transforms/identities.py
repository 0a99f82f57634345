"""Identity stitching: which anonymous ids (and old user ids) belong to which user.

Links come from any message carrying both a userId and an anonymousId (identify above all) and from
alias (previousId → userId). An id's first link wins, so later events of a shared device keep the
person it was first identified as. Links are followed to the chain's end (anonymous → old user id → new
user id → ...), up to `MAX_HOPS`: a chain that goes on beyond that, or turns in a circle (two ids aliased to
each other), stitches to the least id it reaches, the same for every id of a circle.
"""

import itertools

import duckdb

from revolt_pipeline.transforms.engine import copy_to_parquet, parquet

# Links followed from an id (anonymous → user id → each alias after): a longer chain is taken for a circle.
MAX_HOPS = 8
NO_LINKS = (
    "NULL::VARCHAR AS from_id, NULL::VARCHAR AS to_user_id, NULL::TIMESTAMPTZ AS linked_at, "
    "NULL::VARCHAR AS message_id WHERE false"
)


def identity_links_query(raw_path: str) -> str:
    """The links one received day's raw table holds."""
    raw = parquet(raw_path)
    return f"""
    SELECT from_id, to_user_id, min(linked_at) AS linked_at, min(message_id) AS message_id
    FROM (
        SELECT anonymous_id AS from_id, user_id AS to_user_id, timestamp AS linked_at, message_id
        FROM {raw} WHERE user_id IS NOT NULL AND anonymous_id IS NOT NULL
        UNION ALL
        SELECT previous_id, user_id, timestamp, message_id
        FROM {raw} WHERE type = 'alias' AND previous_id IS NOT NULL AND user_id IS NOT NULL
    )
    WHERE from_id <> to_user_id
    GROUP BY from_id, to_user_id
    """


def write_identity_links(connection: duckdb.DuckDBPyConnection, raw_path: str, links_path: str) -> int:
    """Write the links of one received day's raw table to `links_path`; returns how many."""
    return copy_to_parquet(connection, identity_links_query(raw_path), links_path)


def person_map_query(links: str) -> str:
    """`(identity, person_id)` for every id that links to a user; `links` is a relation of link rows.

    The hops are joins, not a recursive query, so that the one statement runs on DuckDB and on Spark alike.
    """
    hops = [f"hop{number}" for number in range(1, MAX_HOPS + 1)]
    joins = "\n".join(
        f"LEFT JOIN first_link AS {hop} ON {hop}.from_id = {previous}.to_user_id"
        for previous, hop in itertools.pairwise(hops)
    )
    reached = [f"{hop}.to_user_id" for hop in hops]
    return f"""
    WITH first_link AS (
        SELECT from_id, to_user_id
        FROM (SELECT *, row_number() OVER (PARTITION BY from_id ORDER BY linked_at, message_id, to_user_id) AS n
              FROM {links})
        WHERE n = 1
    )
    SELECT hop1.from_id AS identity,
           CASE WHEN {reached[-1]} IS NULL THEN coalesce({", ".join(reversed(reached[:-1]))})
                ELSE least({", ".join(reached)}) END AS person_id
    FROM first_link AS hop1
    {joins}
    """


def person_id_sql(user_id: str, anonymous_id: str, by_user: str, by_anonymous: str) -> str:
    """The stitched person: an aliased user's new id, the user id, the user an anonymous id became, or itself."""
    return f"coalesce({by_user}.person_id, {user_id}, {by_anonymous}.person_id, {anonymous_id})"
