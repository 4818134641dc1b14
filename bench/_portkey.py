"""Portkey's gateway (`@portkey-ai/gateway` 1.15.2, Node) as a bench target: its install and
its command line. Never a gateway dependency.

It is installed by `npm ci --ignore-scripts` into bench/portkey/node_modules (in .gitignore)
from bench/portkey/package.json and the package-lock.json beside it, both committed, so every
run gets the same dependency tree; the install takes seconds and happens the first time the
target is asked for (or when an installed version differs from the lock's). Its only install
script is `patch-package`, and the package ships no patches. package.json's `overrides` pin
Portkey's own dependencies to the versions that Portkey's repository lockfile at v1.15.2
resolves (its published package only declares ranges such as `^1.3.3`), so the bench runs
Portkey as its own build does rather than with whatever is newest.

It runs as one Node process, `NODE_ENV=production node build/start-server.js --port=N
--headless` (the package's `bin`; `--headless` leaves out the log UI), and is routed per
request by headers: `x-portkey-provider: openai` and `x-portkey-custom-host: <upstream>/v1`;
the bearer key is passed through to the upstream. Its health check is GET / ("AI Gateway says
hey!"). It listens on every interface (its start script passes no host); the bench only talks
to 127.0.0.1.

Why that matters for `@hono/node-server` (1.13.5 in Portkey's lockfile): Portkey 1.15.2
declares `^1.3.3`, so a fresh install resolves 1.19.x, and there every streamed answer fails
with `TypeError: immutable` from Portkey's `updateHeaders`. Portkey builds its stream as
`new Response(stream, upstreamResponse)`; @hono/node-server replaces the global Response with
a lightweight one, which in 1.19 keeps the upstream fetch Response's own Headers object (whose
guard is immutable) instead of copying it, and Portkey then appends its x-portkey-* headers
to it. 1.13.5 copies the headers, and streams work under this machine's Node 20; the failure
is a dependency's version, not Node's (1.13.5 is said to break on Node 24, which is not here).

Worth knowing when reading its figures: for a streamed answer Portkey waits 25 ms (a
`setTimeout`) before passing on the first event, so its streamed latency carries that delay
by design; its CPU per request does not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from stream_throughput import log

PORTKEY_DIR = Path(__file__).resolve().parent / "portkey"
PORTKEY_PACKAGE = "@portkey-ai/gateway"
PORTKEY_VERSION = "1.15.2"
ENTRY = Path("node_modules", PORTKEY_PACKAGE, "build", "start-server.js")


def _installed_version(package: str) -> str | None:
    manifest = PORTKEY_DIR / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _locked_versions() -> dict[str, str]:
    """Every package the lock installs, by its path under node_modules."""
    lock = json.loads((PORTKEY_DIR / "package-lock.json").read_text())
    prefix = "node_modules/"
    return {
        path.removeprefix(prefix): entry["version"]
        for path, entry in lock.get("packages", {}).items()
        if path.startswith(prefix) and "version" in entry
    }


def install_portkey() -> Path:
    """bench/portkey with its node_modules as the lock says; raises RuntimeError when it cannot
    be installed (no npm, no registry)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("Portkey's gateway needs node and npm on PATH")
    if all(_installed_version(p) == v for p, v in _locked_versions().items()):
        return PORTKEY_DIR
    log(f"installing {PORTKEY_PACKAGE}@{PORTKEY_VERSION} into bench/portkey with npm ci ...")
    command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    done = subprocess.run(command, cwd=PORTKEY_DIR, stdout=sys.stderr, stderr=sys.stderr)
    if done.returncode != 0 or _installed_version(PORTKEY_PACKAGE) != PORTKEY_VERSION:
        raise RuntimeError(f"npm ci in {PORTKEY_DIR} failed (exit code {done.returncode})")
    log("installed")
    return PORTKEY_DIR


def portkey_command(folder: Path) -> tuple[list[str], str]:
    """The command (with {port} to fill in) and a line saying what runs."""
    node = shutil.which("node") or "node"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    entry = folder / ENTRY
    command = [node, str(entry), "--port={port}", "--headless"]
    hono = _installed_version("@hono/node-server")
    about = (
        f"Portkey gateway {PORTKEY_VERSION} (node {version}, @hono/node-server {hono}),"
        " NODE_ENV=production, --headless, one process"
    )
    return command, about


def portkey_headers(upstream_url: str) -> tuple[tuple[str, str], ...]:
    """Route every request to the fake upstream as an OpenAI-compatible provider."""
    return (("x-portkey-provider", "openai"), ("x-portkey-custom-host", upstream_url))
