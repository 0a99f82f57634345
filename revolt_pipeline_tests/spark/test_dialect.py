"""The transforms' DuckDB SQL as Spark SQL: each rule of the one mapping (`transforms/dialect.py`), without Spark.

Where DuckDB and Spark differ in meaning, not only in spelling, the translation must carry the meaning: these
tests pin what each rule writes. That Spark then computes what DuckDB does is `test_engines_agree.py`'s part.
"""

import pytest

from revolt_pipeline.transforms.dialect import to_spark
from revolt_pipeline.transforms.engine import duckdb_connection


def spark(sql: str) -> str:
    """The select list of `SELECT <sql>` in Spark SQL."""
    return to_spark(f"SELECT {sql}").removeprefix("SELECT ")


def test_epoch_ms_of_a_timestamp_and_of_an_interval_are_milliseconds_since_the_epoch() -> None:
    assert spark("epoch_ms(event_time)") == "UNIX_MILLIS(event_time)"
    assert spark("epoch_ms(max(t) - min(t)) / 1000.0") == (
        "(UNIX_MILLIS(MAX(t)) - UNIX_MILLIS(MIN(t))) / CAST(1000.0 AS DOUBLE)"
    )


def test_list_indices_and_lambda_indices_count_from_one_as_in_duckdb() -> None:
    assert spark("ids[1], path[position + 1], len(path)") == "GET(ids, 0), GET(path, position + 1 - 1), SIZE(path)"
    assert spark("list_filter(xs, lambda x, i: i = 1 OR x <> xs[i - 1])") == (
        "FILTER(xs, (x, i_from_zero) -> (i_from_zero + 1) = 1 OR x <> GET(xs, (i_from_zero + 1) - 1 - 1))"
    )


def test_a_struct_field_by_name_is_left_alone() -> None:
    assert spark("s['name'], firsts.first.received_date") == "s['name'], firsts.first.received_date"


def test_an_ordered_list_aggregate_sorts_by_its_keys_before_dropping_them() -> None:
    assert spark("list(step ORDER BY t, m) FILTER (WHERE step IS NOT NULL)") == (
        "TRANSFORM(ARRAY_SORT(COLLECT_LIST(NAMED_STRUCT('k0', t, 'k1', m, 'v', step)) FILTER(WHERE NOT step IS NULL)), "
        "e -> e.v)"
    )
    with pytest.raises(NotImplementedError):
        spark("list(step ORDER BY t DESC)")


def test_arg_min_skips_rows_whose_value_is_null_as_duckdb_does() -> None:
    assert spark("arg_min(app_version, t)") == "MIN_BY(app_version, IF(app_version IS NULL, NULL, t))"
    assert spark("arg_max(app_version, t)") == "MAX_BY(app_version, IF(app_version IS NULL, NULL, t))"
    with duckdb_connection(threads=1) as connection:  # the behaviour the rule carries over, DuckDB's
        rows = "(VALUES (NULL, 1), ('2.0', 2)) AS v(app_version, t)"
        assert connection.execute(f"SELECT arg_min(app_version, t) FROM {rows}").fetchone() == ("2.0",)


def test_a_list_of_json_paths_is_a_list_of_extractions() -> None:
    assert spark("json_extract_string(context, ['$.a', '$.b'])[2]") == (
        "GET(ARRAY(GET_JSON_OBJECT(context, '$.a'), GET_JSON_OBJECT(context, '$.b')), 1)"
    )


def test_quantiles_and_regular_expressions_keep_their_meaning() -> None:
    assert spark("quantile_cont(d, 0.9)") == "PERCENTILE(d, 0.9)"
    assert spark(r"regexp_replace(ip, '^::ffff:([0-9.]+)$', '\1', 'i')") == (
        "REGEXP_REPLACE(ip, '(?i)^::ffff:([0-9.]+)$', '$1')"
    )


def test_duckdb_spellings_become_sparks() -> None:
    assert to_spark("SELECT * EXCLUDE (a), NULL::TIMESTAMPTZ AS t, struct_pack(x := 1) AS s FROM v GROUP BY ALL") == (
        "SELECT * EXCEPT (a), CAST(NULL AS TIMESTAMP) AS t, STRUCT(1 AS x) AS s FROM v GROUP BY ALL"
    )


def test_a_landed_line_is_read_with_from_json_and_its_message_sliced_out_of_its_bytes() -> None:
    assert spark(
        """json_transform(line, '{"messageId": "VARCHAR", "receivedAt": "BIGINT", "batchContext": "JSON"}')"""
    ) == ("FROM_JSON(line, '`messageId` STRING, `receivedAt` BIGINT, `batchContext` STRING')")
    assert spark("decode(array_slice(encode(line), strlen(line) - n, strlen(line) - 1))") == (
        "DECODE(SUBSTRING(ENCODE(line, 'utf-8'), OCTET_LENGTH(line) - n, "
        "(OCTET_LENGTH(line) - 1) - (OCTET_LENGTH(line) - n) + 1), 'utf-8')"
    )
    assert spark("make_timestamptz(received * 1000), CAST(x AS JSON)") == "TIMESTAMP_MICROS(received * 1000), x"
    assert spark("json_extract(m, ['$.context', '$.traits'])[2]") == (
        "GET(ARRAY(GET_JSON_OBJECT(m, '$.context'), GET_JSON_OBJECT(m, '$.traits')), 1)"
    )
    with pytest.raises(NotImplementedError, match="json_transform to TIMESTAMP"):
        spark("""json_transform(line, '{"t": "TIMESTAMP"}')""")


def test_json_merge_patch_and_its_fold_are_one_function_of_a_list() -> None:
    assert spark("json_merge_patch(a, b)") == "REVOLT_JSON_MERGE_PATCH(ARRAY(a, b))"
    assert spark("list_reduce(list(t ORDER BY k), lambda a, b: json_merge_patch(a, b))") == (
        "REVOLT_JSON_MERGE_PATCH(TRANSFORM(ARRAY_SORT(COLLECT_LIST(NAMED_STRUCT('k0', k, 'v', t))), e -> e.v))"
    )
    with pytest.raises(NotImplementedError, match="list_reduce"):
        spark("list_reduce(xs, lambda a, b: a + b)")


def test_json_each_is_a_lateral_explode_of_the_parsed_document() -> None:
    sql = to_spark("SELECT entry.key, entry.type FROM docs AS d, json_each(d.doc) AS entry")
    assert (
        "FROM docs AS d CROSS JOIN LATERAL VARIANT_EXPLODE(PARSE_JSON(d.doc)) AS entry(pos, key, variant_value)" in sql
    )
    assert sql.startswith("SELECT entry.key, (CASE WHEN TO_JSON(entry.variant_value) IS NULL")


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        "[1]",
        '"x"',
        "true",
        "false",
        "null",
        "0",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "-0",
        "1.5",
        "1e3",
        "-2.5E-9",
    ],
)
def test_json_type_is_duckdbs_for_every_kind_of_value(text: str) -> None:
    """The Spark expression for `json_type`, evaluated by DuckDB (plain SQL both run, but for Spark's `RLIKE`,
    DuckDB's whole-match `SIMILAR TO`), against DuckDB's own `json_type`."""
    from revolt_pipeline.transforms.dialect import json_type_sql

    with duckdb_connection(threads=1) as connection:
        mapped = json_type_sql("v").replace("RLIKE", "SIMILAR TO").replace("'^", "'").replace("$'", "'")
        row = connection.execute(
            f"SELECT json_type(CAST(v AS JSON)), {mapped} FROM (SELECT ? AS v)",
            [text],
        ).fetchone()
    assert row[0] == row[1], text


def test_retentions_periods_and_day_intervals_of_an_expression() -> None:
    assert to_spark(
        "SELECT c + INTERVAL (period * 7) DAY, d - INTERVAL 6 DAY FROM people, range(0, 31) AS r(period)"
    ) == ("SELECT c + MAKE_DT_INTERVAL(period * 7), d - INTERVAL '6' DAY FROM people, RANGE(0, 31) AS r(period)")
    with duckdb_connection(threads=1) as connection:  # DuckDB's range excludes its end, as Spark's does
        assert connection.execute("SELECT max(n) FROM range(0, 31) AS r(n)").fetchone() == (30,)


def test_an_ordered_mode_breaks_ties_to_the_lowest_and_an_empty_map_is_map() -> None:
    assert spark("mode(p ORDER BY p), MAP {}::MAP(VARCHAR, BIGINT)") == (
        "MODE(p, TRUE), CAST(MAP() AS MAP<STRING, BIGINT>)"
    )
    with pytest.raises(NotImplementedError, match="mode"):
        spark("mode(p ORDER BY q)")
    with duckdb_connection(threads=1) as connection:
        rows = "(VALUES ('web'), ('ios'), ('ios'), ('web'), (NULL)) AS v(p)"
        assert connection.execute(f"SELECT mode(p ORDER BY p) FROM {rows}").fetchone() == ("ios",)


def test_a_full_regular_expression_match_is_anchored_on_spark() -> None:
    """Spark's RLIKE matches anywhere in the text; DuckDB's regexp_full_match only the whole text."""
    assert spark("regexp_full_match(v, '[0-9]{3}|x')") == "v RLIKE '^(?:[0-9]{3}|x)$'"
    with pytest.raises(NotImplementedError, match="not a literal"):
        spark("regexp_full_match(v, p)")


def test_a_list_sum_skips_null_elements_on_spark() -> None:
    assert spark("list_sum(xs)") == (
        "AGGREGATE(xs, CAST(0 AS BIGINT), (total, element) -> total + COALESCE(CAST(element AS BIGINT), 0))"
    )


def test_greatest_and_least_of_one_value_are_the_value() -> None:
    """A funnel's second step is reached at `greatest` of one time; Spark refuses fewer than two arguments."""
    assert spark("greatest(a.f2.t), least(x), greatest(x, y)") == "a.f2.t, x, GREATEST(x, y)"
    with duckdb_connection(threads=1) as connection:
        assert connection.execute("SELECT greatest(3), least(NULL::INT)").fetchone() == (3, None)
