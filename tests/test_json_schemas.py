"""gateway/doors/common/json_schemas.py against the reference: jsonschema's own metaschemas.

The gateway's check of tool parameters is a fast loop over the keywords; jsonschema validates a
schema against the published metaschema. On what the metaschemas decide, the two must agree:
each schema below is judged by the metaschema of the draft it is written in (2020-12, unless it
uses an older draft's form, which clients still send: zod writes draft 7). On what they do not
decide (a `$ref` that loops, or points nowhere), the gateway is stricter, on purpose.
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft7Validator, Draft202012Validator

from gateway.doors.common.json_schemas import schema_problem

DRAFT_4, DRAFT_7 = "draft 4", "draft 7"
JUDGES = {DRAFT_4: Draft4Validator, DRAFT_7: Draft7Validator}

SCHEMAS: list[dict[str, Any] | tuple[str, dict[str, Any]]] = [
    # what clients send
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    {"type": "object", "properties": {}, "additionalProperties": False},
    {
        "$schema": "http://json-schema.org/draft-07/schema#",  # zod-to-json-schema
        "type": "object",
        "properties": {"n": {"type": "number", "exclusiveMinimum": 0, "maximum": 10}},
        "additionalProperties": False,
        "required": ["n"],
    },
    {"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
    {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}},
    {
        "type": "object",
        "$defs": {"p": {"type": "integer"}},
        "properties": {"a": {"$ref": "#/$defs/p"}},
    },
    {"type": ["string", "null"], "enum": ["a", None], "default": None, "examples": ["a"]},
    {"type": "string", "minLength": 1, "maxLength": 2.0, "pattern": "^a", "format": "email"},
    (DRAFT_7, {"type": "array", "items": [{"type": "string"}], "additionalItems": False}),
    {"type": "array", "prefixItems": [{"type": "string"}], "items": False},  # 2020-12
    (DRAFT_4, {"type": "number", "exclusiveMaximum": True, "maximum": 5}),
    (DRAFT_7, {"type": "object", "dependencies": {"a": ["b"], "c": {"required": ["d"]}}}),
    {"type": "object", "dependentRequired": {"a": ["b"]}, "dependentSchemas": {"c": True}},
    {"if": {"type": "string"}, "then": {"minLength": 1}, "else": {"type": "number"}},
    {"not": {"type": "null"}, "x-vendor": {"type": "wizard"}},  # unknown keywords: anything
    {"properties": {"$ref": {"type": "string"}, "type": {"type": "string"}}},
    {"const": {"type": "wizard"}, "description": "const holds a value, not a schema"},
    # what they should not
    {"type": "wizard"},
    {"type": []},
    {"type": ["string", "string"]},
    {"type": 5},
    {"properties": {"a": {"type": "strin"}}},
    {"properties": {"a": 5}},
    {"properties": []},
    {"required": "a"},
    {"required": [1]},
    {"required": ["a", "a"]},
    {"minLength": -1},
    {"minLength": 1.5},
    {"minLength": True},
    {"maximum": "10"},
    {"multipleOf": 0},
    {"enum": "a"},
    {"allOf": []},
    {"anyOf": {"type": "string"}},
    {"oneOf": [5]},
    {"items": 5},
    {"additionalProperties": "no"},
    {"uniqueItems": "yes"},
    {"description": 5},
    {"title": None},
    {"$ref": 5},
    {"dependentRequired": {"a": "b"}},
    (DRAFT_7, {"definitions": {"a": 5}}),
    (DRAFT_7, {"items": [5]}),
    (DRAFT_4, {"exclusiveMinimum": "yes"}),
]


@pytest.mark.parametrize("case", SCHEMAS, ids=[str(index) for index in range(len(SCHEMAS))])
def test_the_gateway_agrees_with_the_metaschemas(
    case: dict[str, Any] | tuple[str, dict[str, Any]],
) -> None:
    draft, schema = case if isinstance(case, tuple) else (None, case)
    judge = JUDGES.get(draft or "", Draft202012Validator)
    valid = judge(judge.META_SCHEMA).is_valid(schema)
    assert (schema_problem(schema) is None) == valid, schema_problem(schema)


NOT_USABLE = {
    "a $ref to itself": {"$ref": "#"},
    "a $ref to itself beside other keywords": {"type": "object", "$ref": "#"},
    "a loop of two": {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}},
    "a loop through allOf": {"allOf": [{"$ref": "#"}]},
    "a loop through not": {"not": {"$ref": "#"}},
    "a $ref to nothing": {"$ref": "#/$defs/none"},
    "a $ref to a value that is no schema": {"enum": [1], "$ref": "#/enum/0"},
    "a $ref to another document": {"$ref": "https://example.com/a.json"},
    "a $ref by anchor": {"$ref": "#a", "$defs": {"x": {"$anchor": "a"}}},
}


@pytest.mark.parametrize("schema", NOT_USABLE.values(), ids=NOT_USABLE.keys())
def test_references_must_resolve_here_and_not_loop_in_place(schema: dict[str, Any]) -> None:
    assert schema_problem(schema) is not None


def test_recursion_through_a_value_is_a_tree_not_a_loop() -> None:
    tree = {
        "type": "object",
        "properties": {"children": {"type": "array", "items": {"$ref": "#"}}},
        "$defs": {
            "n": {"anyOf": [{"type": "null"}, {"properties": {"next": {"$ref": "#/$defs/n"}}}]}
        },
    }
    assert schema_problem(tree) is None
    assert schema_problem({"$defs": {"a/b~": {"type": "string"}}, "$ref": "#/$defs/a~1b~0"}) is None


def test_the_problem_says_where_in_the_schema() -> None:
    problem = schema_problem({"type": "object", "properties": {"a": {"type": "wizard"}}})
    assert problem is not None and problem.startswith("not a JSON Schema: properties.a.type: ")
