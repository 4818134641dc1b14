"""The gateway's own Catalog: what a config may name, answered by this process's runtime.

Config validation (gateway/config/) is data and imports none of the runtime; it asks a Catalog
instead. This one answers from the runtime: LiteLLM's providers with the demo one
(providers.py), the tools `load_tools` loads (tools/), and CustomLogger callbacks
(litellm_callbacks.py). Everything that builds a runtime from a file hands it to load_config or
parse_config: start-up (app.py), live reload (live_config.py) and `gateway check-config`.
"""

from __future__ import annotations

from gateway.config import Catalog
from gateway.tools import load_tool_module, load_tools
from gateway.upstream.litellm_callbacks import reference_problem
from gateway.upstream.providers import known_providers


class GatewayCatalog:
    def provider_names(self) -> frozenset[str]:
        return known_providers()

    def import_tool_module(self, module: str) -> None:
        load_tool_module(module)

    def tool_names(self) -> frozenset[str]:
        return frozenset(load_tools().names)

    def callback_problem(self, reference: str) -> str | None:
        return reference_problem(reference)


GATEWAY_CATALOG: Catalog = GatewayCatalog()
