"""The README's error table is the error catalogue (gateway/errors.py), row for row."""

from __future__ import annotations

import re
from pathlib import Path

import gateway.app  # noqa: F401  (imports every module that defines an error)
from gateway.errors import GatewayError

README = Path(__file__).resolve().parents[1] / "README.md"


def catalogue() -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    pending = list(GatewayError.__subclasses__())
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        if not kind.mid_stream_only:
            found.add((kind.status, kind.error_type))
    return found


def readme_table() -> set[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    table = text.split("**Errors** before the first byte", 1)[1].split("\n\n", 2)[1]
    rows: set[tuple[int, str]] = set()
    for line in table.splitlines()[2:]:
        status, types = line.split("|")[1:3]
        rows.update((int(status), name) for name in re.findall(r"`([a-z_]+)`", types))
    return rows


def test_the_readme_error_table_lists_exactly_the_errors_the_code_can_answer_with() -> None:
    assert readme_table() == catalogue()


def test_every_error_kind_has_one_status() -> None:
    statuses: dict[str, set[int]] = {}
    for status, name in catalogue():
        statuses.setdefault(name, set()).add(status)
    assert {name: s for name, s in statuses.items() if len(s) > 1} == {}
