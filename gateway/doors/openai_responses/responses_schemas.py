"""Request bodies of /v1/responses (OpenAI's Responses API); what they become for the engine is
responses_to_chat.py's.

The Responses API speaks in items (messages, function calls, their outputs); the engine speaks
chat-completions messages. A client's mistake is a 400 naming the field before any provider
call, as on /v1/chat/completions: everything that reaches LiteLLM is typed here. Unknown
top-level fields (`include`, `truncation`, `service_tier`, ...) are accepted and never sent on;
unknown keys inside items and parts are dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    create_model,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from gateway.doors.common.chat_messages import content_union
from gateway.doors.common.json_schemas import JsonSchemaObject
from gateway.doors.common.request_models import (
    MaxTokens,
    Name64,
    RequestModel,
    Temperature,
    TopP,
    json_kind,
    one_of,
    tagged_by,
)
from gateway.doors.openai_responses.responses_mcp_schemas import (
    McpApprovalRequestItem,
    McpApprovalResponseItem,
    McpCallItem,
    McpListToolsItem,
    McpToolSpec,
)

# --- content parts --------------------------------------------------------------------------------


class InputText(TypedDict):
    type: Literal["input_text"]
    text: str


class OutputText(TypedDict):
    type: Literal["output_text"]
    text: str


class Refusal(TypedDict):
    type: Literal["refusal"]
    refusal: str


class InputImage(TypedDict):
    type: Literal["input_image"]
    # Chat completions take an image by URL (or data: URL) only, never an uploaded file's id.
    image_url: Annotated[str, Field(min_length=1)]
    detail: NotRequired[Literal["low", "high", "auto", "original"]]


class InputFile(TypedDict, total=False):
    type: Literal["input_file"]
    file_data: Annotated[str, Field(min_length=1)]
    file_id: Annotated[str, Field(min_length=1)]
    filename: str


def _has_file(part: InputFile) -> InputFile:
    if "file_data" not in part and "file_id" not in part:
        raise PydanticCustomError("file_missing", "Field required: file_data or file_id")
    return part


def _content(kinds: str, **members: Any) -> Any:
    return content_union(kinds, tag="content", **members)


UserContent = _content(
    "'input_text', 'input_image' or 'input_file'",
    input_text=InputText,
    input_image=InputImage,
    input_file=Annotated[InputFile, AfterValidator(_has_file)],
)
InstructionContent = _content("'input_text'", input_text=InputText)
# Clients send an earlier answer back as output_text (OpenAI's SDKs) or input_text.
AssistantContent = _content(
    "'output_text', 'input_text' or 'refusal'",
    output_text=OutputText,
    input_text=InputText,
    refusal=Refusal,
)
ToolOutput = _content("'input_text'", input_text=InputText)

# --- input items ----------------------------------------------------------------------------------


class Item(RequestModel):
    # Unknown keys (`status`, `phase`, annotations) are dropped.
    model_config = ConfigDict(extra="ignore")

    id: str | None = None


class UserItem(Item):
    type: Literal["message"] = "message"
    role: Literal["user"]
    content: UserContent


class SystemItem(Item):
    type: Literal["message"] = "message"
    role: Literal["system"]
    content: InstructionContent


class DeveloperItem(Item):
    type: Literal["message"] = "message"
    role: Literal["developer"]
    content: InstructionContent


class AssistantItem(Item):
    type: Literal["message"] = "message"
    role: Literal["assistant"]
    content: AssistantContent


class FunctionCallItem(Item):
    type: Literal["function_call"]
    call_id: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    arguments: str


class FunctionCallOutputItem(Item):
    type: Literal["function_call_output"]
    call_id: Annotated[str, Field(min_length=1)]
    output: ToolOutput


class ItemReference(Item):
    type: Literal["item_reference"]
    id: Annotated[str, Field(min_length=1)]  # type: ignore[assignment]  (required here)


class ReasoningItem(Item):
    """The model's earlier reasoning: accepted, and not sent on (chat completions take none)."""

    type: Literal["reasoning"]


_ROLES = ("user", "system", "developer", "assistant")
# Chosen only when a message's role is none of _ROLES, so that validating it names `role`.
_UnknownRole = create_model("Role", role=(Literal[_ROLES], ...))


def _item_kind(value: Any) -> str | None:
    if isinstance(value, Item):  # serializing a validated body
        value = {"type": getattr(value, "type", None), "role": getattr(value, "role", None)}
    if not isinstance(value, dict):
        return None
    # OpenAI's short form: a message may leave out its type.
    kind = value.get("type", "message" if "role" in value else None)
    if kind == "message":
        role = value.get("role")
        return f"<{role} item>" if isinstance(role, str) and role in _ROLES else "<unknown role>"
    return f"<{kind} item>" if isinstance(kind, str) else None


InputItem = one_of(
    _item_kind,
    "Input should be an input item: a message, or an object whose type is 'function_call', "
    "'function_call_output', 'item_reference', 'reasoning', 'mcp_list_tools', 'mcp_call', "
    "'mcp_approval_request' or 'mcp_approval_response'",
    {
        "<user item>": UserItem,
        "<system item>": SystemItem,
        "<developer item>": DeveloperItem,
        "<assistant item>": AssistantItem,
        "<unknown role>": SkipJsonSchema[_UnknownRole],
        "<function_call item>": FunctionCallItem,
        "<function_call_output item>": FunctionCallOutputItem,
        "<item_reference item>": ItemReference,
        "<reasoning item>": ReasoningItem,
        "<mcp_list_tools item>": McpListToolsItem,
        "<mcp_call item>": McpCallItem,
        "<mcp_approval_request item>": McpApprovalRequestItem,
        "<mcp_approval_response item>": McpApprovalResponseItem,
    },
)
StoredItems: TypeAdapter[list[Any]] = TypeAdapter(list[InputItem])
Input = one_of(
    json_kind,
    "Input should be a string or a list of input items",
    {"<string>": str, "<list>": list[InputItem]},
)

# --- tools and parameters -------------------------------------------------------------------------


class FunctionTool(TypedDict):
    type: Literal["function"]
    name: Name64
    description: NotRequired[str | None]
    parameters: NotRequired[JsonSchemaObject | None]
    strict: NotRequired[bool | None]


# Chosen for any other type (hosted tools: web search, file search, ...), so the error names
# `tools[i].type`.
_UnknownTool = create_model("ToolType", type=(Literal["function", "mcp"], ...))


def _tool_kind(value: Any) -> str | None:
    if isinstance(value, McpToolSpec):  # serializing a validated body
        return "<mcp tool>"
    kind = value.get("type") if isinstance(value, dict) else None
    return {"function": "<function tool>", "mcp": "<mcp tool>"}.get(kind, "<unknown tool>")


Tool = one_of(
    _tool_kind,
    "Input should be a tool: an object whose type is 'function' or 'mcp'",
    {
        "<function tool>": FunctionTool,
        "<mcp tool>": McpToolSpec,
        "<unknown tool>": SkipJsonSchema[_UnknownTool],
    },
)


class NamedFunction(TypedDict):
    type: Literal["function"]
    name: str


ToolChoice = one_of(
    json_kind,
    "Input should be 'none', 'auto', 'required' or a named function",
    {"<string>": Literal["none", "auto", "required"], "<object>": NamedFunction},
)


class PlainText(TypedDict):
    type: Literal["text"]


class JsonObject(TypedDict):
    type: Literal["json_object"]


class JsonSchema(TypedDict):
    type: Literal["json_schema"]
    name: Name64
    schema: JsonSchemaObject
    description: NotRequired[str]
    strict: NotRequired[bool | None]


TextFormat = one_of(
    tagged_by("type", "format"),
    "Input should be an object whose type is 'text', 'json_object' or 'json_schema'",
    {"<text format>": PlainText, "<json_object format>": JsonObject,
     "<json_schema format>": JsonSchema},
)  # fmt: skip


class TextOptions(TypedDict, total=False):
    format: TextFormat
    verbosity: Literal["low", "medium", "high"] | None


class ReasoningOptions(TypedDict, total=False):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None
    summary: Literal["auto", "concise", "detailed"] | None
    generate_summary: Literal["auto", "concise", "detailed"] | None


# OpenAI's limits: 16 pairs, keys up to 64 characters, values up to 512.
Metadata = Annotated[
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]],
    Field(max_length=16),
]


class ResponsesRequest(RequestModel):
    # Unknown fields are accepted and never sent on, as on /v1/chat/completions.
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    input: Input | None = None
    instructions: str | None = None
    previous_response_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    store: bool = True
    stream: bool = False
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_output_tokens: MaxTokens | None = None
    text: TextOptions | None = None
    reasoning: ReasoningOptions | None = None
    metadata: Metadata | None = None
    user: str | None = None

    def items(self) -> list[Any]:
        """`input` as a list of items (a string is one user message)."""
        if self.input is None:
            return []
        if isinstance(self.input, str):
            return [UserItem(role="user", content=self.input)]
        return list(self.input)

    def function_tools(self) -> list[FunctionTool]:
        return [tool for tool in self.tools or [] if not isinstance(tool, McpToolSpec)]

    def mcp_tools(self) -> list[tuple[int, McpToolSpec]]:
        """The mcp tools, each with its place in `tools` (errors name `tools[i]`)."""
        return [(i, t) for i, t in enumerate(self.tools or []) if isinstance(t, McpToolSpec)]


def stored_form(item: Any) -> dict[str, Any]:
    """An input item as the chat store keeps it (JSON), read back with StoredItems."""
    if isinstance(item, BaseModel):
        return item.model_dump(exclude_none=True)
    return dict(item)
