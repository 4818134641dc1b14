"""Request bodies of /v1/responses (OpenAI's Responses API), and what they become for the engine.

The Responses API speaks in items (messages, function calls, their outputs); the engine speaks
chat-completions messages. A client's mistake is a 400 naming the field before any provider
call, as on /v1/chat/completions: everything that reaches LiteLLM is typed here. Unknown
top-level fields (`include`, `truncation`, `service_tier`, ...) are accepted and never sent on;
unknown keys inside items and parts are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    "'function_call_output', 'item_reference' or 'reasoning'",
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
    tools: list[FunctionTool] | None = Field(default=None, max_length=128)
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


# --- what the engine gets -------------------------------------------------------------------------

_PASSED_THROUGH = ("temperature", "top_p", "parallel_tool_calls", "user")


def chat_params(body: ResponsesRequest) -> dict[str, Any]:
    """Sampling and format parameters in chat-completions terms (LiteLLM translates them on)."""
    params = {name: getattr(body, name) for name in _PASSED_THROUGH}
    params["max_tokens"] = body.max_output_tokens
    choice = body.tool_choice
    if isinstance(choice, dict):
        choice = {"type": "function", "function": {"name": choice["name"]}}
    params["tool_choice"] = choice
    text_format = (body.text or {}).get("format")
    if text_format is not None and text_format["type"] == "json_schema":
        spec = {key: value for key, value in text_format.items() if key != "type"}
        params["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif text_format is not None and text_format["type"] == "json_object":
        params["response_format"] = {"type": "json_object"}
    params["reasoning_effort"] = (body.reasoning or {}).get("effort")
    return {name: value for name, value in params.items() if value is not None}


def chat_tools(tools: list[FunctionTool] | None) -> list[dict[str, Any]] | None:
    """Function tools in the chat-completions shape the engine offers the model."""
    if tools is None:
        return None
    return [
        {
            "type": "function",
            "function": {key: value for key, value in tool.items() if key != "type"},
        }
        for tool in tools
    ]


def chat_messages(instructions: str | None, items: Iterable[Any]) -> list[dict[str, Any]]:
    """The conversation as chat-completions messages.

    An assistant message and the function calls after it are one assistant turn; reasoning
    items are left out; item references must be resolved before.
    """
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    turn: dict[str, Any] | None = None  # the assistant turn function calls join
    for item in items:
        if isinstance(item, AssistantItem):
            turn = _assistant_turn(item.content)
            messages.append(turn)
        elif isinstance(item, FunctionCallItem):
            if turn is None:
                turn = {"role": "assistant", "content": None}
                messages.append(turn)
            turn.setdefault("tool_calls", []).append(
                {
                    "id": item.call_id,
                    "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments},
                }
            )
        elif isinstance(item, FunctionCallOutputItem):
            turn = None
            messages.append(
                {"role": "tool", "tool_call_id": item.call_id, "content": _text(item.output)}
            )
        elif isinstance(item, UserItem | SystemItem | DeveloperItem):
            turn = None
            messages.append({"role": item.role, "content": _parts(item.content)})
        elif isinstance(item, ItemReference):
            raise TypeError(f"item_reference {item.id} was not resolved")
    return messages


def _assistant_turn(content: str | list[Any]) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    refusals = [part["refusal"] for part in content if part["type"] == "refusal"]
    turn: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(part["text"] for part in content if part["type"] != "refusal") or None,
    }
    if refusals:
        turn["refusal"] = "".join(refusals)
    return turn


def _text(content: str | list[Any]) -> str:
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


def _parts(content: str | list[Any]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    return [_part(part) for part in content]


def _part(part: dict[str, Any]) -> dict[str, Any]:
    if part["type"] == "input_image":
        image = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if part["type"] == "input_file":
        return {"type": "file", "file": {k: v for k, v in part.items() if k != "type"}}
    return {"type": "text", "text": part["text"]}


def stored_form(item: Any) -> dict[str, Any]:
    """An input item as the chat store keeps it (JSON), read back with StoredItems."""
    if isinstance(item, BaseModel):
        return item.model_dump(exclude_none=True)
    return dict(item)
