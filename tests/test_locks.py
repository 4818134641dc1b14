"""The hash-locked requirement files are complete, so installing them with --no-deps is safe.

scripts/setup and the Dockerfile install the locks without resolving anything (a resolver that
re-reads an extra picks up whatever the index released since: issue 20). Then only a complete
lock gives a working install, and these tests are what notices a lock with a hole in it, before a
user's `pip check` or import does.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.support.locks import read_lock, unmet

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"


def project_requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    return [Requirement(spec) for spec in specs]


@pytest.mark.parametrize(
    ("lock_file", "extras"), [(RUNTIME_LOCK, ()), (DEV_LOCK, ("dev",))], ids=["runtime", "dev"]
)
def test_lock_satisfies_every_requirement_extras_included(
    lock_file: Path, extras: tuple[str, ...]
) -> None:
    lock = read_lock(lock_file.read_text(encoding="utf-8"))
    assert unmet(lock, project_requirements(*extras)) == []


def test_runtime_lock_pins_what_the_tests_run_on() -> None:
    """The image installs requirements.lock; the suite runs on requirements-dev.lock."""
    runtime = read_lock(RUNTIME_LOCK.read_text(encoding="utf-8")).pins
    dev = read_lock(DEV_LOCK.read_text(encoding="utf-8")).pins
    assert set(runtime) <= set(dev), set(runtime) - set(dev)
    assert {name: version for name, version in runtime.items() if dev[name] != version} == {}


def test_this_environment_is_the_dev_lock() -> None:
    """What the suite runs on is exactly the lock (pip check alone would accept other versions)."""
    for name, version in read_lock(DEV_LOCK.read_text(encoding="utf-8")).pins.items():
        assert Version(metadata.version(name)) == version, name


# --- the checker catches what it is for ---------------------------------------------------------

LITELLM_LOCK = DEV_LOCK.read_text(encoding="utf-8")


def without(text: str, name: str) -> str:
    """The lock text with one entry (its pin line and its indented lines) removed."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if not line.startswith((" ", "#")):
            skipping = line.lower().startswith(f"{name}==")
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def test_a_dependency_reached_only_through_an_extra_is_required() -> None:
    # h2 is there only because litellm asks for httpx[http2].
    lock = read_lock(without(LITELLM_LOCK, "h2"))
    problems = unmet(lock, project_requirements("dev"))
    assert any(
        problem.startswith("h2 is not in the lock") and "httpx[http2]" in problem
        for problem in problems
    ), problems


def test_a_missing_plain_dependency_names_who_asked() -> None:
    problems = unmet(read_lock(without(LITELLM_LOCK, "tiktoken")), project_requirements())
    assert any("tiktoken" in problem and "litellm==1.106.2" in problem for problem in problems)


def test_a_pin_outside_a_requirement_is_reported() -> None:
    text = LITELLM_LOCK.replace("\nhttpx==0.28.1 ", "\nhttpx==0.27.0 ")
    assert text != LITELLM_LOCK
    problems = unmet(read_lock(text), project_requirements())
    assert any(problem.startswith("httpx==0.27.0 does not satisfy") for problem in problems)


def test_unpinned_and_duplicate_lines_are_reported() -> None:
    lock = read_lock("httpx>=0.28\nh2==4.4.1 \\\n    --hash=sha256:00\nh2==4.4.1\n")
    assert lock.problems == (
        "line 1 is not pinned with ==: httpx>=0.28",
        "line 4 pins h2 a second time",
    )
