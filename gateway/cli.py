"""`gateway serve | check-config | models` (also `python -m gateway`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.settings import Settings
from gateway.tools import load_tools
from gateway.validation_problems import FieldProblem, Wording, field_problems


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except ValidationError as exc:
        # A setting from the environment or .env is wrong: say which, without a traceback.
        for problem in field_problems(exc, _SETTING_WORDS):
            print(f"setting error: {_setting_problem(problem)}", file=sys.stderr)
        return 1


# pydantic's "Value error, ..." prefix says nothing to an operator.
_SETTING_WORDS = Wording(validator_reason=True)


def _setting_problem(problem: FieldProblem) -> str:
    message = problem.message
    field = "_".join(str(part) for part in problem.loc).upper()
    name = field if field in ("", "REDIS_URL") else f"GATEWAY_{field}"
    return message if not name or message.startswith(name) else f"{name}: {message}"


DEFAULT_CONNECT_TIMEOUT = 20.0  # seconds for `check-config --connect` to reach each MCP server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="interface to bind (GATEWAY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (GATEWAY_PORT, default 8000)")
    serve.add_argument("--config", type=Path, help="YAML model map (GATEWAY_CONFIG)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    serve.set_defaults(handler=_serve)

    check = commands.add_parser("check-config", help="validate a YAML model map")
    check.add_argument("path", nargs="?", type=Path, help="defaults to the configured path")
    check.add_argument(
        "--connect",
        action="store_true",
        help="also start (or connect to) each MCP server once and list its tools",
    )
    check.add_argument(
        "--connect-timeout",
        type=float,
        default=DEFAULT_CONNECT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on a server that has not listed its tools by then (default "
        f"{DEFAULT_CONNECT_TIMEOUT:g})",
    )
    check.set_defaults(handler=_check_config)

    models = commands.add_parser(
        "models",
        help="list the model IDs live on a running gateway (or, with --config, in a YAML file)",
    )
    models.add_argument("--config", type=Path, help="read this YAML file instead of asking")
    models.add_argument("--url", help="the running gateway (default: GATEWAY_HOST:GATEWAY_PORT)")
    models.set_defaults(handler=_models)
    return parser


def _load_or_report(path: Path) -> GatewayConfig | None:
    # Here, not at the top: the catalog brings in LiteLLM, which `gateway models --url` and
    # `--help` do without.
    from gateway.catalog import GATEWAY_CATALOG

    try:
        return load_config(path, GATEWAY_CATALOG)
    except ConfigError as exc:
        print(f"config error in {path}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.render(path)}", file=sys.stderr)
        return None


def _check_config(args: argparse.Namespace) -> int:
    path = args.path or Settings().config
    config = _load_or_report(path)
    if config is None:
        return 1
    # The tools load as they do for serving (today validation has imported the tool modules
    # already; the tool sources to come, MCP servers, are reached here).
    load_tools(config)
    problems = config.env_problems()
    for problem in problems:
        print(f"  {problem.render(path)}", file=sys.stderr)
    _print_models(config)
    failed = _connect(config, args.connect_timeout) if args.connect else 0
    if problems:
        print(f"{path}: {len(problems)} unset environment variable(s)", file=sys.stderr)
    if failed:
        print(f"{path}: {failed} MCP server(s) not reached", file=sys.stderr)
    if problems or failed:
        return 1
    print(f"{path}: OK")
    return 0


def _connect(config: GatewayConfig, timeout: float) -> int:
    """Reach each MCP server once and print what it offers or why not: how many failed."""
    import asyncio

    from gateway.mcp.probe import probe_servers
    from gateway.redaction import LOG_SECRETS, Redactor

    if not config.mcp_servers:
        print("MCP servers: none configured")
        return 0
    import logging

    from gateway.observability.logs import configure_logging

    # A server's stderr is shown (scrubbed, as when serving): it often says why it failed. The
    # connections' own warnings say what the report below says.
    configure_logging("warning")
    logging.getLogger("gateway.mcp").setLevel(logging.ERROR)
    logging.getLogger("gateway.mcp.server").setLevel(logging.INFO)
    LOG_SECRETS.remember(config.secrets())
    probes = asyncio.run(probe_servers(config.mcp_servers, timeout, Redactor(config.secrets())))
    print(f"MCP servers (each given {timeout:g} s):")
    for probe in probes:
        where = f"{probe.transport}: {probe.target}"
        if probe.ok:
            count = f"{len(probe.tools)} tool{'' if len(probe.tools) == 1 else 's'}"
            print(f"  {probe.name}: ready, {count} ({where}, protocol {probe.protocol_version})")
            width = max((len(name) for name, _ in probe.tools), default=0)
            for name, description in probe.tools:
                print(f"    {name:<{width}}  {description}".rstrip())
        else:
            print(f"  {probe.name}: {probe.state}: {probe.error} ({where})")
    return sum(1 for probe in probes if not probe.ok)


def _models(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.config is None:
        url = args.url or f"http://{settings.host}:{settings.port}"
        live = _live_models(url)
        if live is not None:
            print(live, end="")
            return 0
        if args.url:
            print(f"no gateway answers at {url}", file=sys.stderr)
            return 1
        print(f"(no gateway answers at {url}; showing the file)", file=sys.stderr)
    path = args.config or settings.config
    config = _load_or_report(path)
    if config is None:
        return 1
    _print_models(config)
    return 0


def _live_models(url: str) -> str | None:
    """What the running gateway serves, from /health/ready; None if nothing answers there."""
    import httpx

    try:
        report = httpx.get(f"{url.rstrip('/')}/health/ready", timeout=5).json()
        config = report["config"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    lines = [f"live at {url}: {config['path']} (generation {config.get('generation', '?')})"]
    lines += list(config["models"])
    if "refused_edit" in config:
        lines.append("the file on disk holds an edit that was refused; see /health/ready")
    return "\n".join(lines) + "\n"


def _print_models(config: GatewayConfig) -> None:
    for model_id in config.model_ids:
        targets = ", ".join(d.provider_model for d in config.deployments if d.model_id == model_id)
        # Chat is the default; an embedding model answers only POST /v1/embeddings.
        mode = "  [embedding]" if config.mode_of(model_id) == "embedding" else ""
        missing = config.missing_env_for(model_id)
        note = f"  (unavailable: {', '.join(missing)} not set)" if missing else ""
        print(f"{model_id} -> {targets}{mode}{note}")
    from gateway.upstream.pricing import deployment_price

    for deployment in config.deployments:
        name = f"{deployment.model_id}#{deployment.index}"
        price = deployment_price(deployment)
        if price is None:
            print(f"  {name} price: none (spend budgets count it as free)")
        else:
            print(
                f"  {name} price: ${price.input_per_token * 1e6:g} / "
                f"${price.output_per_token * 1e6:g} per million tokens in / out ({price.source})"
            )
        if deployment.mode == "embedding":
            continue  # nothing is streamed, so no reader to tell
        reader, why = config.stream_reader_of(deployment)
        print(f"  {name} streams read by: {reader} ({why})")


def _serve(args: argparse.Namespace) -> int:
    # Flags become environment so every worker process (and --reload's child) sees the same.
    for flag, env in (
        ("host", "GATEWAY_HOST"),
        ("port", "GATEWAY_PORT"),
        ("config", "GATEWAY_CONFIG"),
    ):
        value = getattr(args, flag)
        if value is not None:
            os.environ[env] = str(value)
    settings = Settings()
    if _load_or_report(settings.config) is None:
        return 1
    from gateway.app import load_keys
    from gateway.auth import KeyConfigError

    try:
        load_keys(settings)
    except KeyConfigError as exc:
        print(f"API key error: {exc}", file=sys.stderr)
        return 1

    from gateway.serving.server import run

    return run(settings, workers=args.workers, reload=args.reload)
