"""Tool parameters and output formats must be JSON Schemas a provider can use.

A schema goes on as given (LiteLLM rewrites some for their provider, inlining `$ref`s for
Gemini), so `{"type": "wizard"}` would be the provider's 400, blamed on the provider, and
`{"$ref": "#"}` an endless loop for whatever resolves it. Checked here, before any call:

- every keyword the JSON Schema metaschemas define (drafts 4 to 2020-12, so what zod and
  pydantic write passes) holds a value of its kind: `type` a type name, `properties` schemas,
  `required` strings, `minLength` a count, … Unknown keywords are allowed, as the metaschemas
  allow them. This is the check against the metaschema that jsonschema makes (tests/
  test_json_schemas.py holds the two to the same verdicts), without its cost: jsonschema takes
  ~0.35 ms (draft 7) to ~2 ms (2020-12) for one ordinary 10-property schema, a quarter of a
  second for a request with 128 tools and seconds of CPU for a 1 MiB body of them; this loop
  takes ~15 µs.
- every `$ref` is a JSON pointer into the schema itself (`#`, `#/$defs/…`) that names a
  schema: a provider fetches nothing;
- no `$ref` leads back to where it started without descending into the value (through
  `properties`, `items`, …): recursion through a property is a tree, recursion in place is a loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any
from urllib.parse import unquote

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

SchemaPath = tuple[str, ...]  # keys and list indices as strings, as a JSON pointer has them

_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")


def check_json_schema(schema: Any) -> Any:
    """`schema` itself, or a validation error saying what in it is not JSON Schema, and where."""
    problem = schema_problem(schema)
    if problem is not None:
        raise PydanticCustomError("invalid_json_schema", "{problem}", {"problem": problem})
    return schema


def schema_problem(schema: Any) -> str | None:
    """What is wrong with `schema` as a JSON Schema, or None."""
    walk = _Walk(schema)
    try:
        walk.check()
        if walk.refs:  # without a $ref the schemas are a tree: no loop
            _check_loops(walk.in_place)
    except _NotASchema as exc:
        return str(exc)
    return None


# A dict of JSON Schema parts: the Annotated type of a field that holds one.
JsonSchemaObject = Annotated[dict[str, Any], AfterValidator(check_json_schema)]


class _NotASchema(Exception):
    pass


def _at(path: SchemaPath, problem: str) -> _NotASchema:
    where = ".".join(path) if path else "the top"
    return _NotASchema(f"not a JSON Schema: {where}: {problem}")


# --- what each keyword holds --------------------------------------------------------------------

Check = Callable[[Any], str | None]


def _is_schema(value: Any) -> bool:
    return isinstance(value, dict | bool)


def _is_integer(value: Any) -> bool:
    # JSON Schema's integers include 2.0; JSON's true and false are no numbers.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "should be a string"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "should be true or false"


def _number(value: Any) -> str | None:
    return None if _is_number(value) else "should be a number"


def _number_or_boolean(value: Any) -> str | None:  # draft 4's exclusiveMaximum was a flag
    return None if _is_number(value) or isinstance(value, bool) else "should be a number"


def _positive(value: Any) -> str | None:
    return None if _is_number(value) and value > 0 else "should be a number above 0"


def _count(value: Any) -> str | None:
    return None if _is_integer(value) and value >= 0 else "should be an integer of 0 or more"


def _array(value: Any) -> str | None:
    return None if isinstance(value, list) else "should be an array"


def _strings(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return "should be an array of strings"
    return None if len(set(value)) == len(value) else "should not name a property twice"


def _type(value: Any) -> str | None:
    names = value if isinstance(value, list) else [value]
    known = all(isinstance(name, str) and name in _TYPES for name in names)
    if not names or not known or len(set(names)) != len(names):
        return f"{value!r} is not a type ({', '.join(_TYPES)}, or a list of them)"
    return None


def _object_of(check: Check) -> Check:
    def of(value: Any) -> str | None:
        if not isinstance(value, dict):
            return "should be an object"
        for key, item in value.items():
            problem = check(item)
            if problem is not None:
                return f"{key}: {problem}"
        return None

    return of


def _schema(value: Any) -> str | None:
    return None if _is_schema(value) else "should be a schema (an object or a boolean)"


def _schemas(value: Any) -> str | None:
    if not isinstance(value, list) or not value or not all(map(_is_schema, value)):
        return "should be a non-empty array of schemas"
    return None


def _schema_or_schemas(value: Any) -> str | None:  # `items` took a list before 2020-12
    return _schema(value) if not isinstance(value, list) else _schemas(value)


def _schema_or_strings(value: Any) -> str | None:  # `dependencies` values, before 2019-09
    return _schema(value) if not isinstance(value, list) else _strings(value)


# Keywords whose value is a schema, a list of them, or an object of them: where the walk goes.
_ONE_SCHEMA = (
    "additionalItems", "additionalProperties", "contains", "contentSchema", "else", "if", "not",
    "propertyNames", "then", "unevaluatedItems", "unevaluatedProperties",
)  # fmt: skip
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_OBJECTS = ("$defs", "definitions", "dependentSchemas", "patternProperties", "properties",
                   "dependencies")  # fmt: skip
_HOLDS_SCHEMAS = frozenset((*_ONE_SCHEMA, *_SCHEMA_LISTS, *_SCHEMA_OBJECTS))
# Keywords that apply to the very value their schema applies to: a loop through these is endless.
_IN_PLACE = frozenset(
    ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "dependencies")
)  # fmt: skip

_KEYWORDS: dict[str, Check] = {
    **dict.fromkeys(
        ("$id", "$schema", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef",
         "$comment", "title", "description", "format", "pattern", "contentEncoding",
         "contentMediaType"),
        _string,
    ),
    **dict.fromkeys(
        ("uniqueItems", "deprecated", "readOnly", "writeOnly", "$recursiveAnchor"), _boolean
    ),
    **dict.fromkeys(
        ("maxLength", "minLength", "maxItems", "minItems", "maxContains", "minContains",
         "maxProperties", "minProperties"),
        _count,
    ),
    **dict.fromkeys(("maximum", "minimum"), _number),
    **dict.fromkeys(("exclusiveMaximum", "exclusiveMinimum"), _number_or_boolean),
    **dict.fromkeys(_ONE_SCHEMA, _schema),
    **dict.fromkeys(("allOf", "anyOf", "oneOf", "prefixItems"), _schemas),
    **dict.fromkeys(_SCHEMA_OBJECTS, _object_of(_schema)),
    "items": _schema_or_schemas,
    "dependencies": _object_of(_schema_or_strings),
    "dependentRequired": _object_of(_strings),
    "$vocabulary": _object_of(_boolean),
    "multipleOf": _positive,
    "type": _type,
    "required": _strings,
    "enum": _array,
    "examples": _array,
}  # fmt: skip


# --- the walk -----------------------------------------------------------------------------------


def _subschemas(keyword: str, value: Any) -> Iterator[tuple[SchemaPath, Any]]:
    """The schemas a keyword's (checked) value holds, by their path below the keyword."""
    if keyword in _ONE_SCHEMA or (keyword == "items" and not isinstance(value, list)):
        yield (), value
    elif keyword in _SCHEMA_LISTS:
        yield from (((str(index),), item) for index, item in enumerate(value))
    elif keyword in _SCHEMA_OBJECTS:
        yield from (((name,), item) for name, item in value.items() if _is_schema(item))


class _Walk:
    """Every schema in the document, each keyword checked, each `$ref` resolved; and the edges
    that apply a schema to the same value (in-place keywords and `$ref`s), to look for loops."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.in_place: dict[SchemaPath, list[SchemaPath]] = {}
        self.refs = False

    def check(self) -> None:
        if not isinstance(self.root, dict):
            raise _at((), "a schema should be an object")
        seen: set[SchemaPath] = set()
        pending: list[tuple[SchemaPath, Any]] = [((), self.root)]
        while pending:
            path, schema = pending.pop()
            if path in seen or not isinstance(schema, dict):
                continue  # true and false are schemas too
            seen.add(path)
            edges = []
            for keyword, value in schema.items():
                check = _KEYWORDS.get(keyword)
                if check is None:
                    continue  # a keyword of no metaschema: anything goes
                problem = check(value)
                if problem is not None:
                    raise _at((*path, keyword), problem)
                if keyword not in _HOLDS_SCHEMAS:
                    continue
                for below, child in _subschemas(keyword, value):
                    child_path = (*path, keyword, *below)
                    pending.append((child_path, child))
                    if keyword in _IN_PLACE:
                        edges.append(child_path)
            ref = schema.get("$ref")
            if ref is not None:
                self.refs = True
                target = self._target(path, ref)
                pending.append((target, self._resolve(target)))
                edges.append(target)
            if edges:
                self.in_place[path] = edges

    def _target(self, path: SchemaPath, ref: str) -> SchemaPath:
        """The path `ref` points at: a schema within this document."""
        if not ref.startswith("#") or (len(ref) > 1 and ref[1] != "/"):
            raise _at((*path, "$ref"), f"{ref!r} should point into this schema ('#/…')")
        target = _pointer(ref)
        if not _is_schema(self._resolve(target)):
            raise _at((*path, "$ref"), f"{ref!r} points at no schema in this one")
        return target

    def _resolve(self, path: SchemaPath) -> Any:
        value = self.root
        for part in path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None  # no schema (JSON's null is none either)
        return value


def _pointer(ref: str) -> SchemaPath:
    """`#/$defs/a~1b` -> ("$defs", "a/b"); `#` -> ()."""
    if ref == "#":
        return ()
    return tuple(unquote(part).replace("~1", "/").replace("~0", "~") for part in ref[2:].split("/"))


def _check_loops(edges: dict[SchemaPath, list[SchemaPath]]) -> None:
    """Refuse a cycle of schemas that apply to the same value (only a `$ref` can close one)."""
    done: set[SchemaPath] = set()
    for start in edges:
        if start in done:
            continue
        # Depth first, iteratively: `open_paths` are the schemas on the current chain.
        open_paths = {start}
        stack = [(start, iter(edges[start]))]
        while stack:
            path, following = stack[-1]
            step = next(following, None)
            if step is None:
                stack.pop()
                open_paths.discard(path)
                done.add(path)
            elif step in open_paths:
                where = ".".join(step) if step else "the top"
                raise _NotASchema(
                    f"not a usable JSON Schema: a $ref leads back to {where} without descending "
                    "into the value (an endless loop)"
                )
            elif step not in done:
                open_paths.add(step)
                stack.append((step, iter(edges.get(step, ()))))
