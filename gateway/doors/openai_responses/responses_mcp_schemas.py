"""The Responses API's MCP shapes in a request: the `{"type": "mcp"}` tool, the `mcp_list_tools`,
`mcp_call` and `mcp_approval_request` items an earlier answer gave (sent back, or stored and
continued), and the client's `mcp_approval_response`.

The gateway runs only the MCP servers its YAML configures (`mcp_servers:`): a tool names one by
`server_label`, and whatever would have it connect elsewhere or with the client's credentials
(`server_url`, `connector_id`, `tunnel_id`, `authorization`, `headers`) is refused, naming the
field. Which of the server's tools the model is offered is worked out against the leased
config in responses_mcp.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, field_validator
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from gateway.doors.common.request_models import RequestModel, json_kind, one_of

Label = Annotated[str, Field(min_length=1, max_length=64)]


class ToolFilter(TypedDict, total=False):
    """OpenAI's filter of an MCP server's tools: by the server's own names, or read-only ones
    (annotated `readOnlyHint`)."""

    tool_names: list[str]
    read_only: bool


AllowedTools = one_of(
    json_kind,
    "Input should be a list of tool names or an object with tool_names and/or read_only",
    {"<list>": list[str], "<object>": ToolFilter},
)


class ApprovalFilter(TypedDict, total=False):
    always: ToolFilter
    never: ToolFilter


RequireApproval = one_of(
    json_kind,
    "Input should be 'always', 'never' or an object with always and/or never",
    {"<string>": Literal["always", "never"], "<object>": ApprovalFilter},
)

_ELSEWHERE = (
    "the gateway runs only the MCP servers its YAML configures (mcp_servers:); name one by "
    "server_label, without {field}"
)


class McpToolSpec(RequestModel):
    """A request's `{"type": "mcp", "server_label": ...}` tool. OpenAI's other fields
    (`server_description`, `defer_loading`, `allowed_callers`, ...) are accepted and unused."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["mcp"]
    server_label: Label
    allowed_tools: AllowedTools | None = None
    require_approval: RequireApproval | None = None
    server_description: str | None = None
    # Refused when given (see _ELSEWHERE): typed loosely so the refusal, not a type, names them.
    server_url: Any = None
    connector_id: Any = None
    tunnel_id: Any = None
    authorization: Any = None
    headers: Any = None

    @field_validator(
        "server_url", "connector_id", "tunnel_id", "authorization", "headers", mode="before"
    )
    @classmethod
    def _configured_servers_only(cls, value: Any, info: Any) -> Any:
        if value is not None:
            raise PydanticCustomError("refused", _ELSEWHERE.format(field=info.field_name))
        return value

    def echoed(self) -> dict[str, Any]:
        """As the response object repeats it (never a credential: those are refused)."""
        return self.model_dump(exclude_none=True)


class McpListToolsItem(RequestModel):
    """An earlier answer's listing of a server's tools: kept in the conversation (a follow-up
    does not list that server again), never sent to the model (it is offered the tools)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    type: Literal["mcp_list_tools"]
    server_label: Label
    tools: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None


class McpCallItem(RequestModel):
    """An earlier call the gateway ran (or a client ran and reports): the model sees it as its
    own tool call, `mcp__<server_label>__<name>`, and its output (or error) as the result."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    type: Literal["mcp_call"]
    server_label: Label
    name: Annotated[str, Field(min_length=1)]
    arguments: str
    output: str | None = None
    error: str | None = None
    status: str | None = None
    # Set when the call ran once a person approved it: the request it answers.
    approval_request_id: str | None = None


class McpApprovalRequestItem(RequestModel):
    """An earlier answer's request for approval of one call (its id is the gateway's approval
    id, responses_approvals.py): the model sees the call once it is decided, and not before."""

    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(min_length=1)]
    type: Literal["mcp_approval_request"]
    server_label: Label
    name: Annotated[str, Field(min_length=1)]
    arguments: str


class McpApprovalResponseItem(RequestModel):
    """A person's decision on an approval request of the conversation: the call runs (the
    gateway checks it issued that request to this client) or is answered as denied."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    type: Literal["mcp_approval_response"]
    approval_request_id: Annotated[str, Field(min_length=1)]
    approve: StrictBool
    reason: str | None = None
