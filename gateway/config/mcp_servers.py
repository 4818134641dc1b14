"""The YAML's `mcp_servers:` section: MCP servers whose tools the gateway runs like its own.

LiteLLM Proxy's shape, so its users can bring their file over:

    mcp_servers:
      time:                               # the server's name: its tools are mcp__time__<tool>
        transport: stdio                  # stdio (the default with `command`), http, sse
        command: mcp-server-time
        args: ["--local-timezone", "UTC"]
        env: {TZ: os.environ/TZ}
        allowed_tools: [get_current_time] # default: every tool it lists
      docs:
        url: https://docs.example.com/mcp # http (streamable HTTP; the default with `url`), or sse
        auth_type: bearer_token           # bearer_token, api_key, basic, authorization
        auth_value: os.environ/DOCS_TOKEN
        static_headers: {X-Team: search}
        call_timeout: 20                  # seconds one tool call may take (default 30)
        ping_interval: 15                 # seconds between pings of an idle connection

A bare `command` is looked for beside the gateway's own Python first (gateway/mcp/stdio_launch.py).
A server whose `os.environ/` variable is unset is kept and not started, like a model whose key
is unset: its tools are absent and /health/ready says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.config.environment import ENV_PREFIX, resolve_env
from gateway.validation_problems import Wording, field_problems

Transport = Literal["stdio", "http", "sse"]
AuthType = Literal["none", "bearer_token", "api_key", "basic", "authorization"]
# A tool name is mcp__<server>__<tool>, at most 64 characters for every provider: the server's
# name is short, and never holds the separator.
SERVER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_)){0,31}$")
DEFAULT_CALL_TIMEOUT = 30.0
DEFAULT_PING_INTERVAL = 15.0

ProblemSink = Callable[[tuple[str | int, ...], str, str], None]

_WORDS = Wording(
    by_type={"missing": "missing", "extra_forbidden": "unknown field"}, validator_reason=True
)


class _ServerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transport: Transport | None = None
    command: str | None = Field(default=None, min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    static_headers: dict[str, str] = Field(default_factory=dict)
    auth_type: AuthType = "none"
    auth_value: str | None = None
    allowed_tools: list[str] | None = None
    disallowed_tools: list[str] = Field(default_factory=list)
    call_timeout: float = Field(default=DEFAULT_CALL_TIMEOUT, gt=0, le=3600)
    # How often an idle connection is pinged: how soon a dead or hung server is noticed.
    ping_interval: float = Field(default=DEFAULT_PING_INTERVAL, gt=0, le=3600)
    # Tools (by the server's own names) that are not run until someone approves the call.
    require_approval: Literal["always", "never"] | list[str] = "never"
    description: str | None = None

    @field_validator("url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", ENV_PREFIX)):
            raise ValueError("must be an http:// or https:// URL")
        return value


@dataclass(frozen=True)
class McpServerSpec:
    """One configured MCP server, its `os.environ/` references resolved. Two specs are equal
    when the server would be started and used the same way: a reload keeps its connection."""

    name: str
    transport: Transport
    command: str | None = None
    args: tuple[str, ...] = ()
    # Hold resolved secrets: kept out of repr so a logged config never shows them.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: str | None = None
    url: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    allowed_tools: tuple[str, ...] | None = None
    disallowed_tools: tuple[str, ...] = ()
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    ping_interval: float = DEFAULT_PING_INTERVAL
    require_approval: Literal["always", "never"] | tuple[str, ...] = "never"
    description: str | None = None
    missing_env: tuple[str, ...] = ()
    secret_values: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def offers(self, tool: str) -> bool:
        """Does this server's entry let the gateway offer `tool` (the server's own name)?"""
        allowed = self.allowed_tools is None or tool in self.allowed_tools
        return allowed and tool not in self.disallowed_tools

    def needs_approval(self, tool: str) -> bool:
        if isinstance(self.require_approval, tuple):
            return tool in self.require_approval
        return self.require_approval == "always"

    def describe(self) -> str:
        """Where the server is, without secrets: for logs and /health/ready."""
        if self.transport == "stdio":
            return " ".join([self.command or "", *self.args]).strip()
        return _without_credentials(self.url or "")


def parse_mcp_servers(raw: object, problem: ProblemSink) -> list[McpServerSpec]:
    """The section's servers; what is wrong with an entry is told to `problem` and the entry
    left out."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        problem(("mcp_servers",), "mcp_servers", "must be a mapping of server names to entries")
        return []
    specs = []
    for name, entry in raw.items():
        spec = _server(str(name), entry, problem)
        if spec is not None:
            specs.append(spec)
    return specs


def _server(name: str, entry: object, problem: ProblemSink) -> McpServerSpec | None:
    at: tuple[str | int, ...] = ("mcp_servers", name)
    where = f"mcp_servers.{name}"
    if not SERVER_NAME.match(name):
        problem(
            at,
            where,
            "a server name is 1-32 letters, digits, '-' or single '_' (its tools are named "
            "mcp__<server>__<tool>)",
        )
        return None
    try:
        schema = _ServerEntry.model_validate(entry if entry is not None else {})
    except ValidationError as exc:
        for found in field_problems(exc, _WORDS):
            problem((*at, *found.loc), f"{where}.{found.dotted('')}", found.message)
        return None
    if not schema.command and not schema.url:
        problem(at, where, "set `command` (a stdio server) or `url` (a remote one)")
        return None
    transport = schema.transport or ("stdio" if schema.command else "http")
    if transport == "stdio" and (not schema.command or schema.url):
        problem(at, where, "a stdio server has a `command` (and no `url`)")
        return None
    if transport != "stdio" and (not schema.url or schema.command):
        article = "an" if transport == "http" else "a"
        problem(at, where, f"{article} {transport} server has a `url` (and no `command`)")
        return None
    if schema.auth_type != "none" and not schema.auth_value:
        problem((*at, "auth_value"), f"{where}.auth_value", f"missing for {schema.auth_type}")
        return None
    given: dict[str, Any] = {
        "env": schema.env,
        "url": schema.url,
        "headers": schema.static_headers,
        "auth": schema.auth_value,
    }
    resolved, missing, secrets = resolve_env(given)
    headers = {**resolved["headers"], **_auth_header(schema.auth_type, resolved["auth"])}
    secrets += _literal_secrets(schema)
    approval = schema.require_approval
    return McpServerSpec(
        name=name,
        transport=transport,
        command=schema.command,
        args=tuple(schema.args),
        env=resolved["env"],
        cwd=schema.cwd,
        url=resolved["url"],
        headers=headers,
        allowed_tools=tuple(schema.allowed_tools) if schema.allowed_tools is not None else None,
        disallowed_tools=tuple(schema.disallowed_tools),
        call_timeout=schema.call_timeout,
        ping_interval=schema.ping_interval,
        require_approval=tuple(approval) if isinstance(approval, list) else approval,
        description=schema.description,
        missing_env=tuple(missing),
        secret_values=tuple(secrets),
    )


def _auth_header(auth_type: AuthType, value: str | None) -> dict[str, str]:
    if auth_type == "none" or value is None:
        return {}
    if auth_type == "api_key":
        return {"X-API-Key": value}
    if auth_type == "authorization":
        return {"Authorization": value}
    scheme = "Bearer" if auth_type == "bearer_token" else "Basic"
    return {"Authorization": f"{scheme} {value}"}


# Names whose values are credentials even when written into the YAML itself.
_SECRET_NAME = re.compile(r"auth|key|token|secret|password|credential|cookie", re.IGNORECASE)


def _literal_secrets(schema: _ServerEntry) -> list[str]:
    """Credentials written into the YAML itself (not `os.environ/`): scrubbed like resolved
    ones."""
    named = [*schema.static_headers.items(), *schema.env.items()]
    values = [value for name, value in named if _SECRET_NAME.search(name)]
    values += [schema.auth_value] if schema.auth_value else []
    return [value for value in values if not value.startswith(ENV_PREFIX)]


def _without_credentials(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path.partition('?')[0]}"
