"""The typed events the engine yields and every encoder consumes.

They are the spine between LiteLLM and the wire: the engine knows nothing of wire formats, the
encoders know nothing of LiteLLM. Small frozen dataclasses with slots keep them cheap per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached and other.cached,
        )


@dataclass(frozen=True, slots=True)
class StepStart:
    """A new model call begins (one per tool-loop round)."""

    step: int
    message_id: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """The model began a tool call; its arguments follow as ToolCallDelta pieces."""

    tool_call_id: str
    tool_name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    tool_call_id: str
    args_text_delta: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call, ready to run (or to hand to the client).

    `args` is None when the model's argument text was not a JSON object.
    """

    tool_call_id: str
    tool_name: str
    args: dict[str, Any] | None
    args_text: str = ""


@dataclass(frozen=True, slots=True)
class ToolResult:
    tool_call_id: str
    tool_name: str
    result: Any
    is_error: bool = False
    # A person denied the call (gateway/approvals/): it was not run, and `result` says so.
    denied: bool = False
    # What the model reads instead of `result` as JSON (an MCP image is only named to it). Not
    # sent to clients, not in the chat's event log.
    for_model: str | None = None


@dataclass(frozen=True, slots=True)
class ToolApprovalRequest:
    """A call of a tool that asks first: it waits for a person's decision, and the answer ends
    after its round (finish reason `tool-calls`). The next request carries the decision with
    `approval_id` (gateway/approvals/)."""

    approval_id: str
    tool_call_id: str
    tool_name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AnswerContinues:
    """An answer paused for approvals goes on in the same message (`message_id`): the decided
    calls' results follow, then the model's next step."""

    message_id: str


@dataclass(frozen=True, slots=True)
class StepFinish:
    finish_reason: str
    usage: Usage
    is_continued: bool = False
    # The model_list entry that answered (`<model ID>#<index>`), for pricing; None when unknown.
    deployment: str | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """Always the last event of a successful or failed answer."""

    finish_reason: str
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An error after the first byte; message is already safe to show a client. `status` is
    the one the error would have had before the first byte (the catalogue's, gateway/errors.py):
    a door whose in-stream error names a kind by status (Anthropic's) reads it here."""

    message: str
    error_type: str = "upstream_error"
    status: int = 502


Event = (
    StepStart
    | TextDelta
    | ReasoningDelta
    | ToolCallStart
    | ToolCallDelta
    | ToolCall
    | ToolResult
    | ToolApprovalRequest
    | AnswerContinues
    | StepFinish
    | Finish
    | ErrorEvent
)
