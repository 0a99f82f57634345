"""The transforms' DuckDB SQL as Spark SQL: sqlglot's transpiler, and the one mapping of what it gets wrong.

The transforms are written once, in DuckDB's SQL. sqlglot translates most of it to Spark's; `SPARK_MAPPING` lists
where the two engines differ in meaning, not only in spelling, and how each such construct is rewritten:

- `epoch_ms(timestamp)` and `epoch_ms(a - b)` (an interval): milliseconds since the epoch, `unix_millis`;
  sqlglot reads `epoch_ms` as the opposite overload (milliseconds to a timestamp).
- `len(list)` is `size`; `list[i]` (1-based) is `get(list, i - 1)` (0-based, NULL when out of bounds, as
  DuckDB's); a list lambda's index (`lambda x, i:`, 1-based) is Spark's 0-based index plus one.
- `list(x ORDER BY a, b)`: Spark's `collect_list` takes no order, so the values are collected as structs of
  their sort keys and sorted (`array_sort`) before the keys are dropped.
- `arg_min(x, key)` / `arg_max`: DuckDB skips rows whose `x` is NULL, Spark's `min_by` does not.
- `json_extract_string(json, [paths])` (a list of paths) is a list of `get_json_object`.
- `quantile_cont(x, p)` is `percentile(x, p)` (exact, interpolated alike).
- `regexp_replace(s, pattern, '\\1', 'i')`: Java's regular expressions take flags inline (`(?i)`) and name
  groups `$1` in the replacement.
- `x / 1.5`: a decimal literal makes Spark's division decimal; DuckDB's is a double.
- The raw layer's reading of a landed line: `json_transform(line, '{"k": "TYPE"}')` is `from_json` with the same
  fields (JSON as text); `make_timestamptz(micros)` is `timestamp_micros`; a slice of a line's bytes
  (`decode(array_slice(encode(line), a, b))`, `strlen` counting bytes) is `substring` of its UTF-8 binary
  (`octet_length`), 1-based and inclusive alike; `json_extract(json, [paths])` is a list of `get_json_object`.
- `json_type(json)`: Spark has none; the type is read off the JSON text (its first character, and for numbers
  DuckDB's split: non-negative integers up to 2^64 - 1 are `UBIGINT`, negative ones from -2^63 `BIGINT`, any
  other number `DOUBLE`). `json_type(json, path)` reads it off the value's JSON text from the parsed document
  (`to_json(variant_get(parse_json(json), path))`): `get_json_object` gives a string value without its quotes.
- `greatest(x)`, `least(x)` of one argument are `x`: Spark asks for two at least.
- `json_each(json) AS entry` (a lateral join): `CROSS JOIN LATERAL variant_explode(parse_json(json))`, with
  `entry.type` as `json_type` of the value's JSON text (`to_json`) and `entry.value` that text.
- `json_merge_patch(a, b)` and `list_reduce(list, lambda a, b: json_merge_patch(a, b))`: Spark has no JSON merge
  patch (RFC 7396), and no Python function may run inside its lambdas: both are `JSON_MERGE_PATCH_UDF` of the list
  (`array(a, b)` for two), a function `transforms/spark.py` registers: it folds the list with DuckDB's own
  `json_merge_patch`, so the merged text (key order, number spelling) is DuckDB's byte for byte.
- `FROM t, range(a, b) AS r(n)` is Spark's `range` table function (the integers a to b - 1 alike);
  `INTERVAL (expression) DAY` is `make_dt_interval(expression)` (Spark's interval literals take literals only).
- `mode(x ORDER BY x)` (ties to the first in order) is Spark's deterministic `mode(x, true)` (ties to the lowest);
  an empty map (`MAP {}`) is `map()`.
- `CAST(text AS JSON)`: Spark has no JSON type; JSON stays text, and DuckDB's cast keeps the text as it is.

Table functions (`read_parquet`), `COPY`, temporary tables and `UNION ALL BY NAME` have no Spark SQL of their
own: `transforms/spark.py` runs them through DataFrames, finding them with the functions here.
"""

import json
import re
from collections.abc import Callable
from typing import ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB


class TransformsDuckDB(DuckDB):
    """DuckDB as the transforms write it: `len` is a list's length, and list indices are kept as written
    (1-based), so that one rule (`_list_element`) turns every one into Spark's."""

    INDEX_OFFSET = 0

    class Parser(DuckDB.Parser):
        FUNCTIONS: ClassVar = {**DuckDB.Parser.FUNCTIONS, "LEN": exp.ArraySize.from_arg_list}


def parse(sql: str) -> exp.Expression:
    """One statement of the transforms' DuckDB SQL."""
    return sqlglot.parse_one(sql, dialect=TransformsDuckDB)


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _epoch_ms(node: exp.Expression) -> exp.Expression:
    if not (isinstance(node, exp.UnixToTime) and node.args.get("scale") and node.args["scale"].name == "3"):
        return node
    value = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
    if isinstance(value, exp.Sub):  # the milliseconds of an interval between two timestamps
        return exp.paren(
            exp.Sub(this=_call("unix_millis", value.this), expression=_call("unix_millis", value.expression))
        )
    return _call("unix_millis", value)


def _list_element(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.Bracket) or len(node.expressions) != 1:
        return node
    index = node.expressions[0]
    if isinstance(index, exp.Literal) and index.is_string:
        return node  # a struct's field by name
    zero_based = (
        exp.Literal.number(int(index.name) - 1)
        if index.is_int
        else exp.Sub(this=index, expression=exp.Literal.number(1))
    )
    return _call("get", node.this, zero_based)


def _lambda_index(node: exp.Expression) -> exp.Expression:
    """DuckDB's list lambdas count from 1, Spark's from 0: the index reads as Spark's plus one."""
    if not isinstance(node, exp.ArrayFilter | exp.Transform):
        return node
    function = node.expression
    if not isinstance(function, exp.Lambda) or len(function.expressions) != 2:
        return node
    index = function.expressions[1].name
    shifted = f"{index}_from_zero"
    function.expressions[1].replace(exp.to_identifier(shifted))

    def one_based(inner: exp.Expression) -> exp.Expression:
        if isinstance(inner, exp.Identifier | exp.Column) and inner.name == index and not inner.args.get("table"):
            return exp.paren(exp.Add(this=exp.to_identifier(shifted), expression=exp.Literal.number(1)))
        return inner

    function.set("this", function.this.transform(one_based))
    return node


def _ordered_list(node: exp.Expression) -> exp.Expression:
    """`list(x ORDER BY k...) [FILTER (WHERE c)]` as a sorted array of `(k..., x)` structs, keys dropped."""
    aggregate = node.this if isinstance(node, exp.Filter) else node
    if not isinstance(aggregate, exp.ArrayAgg) or not isinstance(aggregate.this, exp.Order):
        return node
    order = aggregate.this
    if any(key.args.get("desc") for key in order.expressions):
        raise NotImplementedError("list(... ORDER BY ... DESC) has no Spark mapping yet")
    fields: list[exp.Expression] = []
    for number, key in enumerate(order.expressions):
        fields += [exp.Literal.string(f"k{number}"), key.this.copy()]
    fields += [exp.Literal.string("v"), order.this.copy()]
    collected: exp.Expression = _call("collect_list", _call("named_struct", *fields))
    if isinstance(node, exp.Filter):
        collected = exp.Filter(this=collected, expression=node.expression.copy())
    value = exp.Lambda(this=exp.column("v", table="e"), expressions=[exp.to_identifier("e")])
    return _call("transform", _call("array_sort", collected), value)


def _arg_min_max(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.ArgMin | exp.ArgMax):
        return node
    value, key = node.this, node.expression
    skipped = exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null(), false=key)
    return _call("min_by" if isinstance(node, exp.ArgMin) else "max_by", value, skipped)


def _json_paths(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.JSONExtractScalar | exp.JSONExtract) and isinstance(node.expression, exp.Array):
        return exp.Array(
            expressions=[_call("get_json_object", node.this.copy(), path) for path in node.expression.expressions]
        )
    return node


def _percentile(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.PercentileCont) and node.expression is not None and not node.args.get("within_group"):
        return _call("percentile", node.this, node.expression)
    return node


def _regexp_replace(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.RegexpReplace):
        return node
    pattern, replacement = node.expression, node.args.get("replacement")
    modifiers = node.args.get("modifiers")
    flags = "".join(flag for flag in (modifiers.name if modifiers else "") if flag in "imsx")
    if flags and isinstance(pattern, exp.Literal):
        node.set("expression", exp.Literal.string(f"(?{flags}){pattern.name}"))
    if isinstance(replacement, exp.Literal):
        node.set("replacement", exp.Literal.string(re.sub(r"\\(\d)", r"$\1", replacement.name)))
    node.set("modifiers", None)
    return node


def _regexp_full_match(node: exp.Expression) -> exp.Expression:
    """`regexp_full_match(text, pattern)` as `text RLIKE '^(?:pattern)$'`: Spark's RLIKE finds a match anywhere."""
    if not isinstance(node, exp.RegexpFullMatch):
        return node
    pattern = node.expression
    if not isinstance(pattern, exp.Literal):
        raise NotImplementedError(f"regexp_full_match with a pattern that is not a literal: {node.sql('duckdb')}")
    return exp.RegexpLike(this=node.this, expression=exp.Literal.string(f"^(?:{pattern.name})$"))


def _list_sum(node: exp.Expression) -> exp.Expression:
    """`list_sum(list)` as Spark's `aggregate`, its NULL elements skipped as DuckDB skips them (a list of NULLs only
    sums to 0 on Spark, to NULL on DuckDB: no transform sums such a list)."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "list_sum" and len(node.expressions) == 1):
        return node
    template = sqlglot.parse_one(
        "aggregate(LIST, CAST(0 AS BIGINT), (total, element) -> total + coalesce(CAST(element AS BIGINT), 0))",
        read="spark",
    )
    return template.transform(
        lambda inner: node.expressions[0].copy() if isinstance(inner, exp.Column) and inner.name == "LIST" else inner
    )


JSON_MERGE_PATCH_UDF = "revolt_json_merge_patch"
SPARK_TYPES = {"VARCHAR": "STRING", "JSON": "STRING", "BIGINT": "BIGINT", "BOOLEAN": "BOOLEAN", "DOUBLE": "DOUBLE"}


def _json_transform(node: exp.Expression) -> exp.Expression:
    """`json_transform(text, '{"field": "TYPE", ...}')` as `from_json(text, 'field TYPE, ...')`."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "json_transform"):
        return node
    text, structure = node.expressions
    if not (isinstance(structure, exp.Literal) and structure.is_string):
        raise NotImplementedError("json_transform has a Spark mapping for a literal structure only")
    fields = json.loads(structure.name)
    unknown = sorted({kind for kind in fields.values() if kind not in SPARK_TYPES})
    if unknown:
        raise NotImplementedError(f"json_transform to {', '.join(unknown)} has no Spark mapping yet")
    schema = ", ".join(f"`{name}` {SPARK_TYPES[kind]}" for name, kind in fields.items())
    return _call("from_json", text, exp.Literal.string(schema))


def _byte_functions(node: exp.Expression) -> exp.Expression:
    """`make_timestamptz` of microseconds, `strlen` (bytes), and a slice of a text's bytes (1-based, inclusive)."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "make_timestamptz" and len(node.expressions) == 1:
        return _call("timestamp_micros", node.expressions[0])
    if isinstance(node, exp.Anonymous) and node.name.lower() == "strlen":
        return _call("octet_length", *node.expressions)
    if isinstance(node, exp.ArraySlice) and isinstance(node.this, exp.Encode):
        start, end = (node.args[bound].copy().transform(_byte_functions) for bound in ("start", "end"))
        length = exp.Add(
            this=exp.Sub(this=exp.paren(end), expression=exp.paren(start.copy())), expression=exp.Literal.number(1)
        )
        return _call("substring", node.this.transform(_byte_functions), start, length)
    return node


def _json_cast(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.JSON:
        return node.this.transform(_json_cast)
    return node


def json_type_sql(text: str) -> str:
    """DuckDB's `json_type` of a JSON text, in Spark SQL (see the module's docstring)."""
    first = f"substr(ltrim({text}), 1, 1)"
    number = f"try_cast(trim({text}) AS DECIMAL(20, 0))"
    return f"""CASE WHEN {text} IS NULL THEN NULL
        WHEN {first} = '{{' THEN 'OBJECT' WHEN {first} = '[' THEN 'ARRAY' WHEN {first} = '"' THEN 'VARCHAR'
        WHEN {first} IN ('t', 'f') THEN 'BOOLEAN' WHEN {first} = 'n' THEN 'NULL'
        WHEN trim({text}) RLIKE '^[0-9]+$' AND {number} <= 18446744073709551615 THEN 'UBIGINT'
        WHEN trim({text}) RLIKE '^-[0-9]+$' AND {number} >= -9223372036854775808 THEN 'BIGINT'
        ELSE 'DOUBLE' END"""


def _json_type(node: exp.Expression) -> exp.Expression:
    """`json_type(j)`, and `json_type(j, path)` of the value at `path`: Spark's `get_json_object` gives a string value
    without its quotes, so the value's JSON text comes from the parsed document (a variant) instead."""
    if not isinstance(node, exp.JSONType):
        return node
    text = node.this
    if node.expression is not None:
        path = parse(f"SELECT json_extract_string(j, {node.expression.sql()})").selects[0].expression
        text = _call("to_json", _call("variant_get", _call("parse_json", node.this.copy()), path))
    # Parsed with a stand-in for the text, which Spark's parser would not give back as built (`parse_json`).
    placeholder = "revolt_json_text"
    cases = sqlglot.parse_one(json_type_sql(placeholder), read="spark")
    filled = cases.transform(lambda n: text.copy() if isinstance(n, exp.Column) and n.name == placeholder else n)
    return exp.paren(filled)


def _json_each(node: exp.Expression) -> exp.Expression:
    """`FROM t, json_each(t.doc) AS entry` as `FROM t CROSS JOIN LATERAL variant_explode(parse_json(t.doc))`."""
    if not isinstance(node, exp.Select):
        return node
    for join in list(node.args.get("joins") or []):
        table = join.this
        if not (isinstance(table, exp.Table) and isinstance(table.this, exp.Anonymous)):
            continue
        if table.this.name.lower() != "json_each":
            continue
        if join.args.get("on") or join.args.get("kind") or not table.alias:
            raise NotImplementedError("json_each has a Spark mapping as a comma join with an alias only")
        alias = table.alias
        generator = _call("variant_explode", _call("parse_json", table.this.expressions[0].copy()))
        columns = [exp.to_identifier(name) for name in ("pos", "key", "variant_value")]
        lateral = exp.Lateral(this=generator, alias=exp.TableAlias(this=exp.to_identifier(alias), columns=columns))
        join.set("this", lateral)
        join.set("kind", "CROSS")
        text = _call("to_json", exp.column("variant_value", table=alias))

        def entry_columns(inner: exp.Expression, alias: str = alias, text: exp.Expression = text) -> exp.Expression:
            if isinstance(inner, exp.Column) and inner.table == alias:
                if inner.name == "type":
                    return exp.paren(sqlglot.parse_one(json_type_sql(text.sql(dialect="spark")), read="spark"))
                if inner.name == "value":
                    return text.copy()
                if inner.name != "key":
                    raise NotImplementedError(f"json_each's {inner.name} has no Spark mapping yet")
            return inner

        for part in [*node.expressions, node.args.get("where"), node.args.get("group"), node.args.get("having")]:
            if part is not None:
                part.replace(part.transform(entry_columns))
    return node


def _json_merge_patch(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.lower() == "json_merge_patch":
        return _call(JSON_MERGE_PATCH_UDF, exp.Array(expressions=list(node.expressions)))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "list_reduce":
        items, function = node.expressions
        merge = function.this if isinstance(function, exp.Lambda) else None
        arguments = [argument.name for argument in function.expressions] if merge is not None else []
        if not (
            isinstance(merge, exp.Anonymous)
            and merge.name.lower() == "json_merge_patch"
            and [item.name for item in merge.expressions] == arguments
        ):
            raise NotImplementedError("list_reduce has a Spark mapping for json_merge_patch(a, b) only")
        return _call(JSON_MERGE_PATCH_UDF, items)
    return node


def _range_table(node: exp.Expression) -> exp.Expression:
    """`FROM t, range(a, b) AS r(n)` (a table of the integers a to b - 1) as Spark's `range` table function."""
    if not (isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries)):
        return node
    series = node.this
    if not series.args.get("is_end_exclusive") or series.args.get("step") is not None:
        raise NotImplementedError("generate_series has no Spark mapping yet; range(a, b) does")
    node.set("this", _call("range", series.args["start"], series.args["end"]))
    return node


def _interval_of_expression(node: exp.Expression) -> exp.Expression:
    """`INTERVAL (expr) DAY`: Spark's interval literals take a literal only; days as `make_dt_interval(expr)`, a
    day-time interval, which added to a date makes a timestamp, as DuckDB's does."""
    if not (isinstance(node, exp.Interval) and isinstance(node.this, exp.Paren)):
        return node
    unit = node.args.get("unit")
    if unit is None or unit.name.upper() != "DAY":
        raise NotImplementedError("INTERVAL (expression) has a Spark mapping in days only")
    return _call("make_dt_interval", node.this.this.transform(_interval_of_expression))


def _mode_and_maps(node: exp.Expression) -> exp.Expression:
    """`mode(x ORDER BY x)`: of values equally frequent, the first in order, which is Spark's deterministic `mode`
    (the lowest); `MAP {}` (an empty map) is Spark's `map()`."""
    if isinstance(node, exp.Mode) and isinstance(node.this, exp.Order):
        order = node.this
        keys = order.expressions
        if len(keys) != 1 or keys[0].args.get("desc") or keys[0].this != order.this:
            raise NotImplementedError("mode(x ORDER BY ...) has a Spark mapping ordered by x ascending only")
        return _call("mode", order.this, exp.true())
    if isinstance(node, exp.ToMap) and isinstance(node.this, exp.Struct) and not node.this.expressions:
        return _call("map")
    return node


def _single_greatest_least(node: exp.Expression) -> exp.Expression:
    """`greatest(x)`, `least(x)` of one argument (a funnel of two steps) is `x`: Spark asks for two at least."""
    if isinstance(node, (exp.Greatest, exp.Least)) and not node.expressions:
        return node.this
    return node


def _double_division(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Div):
        for side in ("this", "expression"):
            operand = node.args[side]
            if isinstance(operand, exp.Literal) and not operand.is_string and "." in operand.name:
                node.set(side, exp.cast(operand, "DOUBLE"))
    return node


SPARK_MAPPING: tuple[Callable[[exp.Expression], exp.Expression], ...] = (
    _json_each,
    _json_merge_patch,
    _json_transform,
    _byte_functions,
    _json_cast,
    _json_type,
    _range_table,
    _interval_of_expression,
    _mode_and_maps,
    _epoch_ms,
    _ordered_list,
    _arg_min_max,
    _json_paths,
    _percentile,
    _regexp_replace,
    _regexp_full_match,
    _list_sum,
    _double_division,
    _single_greatest_least,
    _lambda_index,
    _list_element,
)


def spark_sql(tree: exp.Expression) -> str:
    """Spark SQL of a parsed statement of the transforms (table functions already replaced by the caller)."""
    mapped = tree.copy()
    for rule in SPARK_MAPPING:
        mapped = mapped.transform(rule)
    return mapped.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)


def to_spark(sql: str) -> str:
    """The Spark SQL of one statement written for DuckDB."""
    return spark_sql(parse(sql))
