"""What a config may name that only the running gateway knows, handed to validation.

Config is data: this package imports none of the gateway's runtime (providers, tools, LiteLLM
callbacks). A provider name, a tool name or a `module.attribute` callback can only be checked
against what the gateway has registered, so whoever builds a runtime from a config hands the
validator a Catalog (the gateway's own is gateway/catalog.py). Each problem is still reported
where the validator finds it, with its line, in the order the file is read.
"""

from __future__ import annotations

from typing import Protocol


class Catalog(Protocol):
    def provider_names(self) -> frozenset[str]:
        """The providers a `litellm_params.model` prefix or `custom_llm_provider` may name."""
        ...

    def import_tool_module(self, module: str) -> None:
        """Import one of `gateway.tool_modules` so its tools are known; raises what the import
        raised."""
        ...

    def tool_names(self) -> frozenset[str]:
        """The tools `gateway.tools`, `tool_options` and an entry's `tools` may name, once
        the tool modules have been imported."""
        ...

    def callback_problem(self, reference: str) -> str | None:
        """Why the `module.attribute` callback `reference` cannot be used, or None if it can."""
        ...
