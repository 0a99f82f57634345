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

Table functions (`read_parquet`), `COPY`, temporary tables and `UNION ALL BY NAME` have no Spark SQL of their
own: `transforms/spark.py` runs them through DataFrames, finding them with the functions here.
"""

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
    if isinstance(node, exp.JSONExtractScalar) and isinstance(node.expression, exp.Array):
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


def _double_division(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Div):
        for side in ("this", "expression"):
            operand = node.args[side]
            if isinstance(operand, exp.Literal) and not operand.is_string and "." in operand.name:
                node.set(side, exp.cast(operand, "DOUBLE"))
    return node


SPARK_MAPPING: tuple[Callable[[exp.Expression], exp.Expression], ...] = (
    _epoch_ms,
    _ordered_list,
    _arg_min_max,
    _json_paths,
    _percentile,
    _regexp_replace,
    _double_division,
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
