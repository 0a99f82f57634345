"""The country of an event, offline: from its IP address, else from its time zone, with the method recorded.

- `ip`: the country the collector found from the full address before its IP policy truncated or dropped it (the
  landed record's `ipCountry`); for events landed before collectors did, the address as landed (the message's
  `context.ip`, else the address the collector received it from) looked up in
  `iptocc`, a package that embeds the Regional Internet Registries' allocation data (no network, no file to
  download; refreshed with its releases). It gives the country a registry assigned the address block to: for
  about 95% of IPv4 addresses the country a commercial geolocation database gives. Private, loopback,
  link-local, shared (CGNAT), documentation and reserved addresses, and text that is no address, have none.
- `timezone`: the IANA zone the device reported (`context.timezone`), through the tz database's `zone.tab`
  (the `tzdata` package), following its links (`Asia/Calcutta`, `US/Eastern`, `Japan`). A zone names the
  country of its principal city: people in Brussels on `Europe/Paris`-like zones are rare enough. `UTC`,
  `Etc/*` and abbreviations (`CET`) name no country.
- `unknown`: neither told.

The lookup is vectorized: a DuckDB function over Arrow batches that looks up each batch's distinct addresses
once (about 0.1 s for a million events), and a table of zones joined in SQL.
"""

from functools import cache
from importlib import resources

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from iptocc import country_code

COUNTRY_METHODS = ("ip", "timezone", "unknown")
# Zone names that are abbreviations of a standard time, though the tz database now links them to a city's zone
# (CET to Brussels since 2024b): they say the offset, not the country.
ABBREVIATED_ZONES = frozenset(
    ("CET", "MET", "EET", "WET", "EST", "MST", "HST", "EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT")
)
IP_COUNTRY_FUNCTION = "revolt_ip_country"
TIMEZONE_COUNTRIES_TABLE = "revolt_timezone_countries"


def _ip_countries(addresses: pa.Array) -> pa.Array:
    """ISO 3166-1 alpha-2 codes of a batch of addresses (NULL where none), each distinct address looked up once."""
    distinct = pc.unique(addresses.drop_null())
    codes = pa.array(country_code(distinct.to_pylist()) if len(distinct) else [], pa.string())
    return pc.take(codes, pc.index_in(addresses, distinct))


@cache
def timezone_countries() -> dict[str, str]:
    """IANA zone (or link to one) -> the country code `zone.tab` gives it."""
    zoneinfo = resources.files("tzdata") / "zoneinfo"
    countries: dict[str, str] = {}
    for line in (zoneinfo / "zone.tab").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, _, zone, *_ = line.split("\t")
            countries[zone] = code
    for line in (zoneinfo / "tzdata.zi").read_text(encoding="utf-8").splitlines():
        if line.startswith("L "):
            _, target, link = line.split()
            if link not in countries and target in countries and link not in ABBREVIATED_ZONES:
                countries[link] = countries[target]
    return countries


def register_country_lookups(connection: duckdb.DuckDBPyConnection) -> None:
    """Make `located_sql` work on this connection: the IP function (registered once) and the zones' table."""
    exists = connection.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [IP_COUNTRY_FUNCTION]
    ).fetchall()
    if not exists[0][0]:
        connection.create_function(
            IP_COUNTRY_FUNCTION,
            _ip_countries,
            [duckdb.sqltype("VARCHAR")],
            duckdb.sqltype("VARCHAR"),
            type="arrow",
            null_handling="special",
        )
    zones = pa.table(
        {"zone": list(timezone_countries()), "country": list(timezone_countries().values())},
    )
    connection.register("timezone_countries_arrow", zones)
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {TIMEZONE_COUNTRIES_TABLE} AS SELECT zone, country FROM timezone_countries_arrow"
    )
    connection.unregister("timezone_countries_arrow")


def normalized_ip_sql(ip: str) -> str:
    """The address as looked up: trimmed, and an IPv4 address mapped into IPv6 (`::ffff:1.2.3.4`) as IPv4."""
    return rf"regexp_replace(trim({ip}), '^::ffff:([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)$', '\1', 'i')"


def located_sql(relation: str, ip: str, timezone: str, known_country: str = "NULL") -> str:
    """`relation` with `country` (NULL when unknown) and `country_method` (one of COUNTRY_METHODS) added.

    `ip`, `timezone` and `known_country` (the IP's country found upstream, which wins over a lookup of `ip`) are
    expressions over the relation's columns; `register_country_lookups` must have run.
    """
    return f"""(
        SELECT located.* EXCLUDE (ip_country, zone, zone_country),
               coalesce(ip_country, zone_country) AS country,
               CASE WHEN ip_country IS NOT NULL THEN 'ip' WHEN zone_country IS NOT NULL THEN 'timezone'
                    ELSE 'unknown' END AS country_method
        FROM (
            SELECT rows.*, coalesce({known_country}, {IP_COUNTRY_FUNCTION}({normalized_ip_sql(ip)})) AS ip_country,
                   zones.zone, zones.country AS zone_country
            FROM {relation} AS rows
            LEFT JOIN {TIMEZONE_COUNTRIES_TABLE} AS zones ON zones.zone = trim({timezone})
        ) AS located
    )"""


def with_country_columns(events: str) -> str:
    """`events` (a relation of cleaned or sessionized events) sure to have `country` and `country_method`.

    Days cleaned before countries were found lack them: they read as NULL, so their reports say `unknown`
    until the days are cleaned again (their raw days are kept), rather than failing to build.
    """
    return (
        f"(SELECT * FROM {events} UNION ALL BY NAME "
        "(SELECT NULL::VARCHAR AS country, NULL::VARCHAR AS country_method WHERE false))"
    )
