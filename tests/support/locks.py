"""Is a hash-locked requirements file a complete list? (Used by tests/test_locks.py.)

The locks are installed with `--no-deps` (scripts/setup, the Dockerfile): nothing is resolved at
install time, so nothing a package index released since can slip in. The price is that pip no
longer notices a lock with a hole in it. This walks the requirement graph from the project's own
requirements, extras included (litellm asks for `httpx[http2]`, which needs `h2`), reading each
distribution's requirements from its installed metadata, and reports every requirement the lock
does not satisfy, with the chain that asked for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

# `name==version \` or `name[extra]==version` at the start of a line; hashes and `# via` comments
# are indented continuation lines.
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


@dataclass(frozen=True)
class Lock:
    pins: dict[str, Version]  # canonical name -> pinned version
    problems: tuple[str, ...]  # lines that are not pins, names pinned twice (pip checks hashes)


def read_lock(text: str) -> Lock:
    pins: dict[str, Version] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith((" ", "\t", "#")):
            continue
        match = _PIN.match(line)
        if match is None:
            problems.append(f"line {number} is not pinned with ==: {line.strip()}")
            continue
        name = canonicalize_name(match["name"])
        if name in pins:
            problems.append(f"line {number} pins {name} a second time")
        pins[name] = Version(match["version"])
    return Lock(pins, tuple(problems))


def installed_requirements(name: str) -> tuple[Version, list[Requirement]] | None:
    """The installed distribution's version and its Requires-Dist, or None if absent."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    return Version(dist.version), [Requirement(spec) for spec in dist.requires or ()]


RequirementsOf = Callable[[str], tuple[Version, list[Requirement]] | None]


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


def unmet(
    lock: Lock,
    roots: Iterable[Requirement],
    requirements_of: RequirementsOf = installed_requirements,
) -> list[str]:
    """Every requirement reachable from `roots` that `lock` leaves unmet, as readable lines."""
    problems = list(lock.problems)
    # (distribution, extras asked of it) already expanded, so each is read once.
    expanded: set[tuple[str, frozenset[str]]] = set()
    pending: list[tuple[Requirement, str]] = [(root, "the project") for root in roots]
    while pending:
        requirement, asked_by = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = frozenset(canonicalize_name(extra) for extra in requirement.extras)
        wanted = f"{requirement} (asked by {asked_by})"
        pinned = lock.pins.get(name)
        if pinned is None:
            problems.append(f"{name} is not in the lock: {wanted}")
            continue
        if not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{name}=={pinned} does not satisfy {wanted}")
            continue
        if (name, extras) in expanded:
            continue
        expanded.add((name, extras))
        found = requirements_of(name)
        if found is None:
            problems.append(f"{name} is locked but not installed, so its requirements are unread")
            continue
        version, requires = found
        if version != pinned:
            problems.append(f"{name} {version} is installed, the lock pins {pinned}")
            continue
        label = f"{name}[{','.join(sorted(extras))}]" if extras else name
        for child in requires:
            if _applies(child, extras):
                pending.append((child, f"{label}=={pinned}"))
    return sorted(set(problems))
