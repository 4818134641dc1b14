"""LiteLLM logging callbacks listed under `litellm_settings` (Langfuse, Datadog, s3_v2, ...).

    litellm_settings:
      success_callback: [langfuse]               # after each answer
      failure_callback: [langfuse]               # after each failed provider call
      callbacks: [my_callbacks.handler]          # both; module.attribute naming a CustomLogger

A callback is either a name from LiteLLM's own list of integrations
(`litellm._known_custom_logger_compatible_callbacks`), configured by the environment variables
LiteLLM documents for it, or `module.attribute` naming a `CustomLogger` instance, as LiteLLM
Proxy's `callbacks: custom_callbacks.proxy_handler_instance`.

How each reaches LiteLLM, and why:

- A name rides with every call, as drop_params does (`success_callback` / `failure_callback`
  in each deployment's litellm_params). LiteLLM turns it into its integration's logger for that
  call (one instance per integration, kept by LiteLLM) and runs its async hooks. Nothing is set
  on the litellm module, so a reload that drops a name really drops it.
- A `CustomLogger` instance cannot ride per call: LiteLLM runs a per-call instance's sync hooks
  only, and only for sync calls (the gateway's are all async), and the Router deep-copies its
  model_list, which would copy the instance. So instances go into LiteLLM's process-wide async
  lists (`litellm._async_success_callback` / `_async_failure_callback`), set from the snapshot on
  each (re)load by `install_process_callbacks`; the ones the previous load put there are taken
  out first. Their `async_log_success_event` / `async_log_failure_event` run.

LiteLLM's older string callbacks outside that list ("s3", "sentry", "slack", "helicone", ...)
work only as process-wide settings that are never undone, so they are refused like typos. An
integration whose own package is missing (langfuse without the `langfuse` SDK, say) is still
accepted: LiteLLM logs the error on each call and skips it, the answer is unaffected. The
litellm-enterprise ones, which LiteLLM would silently replace by a do-nothing logger, are
refused (`placeholder_names`).
"""

from __future__ import annotations

import importlib
from typing import Any

# What a config asks for is data (gateway/config/); re-exported here, where callbacks are run.
from gateway.config.callbacks import CALLBACK_KEYS, CallbackPlan, is_object_reference, plan_of
from gateway.config.litellm_facts import known_callback_names, placeholder_names

__all__ = [
    "CALLBACK_KEYS",
    "CallbackPlan",
    "install_process_callbacks",
    "is_object_reference",
    "known_callback_names",
    "placeholder_names",
    "plan_of",
    "reference_problem",
    "resolve_object",
]


def resolve_object(reference: str) -> Any:
    """The object `module.attribute` names; ImportError/AttributeError say why not."""
    module_name, _, attribute = reference.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def reference_problem(reference: str) -> str | None:
    """Why `module.attribute` cannot be used as a callback, or None if it can."""
    from litellm.integrations.custom_logger import CustomLogger

    try:
        target = resolve_object(reference)
    except ImportError as exc:
        return f"cannot import {reference!r}: {exc}"
    except AttributeError:
        module_name, _, attribute = reference.rpartition(".")
        return f"module {module_name!r} has no attribute {attribute!r}"
    except Exception as exc:  # the module raised while importing
        return f"cannot import {reference!r}: {exc.__class__.__name__}: {exc}"
    if isinstance(target, type) and issubclass(target, CustomLogger):
        return (
            f"{reference!r} is a CustomLogger class; name an instance of it "
            "(e.g. handler = MyLogger() in the module)"
        )
    if not isinstance(target, CustomLogger):
        return (
            f"{reference!r} is a {type(target).__name__}, not a "
            "litellm.integrations.custom_logger.CustomLogger instance"
        )
    return None


# What the last install_process_callbacks put into LiteLLM's lists, so the next one can take it
# out again (by identity: an operator's own registrations are left alone).
_installed: list[tuple[str, Any]] = []


def install_process_callbacks(plan: CallbackPlan) -> None:
    """Make LiteLLM's process-wide async lists hold exactly `plan`'s CustomLogger instances.

    The one place callbacks are set on the litellm module, and only because LiteLLM runs a
    CustomLogger instance's async hooks from there alone (see the module docstring). Called on
    every (re)load: what the previous load registered is removed, so a reload that drops a
    callback stops it. While an old engine drains its last answers after a reload, those answers
    are logged by the new snapshot's instances.
    """
    import litellm

    lists = {
        "success": litellm._async_success_callback,
        "failure": litellm._async_failure_callback,
    }
    for event, instance in _installed:
        target = lists[event]
        target[:] = [item for item in target if item is not instance]  # in place: LiteLLM's list
    _installed.clear()
    wanted = [
        *(("success", resolve_object(ref)) for ref in plan.success_objects),
        *(("failure", resolve_object(ref)) for ref in plan.failure_objects),
    ]
    for event, instance in wanted:
        target = lists[event]
        if not any(item is instance for item in target):
            target.append(instance)
            _installed.append((event, instance))
