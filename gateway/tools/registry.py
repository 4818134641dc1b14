"""Tools as plain Python functions: the JSON schema comes from the signature, not a dict.

    @tool
    async def get_weather(location: Annotated[str, Field(description="City name")]) -> dict:
        '''Current weather for a place.'''

Parameters are validated with pydantic before the function runs. A parameter annotated
`ToolContext` is injected by the gateway (shared HTTP client, options from the YAML) and is not
part of the schema the model sees.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, get_type_hints

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from gateway.validation_problems import Wording, field_problems

log = logging.getLogger("gateway.tools")

ENTRY_POINT_GROUP = "llm_gateway.tools"


@dataclass(frozen=True)
class ToolContext:
    """What a tool may use from the gateway: a shared HTTP client and its YAML options."""

    http: httpx.AsyncClient
    options: Mapping[str, Any] = field(default_factory=dict)


class ToolFailure(Exception):
    """A failure whose message is meant for the model and the user."""


@dataclass(frozen=True)
class ToolOutput:
    """A result with a text of its own for the model: an MCP tool's image is shown to the user
    and only named to the model."""

    result: Any
    for_model: str
    # The result as an MCP CallToolResult (JSON) when an MCP server gave it: what the gateway's
    # own /mcp endpoint passes on, content blocks and structuredContent as they came.
    as_mcp: Mapping[str, Any] | None = None


class ServerTool(Protocol):
    """A tool the gateway runs itself: a registry function (Tool) or an MCP server's tool."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def timeout_seconds(self) -> float | None:
        """Its own limit on one call (an MCP server's `call_timeout`); None: the gateway's."""
        ...

    @property
    def needs_approval(self) -> bool:
        """A person must approve each call before it runs (`@tool(needs_approval=True)`, an
        MCP server's `require_approval`); the YAML's `gateway.require_approval` adds more."""
        ...

    def spec(self) -> dict[str, Any]:
        """The OpenAI-style function spec LiteLLM translates for every provider."""
        ...

    async def call(self, args: Mapping[str, Any], context: ToolContext) -> Any:
        """The result (JSON-able, or a ToolOutput); raises ToolFailure, ValidationError."""
        ...


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    function: Callable[..., Any]
    arguments: type[BaseModel]
    context_parameter: str | None = None
    timeout_seconds: float | None = None
    needs_approval: bool = False

    def spec(self) -> dict[str, Any]:
        """The OpenAI-style function spec LiteLLM translates for every provider."""
        schema = self.arguments.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": schema},
        }

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments, checked against the schema; raises ValidationError."""
        return dict(self.arguments.model_validate(dict(args)))

    async def call(self, args: Mapping[str, Any], context: ToolContext) -> Any:
        kwargs = self.validate(args)
        if self.context_parameter:
            kwargs[self.context_parameter] = context
        result = self.function(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


def make_tool(
    function: Callable[..., Any], name: str | None = None, *, needs_approval: bool = False
) -> Tool:
    signature = inspect.signature(function)
    hints = get_type_hints(function, include_extras=True)
    fields: dict[str, Any] = {}
    context_parameter = None
    for parameter in signature.parameters.values():
        annotation = hints.get(parameter.name, Any)
        if annotation is ToolContext:
            context_parameter = parameter.name
            continue
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    tool_name = name or function.__name__
    arguments = create_model(f"{tool_name}_arguments", __base__=_Arguments, **fields)
    description = inspect.cleandoc(function.__doc__ or "").split("\n\n")[0].replace("\n", " ")
    return Tool(
        tool_name,
        description or tool_name,
        function,
        arguments,
        context_parameter,
        needs_approval=needs_approval,
    )


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(
        self, function: Callable[..., Any], name: str | None = None, *, needs_approval: bool = False
    ) -> Tool:
        made = make_tool(function, name, needs_approval=needs_approval)
        if made.name in self._tools and self._tools[made.name].function is not function:
            raise ValueError(f"a tool named {made.name!r} is already registered")
        self._tools[made.name] = made
        return made

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def load_entry_points(self) -> None:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            loaded = entry.load()
            if callable(loaded) and not inspect.ismodule(loaded):
                self.register(loaded, entry.name)


REGISTRY = ToolRegistry()


def tool(
    function: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    needs_approval: bool = False,
) -> Any:
    """Register a function in the gateway's tool registry (usable bare or with a name).

    `needs_approval`: each call waits for a person's yes or no (gateway/approvals/) before it
    runs, and the tool is offered only where an answer can carry that question.

    For the modules `gateway.tool_modules` lists: load_tools imports them, and their decorated
    functions register as they are defined.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY.register(fn, name, needs_approval=needs_approval)
        return fn

    return register(function) if function is not None else register


# The model reads these and tries again: say what its call got wrong in its terms.
_MODEL_WORDS = Wording(
    by_type={"missing": "required", "extra_forbidden": "not a parameter of this tool"}
)


def describe_validation_error(error: ValidationError) -> str:
    problems = field_problems(error, _MODEL_WORDS, limit=5)
    return "; ".join(f"{problem.dotted('arguments')}: {problem.message}" for problem in problems)
