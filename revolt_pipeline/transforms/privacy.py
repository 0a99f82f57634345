"""Who a privacy request is about: every id stitched to the people the requested ids belong to.

A person is known by several ids: anonymous ids of each device and browser, a user id, older user ids an alias
replaced. Stitching (`identities.person_map_query`) maps each to one `person_id`; a request names any of them and
covers them all. Rows are matched on their id columns, whatever the table (`ID_COLUMNS`), so a layer added later
is covered without a change here.
"""

import duckdb

from revolt_pipeline.transforms.engine import parquet, sql_list
from revolt_pipeline.transforms.identities import NO_LINKS, person_map_query

# The columns that name a person, in any lake table or report table that has them.
ID_COLUMNS = ("person_id", "user_id", "anonymous_id", "previous_id", "from_id", "to_user_id")


def person_ids_query(links: str, ids: list[str]) -> str:
    """`id` of every identity of the people `ids` belong to (the ids themselves included); `links` is a relation
    of identity link rows. An id no link names is a person of its own (an anonymous visitor never identified)."""
    return f"""
    WITH map AS ({person_map_query(links)}),
    people AS (
        SELECT DISTINCT coalesce(map.person_id, requested.id) AS person_id
        FROM unnest({sql_list(ids)}) AS requested(id) LEFT JOIN map ON map.identity = requested.id
    )
    SELECT id FROM (
        SELECT unnest({sql_list(ids)}) AS id
        UNION SELECT person_id FROM people
        UNION SELECT identity FROM map WHERE person_id IN (SELECT person_id FROM people)
    )
    ORDER BY id
    """


def person_ids(connection: duckdb.DuckDBPyConnection, link_files: list[str], ids: list[str]) -> list[str]:
    """Every id of the people `ids` belong to, by the identity links in `link_files` (every raw day's)."""
    links = parquet(link_files) if link_files else f"(SELECT {NO_LINKS})"
    return [row[0] for row in connection.execute(person_ids_query(links, ids)).fetchall()]


def identities_of_query(links: str, people: list[str]) -> str:
    """`id` of every identity the links stitch to one of `people` (person ids). Unlike `person_ids_query`, it never
    follows an id to the person it belongs to now: a re-run of a deletion whose erasure removed some of the
    person's links must not follow their device's next link to someone else who used it."""
    return f"""
    WITH map AS ({person_map_query(links)})
    SELECT DISTINCT identity AS id FROM map WHERE person_id IN (SELECT unnest({sql_list(people)}))
    ORDER BY id
    """


def identities_of(connection: duckdb.DuckDBPyConnection, link_files: list[str], people: list[str]) -> list[str]:
    """Every identity stitched to one of `people` by the links in `link_files` (see `identities_of_query`)."""
    links = parquet(link_files) if link_files else f"(SELECT {NO_LINKS})"
    return [row[0] for row in connection.execute(identities_of_query(links, people)).fetchall()]
