"""What the gateway's HTTP protocol costs: httptools (uvicorn's default) against h11 with limits.

`gateway serve` speaks HTTP through gateway/serving/http_server.py, uvicorn's h11 protocol with a
head cap and head/body read timeouts, because uvicorn's faster default, httptools, has neither. This
measures the price, with three gateways in front of one fake upstream, identical but for
uvicorn's `http=` protocol (all on uvloop):

  httptools  uvicorn's default, what `gateway serve` used before the limits;
  h11        uvicorn's plain h11 protocol: the parser's share of the difference;
  limits     gateway.serving.http_server.GatewayHttpProtocol: what `gateway serve` runs now;

and three kinds of request, each read in full and checked:

  stream     POST /api/chat, streamed (--chunks text chunks per answer);
  json       POST /api/chat with stream=false: one JSON answer;
  health     GET /health: almost nothing but HTTP, so the protocol's cost shows most.

Rounds interleave every (kind, protocol) pair, the protocols in a rotated order each round, so
drift on a shared machine hits all of them alike. It prints requests per second and the
gateway's CPU per request, medians over the rounds, and each protocol's RPS over httptools'.

    .venv/bin/python bench/server_limits.py               # about 3 minutes
    .venv/bin/python bench/server_limits.py --rounds 3 --seconds 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PROTOCOLS = {
    "httptools": "httptools",
    "h11": "h11",
    "limits": "gateway.serving.http_server:GatewayHttpProtocol",
}
CHILD_FLAG = "--serve-with"  # internal: run `gateway serve` with this uvicorn protocol


def serve_with(protocol: str, serve_args: list[str]) -> int:
    """Child mode: `gateway serve` exactly as shipped, but for uvicorn's `http=` protocol."""
    import gateway.serving.server
    from gateway.cli import main

    gateway.serving.server.HTTP_PROTOCOL = protocol
    return main(["serve", *serve_args])


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == CHILD_FLAG:
    raise SystemExit(serve_with(sys.argv[2], sys.argv[3:]))


from stream_throughput import (  # noqa: E402  (the child above needs none of it)
    API_KEY,
    HOST,
    MESSAGES,
    MODEL_ID,
    REPO_ROOT,
    Result,
    Target,
    fake_upstream,
    free_port,
    gateway_target,
    http_post,
    log,
    measure,
    non_negative_float,
    positive_float,
    positive_int,
    stop,
    wait_healthy,
)

KINDS = ("stream", "json", "health")


def json_target(port: int, chunks: int) -> Target:
    request = http_post(
        port, "/api/chat", {"model": MODEL_ID, "messages": MESSAGES, "stream": False}, {}
    )

    def complete(body: bytes) -> bool:
        answer = json.loads(body)
        return answer["finishReason"] == "stop" and answer["text"].count("word") == chunks

    return Target("gateway", port, request, complete)


def health_target(port: int) -> Target:
    request = f"GET /health HTTP/1.1\r\nhost: {HOST}:{port}\r\n\r\n".encode()
    return Target("gateway", port, request, lambda body: body == b'{"status":"ok"}')


def target(kind: str, port: int, chunks: int) -> Target:
    if kind == "stream":
        return gateway_target(port, chunks)
    if kind == "json":
        return json_target(port, chunks)
    return health_target(port)


@contextlib.contextmanager
def gateway_with(protocol: str, upstream_url: str, workdir: Path) -> Iterator[tuple[int, int]]:
    """A `gateway serve` process using `protocol`; yields its port and pid."""
    config = workdir / "config.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL_ID}\n"
        f"    litellm_params: {{model: openai/fake-model, api_base: {upstream_url},"
        f" api_key: {API_KEY}}}\n"
        "router_settings: {num_retries: 0, timeout: 30}\n"
    )
    port = free_port()
    pythonpath = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath), GATEWAY_LOG_LEVEL="warning")
    output = workdir / f"gateway-{port}.log"
    command = [sys.executable, __file__, CHILD_FLAG, PROTOCOLS[protocol]]
    command += ["--host", HOST, "--port", str(port), "--config", str(config)]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir, env=env
        )
    try:
        wait_healthy(process, port, output)
        yield port, process.pid
    finally:
        stop(process)


def run(args: argparse.Namespace) -> dict[tuple[str, str], list[Result]]:
    results: dict[tuple[str, str], list[Result]] = {
        (kind, protocol): [] for kind in KINDS for protocol in args.protocols
    }
    with (
        fake_upstream(args.chunks) as fake,
        tempfile.TemporaryDirectory(prefix="bench-limits-") as workdir,
        contextlib.ExitStack() as stack,
    ):
        servers: dict[str, tuple[int, int]] = {}
        for protocol in args.protocols:
            home = Path(workdir, protocol)
            home.mkdir()
            servers[protocol] = stack.enter_context(gateway_with(protocol, fake.url, home))
            log(f"{protocol}: gateway ready on port {servers[protocol][0]}")
        for round_number in range(args.rounds):
            shift = round_number % len(args.protocols)
            order = args.protocols[shift:] + args.protocols[:shift]
            for kind in KINDS:
                for protocol in order:
                    port, pid = servers[protocol]
                    result = measure(target(kind, port, args.chunks), {"gateway": pid}, args)
                    results[kind, protocol].append(result)
                    log(
                        f"round {round_number + 1} {kind:<6} {protocol:<9} {result.rps:8.1f} RPS"
                        f" ({result.errors} errors)"
                    )
    return results


def report(results: dict[tuple[str, str], list[Result]], args: argparse.Namespace) -> None:
    print(
        f"{args.rounds} interleaved rounds of {args.seconds:g} s (after {args.warmup:g} s warm-up)"
        f" per protocol and kind, concurrency {args.concurrency}, {args.chunks} chunks per answer;"
        " medians"
    )
    print(f"{'kind':<7} {'protocol':<10} {'RPS':>8} {'cpu ms/req':>10} {'RPS / httptools':>16}")
    for kind in KINDS:
        base = statistics.median(r.rps for r in results[kind, args.protocols[0]])
        for protocol in args.protocols:
            runs = results[kind, protocol]
            rps = statistics.median(r.rps for r in runs)
            cpus = [r.cpu_ms_per_request["gateway"] for r in runs if r.cpu_ms_per_request]
            cpu = f"{statistics.median(cpus):.2f}" if cpus else "-"
            ratio = f"{rps / base:.3f}" if base else "-"
            print(f"{kind:<7} {protocol:<10} {rps:>8.1f} {cpu:>10} {ratio:>16}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive_int, default=5, help="rounds (default 5)")
    parser.add_argument(
        "--seconds", type=positive_float, default=3.0, help="measured seconds per cell (default 3)"
    )
    parser.add_argument(
        "--warmup", type=non_negative_float, default=1.0, help="unrecorded seconds first (1)"
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=8, help="concurrent connections (default 8)"
    )
    parser.add_argument(
        "--chunks", type=positive_int, default=20, help="text chunks per answer (default 20)"
    )
    parser.add_argument(
        "--protocols",
        nargs="+",
        choices=list(PROTOCOLS),
        default=list(PROTOCOLS),
        help="the first is the baseline (default: httptools h11 limits)",
    )
    args = parser.parse_args(argv)
    args.requests = None  # stream_throughput.load's optional cap on requests
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the child processes are stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    results = run(args)
    report(results, args)
    log(f"took {time.monotonic() - started:.0f} s")
    failed = [(key, r) for key, runs in results.items() for r in runs if r.errors or not r.requests]
    for (kind, protocol), r in failed:
        log(f"{kind} {protocol}: {r.errors} failed, {r.requests} ok; first: {r.first_error}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
