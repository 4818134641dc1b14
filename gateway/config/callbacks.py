"""The logging callbacks a config's litellm_settings lists, read as data.

Which callbacks exist and how each reaches LiteLLM is gateway/upstream/litellm_callbacks.py's job;
this is only what the snapshot asks for, split by how it is passed (names per call,
`module.attribute`
CustomLogger instances process-wide).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The litellm_settings keys that list callbacks, and the events each one is told of.
CALLBACK_KEYS: dict[str, tuple[str, ...]] = {
    "success_callback": ("success",),
    "failure_callback": ("failure",),
    "callbacks": ("success", "failure"),
}


def is_object_reference(name: str) -> bool:
    """`module.attribute` (a CustomLogger instance) rather than an integration's name."""
    return "." in name


@dataclass(frozen=True)
class CallbackPlan:
    """What a snapshot's litellm_settings ask of LiteLLM's logging, split by how it is passed."""

    # Integration names, passed with every call.
    success_names: tuple[str, ...] = ()
    failure_names: tuple[str, ...] = ()
    # `module.attribute` references to CustomLogger instances, registered process-wide.
    success_objects: tuple[str, ...] = ()
    failure_objects: tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        return bool(
            self.success_names or self.failure_names or self.success_objects or self.failure_objects
        )

    def call_settings(self) -> dict[str, list[str]]:
        """The per-call keyword arguments (deployment litellm_params) for the named ones."""
        settings: dict[str, list[str]] = {}
        if self.success_names:
            settings["success_callback"] = list(self.success_names)
        if self.failure_names:
            settings["failure_callback"] = list(self.failure_names)
        return settings


def plan_of(litellm_settings: Mapping[str, Any]) -> CallbackPlan:
    """The callbacks a validated litellm_settings lists (duplicates once, first place kept)."""
    lists: dict[tuple[str, bool], list[str]] = {}
    for key, events in CALLBACK_KEYS.items():
        for name in litellm_settings.get(key) or ():
            for event in events:
                bucket = lists.setdefault((event, is_object_reference(name)), [])
                if name not in bucket:
                    bucket.append(name)

    def of(event: str, objects: bool) -> tuple[str, ...]:
        return tuple(lists.get((event, objects), ()))

    return CallbackPlan(
        success_names=of("success", False),
        failure_names=of("failure", False),
        success_objects=of("success", True),
        failure_objects=of("failure", True),
    )


# What the last install_process_callbacks put into LiteLLM's lists, so the next one can take it
