"""One reader of pydantic's errors, each audience's words: the same mistakes, read once, said to a
client (a 422), an operator (the YAML and the keys file), a model (a tool's arguments) and the
settings. The wording each test pins is what that audience read before there was one reader."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gateway.auth import KeyConfigError, _entry
from gateway.config.validation import _OPERATOR_WORDS
from gateway.doors.common.error_responses import describe_validation_errors
from gateway.tools.registry import describe_validation_error
from gateway.validation_problems import Wording, field_problems


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    weight: int = 1

    @field_validator("weight")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value


def _errors(raw: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Entry.model_validate(raw)
    return caught.value


def test_each_audience_words_the_same_mistakes_its_own_way() -> None:
    error = _errors({"weight": 0, "colour": "red"})

    operator = [(p.dotted("entry"), p.message) for p in field_problems(error, _OPERATOR_WORDS)]
    assert operator == [
        ("name", "missing"),
        ("weight", "must be at least 1"),
        ("colour", "unknown field"),
    ]

    assert describe_validation_error(error) == (
        "name: required; weight: Value error, must be at least 1; "
        "colour: not a parameter of this tool"
    )

    param, message = describe_validation_errors(
        [{**err, "loc": ("body", *err["loc"])} for err in error.errors()]
    )
    assert param == "name"
    assert message == (
        "name: field required; weight: Value error, must be at least 1; "
        "colour: Extra inputs are not permitted"
    )


def test_a_limit_shows_the_first_problems_only() -> None:
    error = _errors({"weight": 0, "colour": "red", "size": 2})
    assert len(field_problems(error, Wording())) == 4
    assert [p.dotted("") for p in field_problems(error, Wording(), limit=2)] == ["name", "weight"]


def test_a_problem_with_the_whole_value_is_named_as_a_whole() -> None:
    error = _errors("not an object")
    (problem,) = field_problems(error, Wording())
    assert problem.loc == ()
    assert problem.dotted("entry") == "entry"
    assert problem.error_type == "model_type"


def test_a_validator_that_names_the_field_keeps_that_name_for_the_client() -> None:
    # A check of the whole body puts the field it found wrong in the error's context.
    found = [{"type": "value_error", "loc": ("body",), "msg": "bad", "ctx": {"param": "tools"}}]
    assert describe_validation_errors(found) == ("tools", "tools: bad")


def test_the_keys_file_names_the_field_never_the_input() -> None:
    secret = "sk-not-long"
    with pytest.raises(KeyConfigError) as caught:
        _entry({"name": "team", "key": secret}, "keys.yaml: entry 0")
    assert str(caught.value).startswith("keys.yaml: entry 0: key: keys must be at least")
    assert secret not in str(caught.value)

    with pytest.raises(KeyConfigError) as caught:
        _entry({"key": "x" * 40}, "keys.yaml: entry 1")
    assert str(caught.value) == "keys.yaml: entry 1: name: missing"


def test_the_reader_is_a_leaf_config_may_use() -> None:
    source = Path(__file__).parents[1] / "gateway" / "validation_problems.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported = [
        node.module or "" if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert [name for name in imported if name.startswith("gateway")] == []
