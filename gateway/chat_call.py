"""A chat request in the engine's terms (ChatCall), and as the engine accepted it (PreparedCall):
what every door builds, and what the engine's run needs, worked out once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.approvals import ToolDecision
from gateway.cache import CacheDirective
from gateway.observability.outcome import CallOutcome
from gateway.tools import ServerTool


@dataclass(frozen=True)
class ChatCall:
    """A request in the engine's terms: OpenAI-shaped messages and sampling parameters."""

    model_id: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    # The tools the request asks for, by name (None: all the model is offered). Narrows only.
    tool_names: list[str] | None = None
    # The client runs its tools itself (the /v1 doors): `client_tools` are offered as given and
    # not executed here; the gateway runs only the tools `tool_names` asks for (with None, none
    # at all, not even the YAML's), and a model step that calls a client's tool ends the answer.
    client_runs_tools: bool = False
    client_tools: list[dict[str, Any]] | None = None
    # The id of the answer's message (a stored chat names it in advance); else a new one.
    message_id: str | None = None
    # The model IDs and tools the client's key may use (None: all), and whose request it is
    # (approvals are issued to it): set by the door's answering path.
    allowed_models: frozenset[str] | None = None
    allowed_tools: tuple[str, ...] | None = None
    tenant: str = ""
    # The answer can carry an approval request (gateway/approvals/): tools that ask first are
    # offered, and those `asks_first` names ask too (a client may add approvals, never drop
    # any). And the decided calls of an answer paused for approvals, run (or answered as
    # denied) before the next model step; `messages` end with the turn that made them.
    can_ask_approval: bool = False
    asks_first: frozenset[str] = frozenset()
    decisions: tuple[ToolDecision, ...] = ()
    # Filled in as the call runs: read by the HTTP layer for headers, logs and metrics.
    outcome: CallOutcome = field(default_factory=CallOutcome, compare=False)


@dataclass(frozen=True)
class PreparedCall:
    """A call the engine has accepted: everything its run needs, worked out once."""

    call: ChatCall
    # The conversation as it goes to the provider (see fill_empty_content).
    messages: list[dict[str, Any]]
    tools: Mapping[str, ServerTool]
    # The names among `tools` whose calls wait for approval.
    asking: frozenset[str]
    specs: list[dict[str, Any]]
    # The names of the tools the client runs (client_runs_tools): a call to one ends the answer.
    client_tool_names: frozenset[str]
    # What the request allows the response cache (tenant, Cache-Control).
    cache: CacheDirective
    # The `content` of an assistant turn that only calls tools (see Deployment.openai_shaped).
    empty_assistant_content: str | None
