"""The collector's OpenAPI description, made self-contained for the clients that read it.

`openapi.json` beside this module refers to the contract's JSON Schemas by file name
(`segment-message.schema.json`, `batch.schema.json`) so that each rule has one home. Served over
HTTP, such references would point at URLs nobody serves, so the document is bundled: every schema
file it refers to is embedded under `components/schemas/<file name>` and the references rewritten.
"""

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

DOCUMENT = "openapi.json"
_COMPONENT = "#/components/schemas/"


def _load(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def bundle(document: dict[str, Any], load: Callable[[str], Any] = _load) -> dict[str, Any]:
    """`document` with every schema file it refers to embedded, and no reference left outside it.

    Inside an embedded schema, its own `#/...` references are rebased onto its new place; its `$id`
    goes, since a base URI would make the rebased references resolve against that URI instead.
    """
    embedded: dict[str, Any] = {}

    def embed(name: str) -> None:
        if name not in embedded:
            embedded[name] = None  # taken before recursing: schemas may refer to each other
            schema = load(name)
            schema.pop("$id", None)
            schema.pop("$schema", None)
            embedded[name] = rewrite(schema, name)

    def rewrite(node: Any, home: str | None) -> Any:
        if isinstance(node, list):
            return [rewrite(item, home) for item in node]
        if not isinstance(node, dict):
            return node
        result = {key: rewrite(value, home) for key, value in node.items()}
        target = node.get("$ref")
        if isinstance(target, str):
            name, _, pointer = target.partition("#")
            if name:
                embed(name)
                result["$ref"] = _COMPONENT + name + pointer
            elif home is not None:
                result["$ref"] = _COMPONENT + home + pointer
        return result

    bundled = rewrite(document, None)
    schemas = bundled.setdefault("components", {}).setdefault("schemas", {})
    clashes = sorted(set(schemas) & set(embedded))
    if clashes:
        raise ValueError(f"components/schemas already holds schemas named {clashes}")
    schemas.update(sorted(embedded.items()))
    return bundled


@cache
def openapi_document() -> dict[str, Any]:
    """The description as served: self-contained."""
    return bundle(_load(DOCUMENT))


@cache
def openapi_bytes() -> bytes:
    return json.dumps(openapi_document(), ensure_ascii=False).encode()
