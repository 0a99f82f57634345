"""The contract's JSON Schemas as the tests validate with them: integers as JSON spells them.

JSON Schema counts `1.0` and `1e2` as integers; the contract does not (an id written so is refused,
see `requiredIdentifier`). Python's JSON parser keeps the difference (int or float), and so does this
validator. References between the schemas resolve by their `$id`, without a network.
"""

import json
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_FILES = ("segment-message.schema.json", "batch.schema.json")


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


ContractValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


def load_schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("revolt_pipeline.contract").joinpath(name).read_text())


def contract_validator(name: str) -> jsonschema.protocols.Validator:
    """A validator for one of the contract's schemas, formats checked too.

    The schemas' `$schema` goes: a reference into a schema that names its dialect would be followed by
    that dialect's own validator, with JSON Schema's integers again.
    """
    schemas = {file: {k: v for k, v in load_schema(file).items() if k != "$schema"} for file in SCHEMA_FILES}
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        for schema in schemas.values()
    )
    return ContractValidator(schemas[name], registry=registry, format_checker=jsonschema.FormatChecker())
