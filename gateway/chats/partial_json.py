"""The AI SDK's parsePartialJson, ported: what a page shows of a tool call's input while its
argument text is still streaming (assembly.py stores the same)."""

from __future__ import annotations

import json
from typing import Any


class Unset:
    """JavaScript's undefined: the SDK assigns it, and JSON (and so storage) drops the key."""


UNSET = Unset()


def partial_input(part: dict[str, Any]) -> Any:
    """The SDK's parsePartialJson(rawInput).value: as is, else repaired, else undefined."""
    text: str = part["rawInput"]
    for candidate in (text, _fix_json(text)):
        try:
            return _secure_json(candidate)
        except ValueError:
            continue
    return UNSET


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse knows no NaN or Infinity


def _secure_json(text: str) -> Any:
    """JSON.parse, refusing what the SDK's secureJsonParse refuses (prototype keys)."""
    value = json.loads(text, parse_constant=_reject_constant)
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            constructor = node.get("constructor")
            if "__proto__" in node or (
                isinstance(constructor, dict) and "prototype" in constructor
            ):
                raise ValueError("forbidden prototype property")
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return value


def _fix_json(text: str) -> str:
    """The SDK's fixJson: close what a cut-off JSON text left open. A line-by-line port."""
    stack = ["ROOT"]
    last_valid = -1
    literal_start = 0
    unicode_digits = 0

    def value_start(char: str, i: int, swap: str) -> None:
        nonlocal last_valid, literal_start
        opened = {'"': "INSIDE_STRING", "{": "INSIDE_OBJECT_START", "[": "INSIDE_ARRAY_START"}
        if char in opened:
            last_valid = i
            stack[-1] = swap
            stack.append(opened[char])
        elif char in "ftn":
            last_valid = i
            literal_start = i
            stack[-1] = swap
            stack.append("INSIDE_LITERAL")
        elif char == "-":
            stack[-1] = swap
            stack.append("INSIDE_NUMBER")
        elif "0" <= char <= "9":
            last_valid = i
            stack[-1] = swap
            stack.append("INSIDE_NUMBER")

    def after_value(char: str, i: int, comma_state: str, closer: str) -> None:
        nonlocal last_valid
        if char == ",":
            stack[-1] = comma_state
        elif char == closer:
            last_valid = i
            stack.pop()

    def after_object_value(char: str, i: int) -> None:
        after_value(char, i, "INSIDE_OBJECT_AFTER_COMMA", "}")

    def after_array_value(char: str, i: int) -> None:
        after_value(char, i, "INSIDE_ARRAY_AFTER_COMMA", "]")

    for i, char in enumerate(text):
        state = stack[-1]
        if state == "ROOT":
            value_start(char, i, "FINISH")
        elif state == "INSIDE_OBJECT_START":
            if char == '"':
                stack[-1] = "INSIDE_OBJECT_KEY"
            elif char == "}":
                last_valid = i
                stack.pop()
        elif state == "INSIDE_OBJECT_AFTER_COMMA":
            if char == '"':
                stack[-1] = "INSIDE_OBJECT_KEY"
        elif state == "INSIDE_OBJECT_KEY":
            if char == '"':
                stack[-1] = "INSIDE_OBJECT_AFTER_KEY"
        elif state == "INSIDE_OBJECT_AFTER_KEY":
            if char == ":":
                stack[-1] = "INSIDE_OBJECT_BEFORE_VALUE"
        elif state == "INSIDE_OBJECT_BEFORE_VALUE":
            value_start(char, i, "INSIDE_OBJECT_AFTER_VALUE")
        elif state == "INSIDE_OBJECT_AFTER_VALUE":
            after_object_value(char, i)
        elif state == "INSIDE_STRING":
            if char == '"':
                stack.pop()
                last_valid = i
            elif char == "\\":
                stack.append("INSIDE_STRING_ESCAPE")
            else:
                last_valid = i
        elif state == "INSIDE_ARRAY_START":
            if char == "]":
                last_valid = i
                stack.pop()
            else:
                value_start(char, i, "INSIDE_ARRAY_AFTER_VALUE")
        elif state == "INSIDE_ARRAY_AFTER_VALUE":
            if char == ",":
                stack[-1] = "INSIDE_ARRAY_AFTER_COMMA"
            elif char == "]":
                last_valid = i
                stack.pop()
            else:
                last_valid = i
        elif state == "INSIDE_ARRAY_AFTER_COMMA":
            value_start(char, i, "INSIDE_ARRAY_AFTER_VALUE")
        elif state == "INSIDE_STRING_ESCAPE":
            stack.pop()
            if char == "u":
                unicode_digits = 0
                stack.append("INSIDE_STRING_UNICODE_ESCAPE")
            else:
                last_valid = i
        elif state == "INSIDE_STRING_UNICODE_ESCAPE":
            if char in "0123456789abcdefABCDEF":
                unicode_digits += 1
                if unicode_digits == 4:
                    stack.pop()
                    last_valid = i
        elif state == "INSIDE_NUMBER":
            if "0" <= char <= "9":
                last_valid = i
            elif char in "eE-.":
                pass
            elif char in ",}]":
                # The number ends; the container around it reads the same character.
                stack.pop()
                if char != "}" and stack[-1] == "INSIDE_ARRAY_AFTER_VALUE":
                    after_array_value(char, i)
                if char != "]" and stack[-1] == "INSIDE_OBJECT_AFTER_VALUE":
                    after_object_value(char, i)
            else:
                stack.pop()
        elif state == "INSIDE_LITERAL":
            partial = text[literal_start : i + 1]
            if not any(word.startswith(partial) for word in ("false", "true", "null")):
                stack.pop()
                if stack[-1] == "INSIDE_OBJECT_AFTER_VALUE":
                    after_object_value(char, i)
                elif stack[-1] == "INSIDE_ARRAY_AFTER_VALUE":
                    after_array_value(char, i)
            else:
                last_valid = i

    result = text[: last_valid + 1]
    for state in reversed(stack):
        if state == "INSIDE_STRING":
            result += '"'
        elif state.startswith("INSIDE_OBJECT"):
            result += "}"
        elif state.startswith("INSIDE_ARRAY"):
            result += "]"
        elif state == "INSIDE_LITERAL":
            partial = text[literal_start:]
            for word in ("true", "false", "null"):
                if word.startswith(partial):
                    result += word[len(partial) :]
                    break
    return result
