"""The config the gateway serves from, replaced whole when the YAML changes.

A reload reads and validates the file fully, builds a new Engine (its own LiteLLM Router) and
swaps it in one assignment. A request leases the engine once, before anything else it does
(gateway/doors/common/dependencies.py), so it runs on one snapshot throughout and those in
flight finish on the one they began with; the old engine is closed once idle. A
file that does not validate is refused: the old snapshot keeps serving and the problems are
kept for /health/ready until a good file replaces it.

Reloads come from a poll of the file (every worker process watches it itself), SIGHUP, and
POST /admin/reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.cache import MemoryStore, ResponseCache
from gateway.catalog import GATEWAY_CATALOG
from gateway.config import ConfigError, ConfigProblem, parse_config, read_config_text, text_digest
from gateway.engine import Engine, Lease
from gateway.mcp import McpServers
from gateway.observability import metrics
from gateway.tasks import OwnedTasks

log = logging.getLogger("gateway.config")

ReloadStatus = Literal["applied", "unchanged", "refused"]
RETIRED_ENGINE_WAIT = 3600.0  # seconds an old engine may keep serving streams before it is closed


@dataclass(frozen=True)
class ReloadResult:
    status: ReloadStatus
    generation: int
    problems: list[ConfigProblem] = field(default_factory=list)


@dataclass(frozen=True)
class RefusedEdit:
    """The last edit that did not validate, shown until a good file is loaded."""

    problems: list[ConfigProblem]
    at: float

    def report(self, path: Path) -> dict[str, Any]:
        return {
            "refused_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "problems": [
                {"line": p.line, "where": p.where, "message": p.message, "text": p.render(path)}
                for p in self.problems
            ],
        }


class LiveConfig:
    def __init__(
        self, engine: Engine, cache: ResponseCache, mcp_servers: McpServers | None = None
    ) -> None:
        self._engine = engine
        self._cache = cache
        self._mcp_servers = mcp_servers
        # Approvals issued under one config stay answerable under the next.
        self._approvals = engine.rounds.approvals.ledger
        self.path = engine.config.path
        self.generation = 1
        self.loaded_at = time.time()
        self.refused: RefusedEdit | None = None
        # The digest of the text the serving config came from, not of the file now: an edit
        # made since start-up must still count as a change.
        self._digest = engine.config.digest
        self._lock = asyncio.Lock()
        self._retiring = OwnedTasks()  # old engines, each closed once idle

    @property
    def engine(self) -> Engine:
        """The engine serving now; a request holds it through lease(), not through this."""
        return self._engine

    def lease(self) -> Lease:
        """A hold on the engine serving now: it is not closed while held, whatever reloads."""
        return self._engine.lease()

    async def reload(self, reason: str) -> ReloadResult:
        """Validate the file and swap it in; never raises for a bad file."""
        async with self._lock:
            try:
                text = await asyncio.to_thread(read_config_text, self.path)
                digest = text_digest(text)
                if digest == self._digest:
                    self.refused = None  # back to the file that is serving
                    return self._result("unchanged")
                config = parse_config(text, self.path, GATEWAY_CATALOG)
                engine = Engine(config, self._cache, self._mcp_servers, self._approvals)
            except ConfigError as exc:
                return self._refuse(reason, exc.problems)
            except Exception as exc:  # a Router that will not build: refuse, keep serving
                problem = ConfigProblem(line=None, where="", message=_describe(exc))
                return self._refuse(reason, [problem])
            self._swap(engine, digest)
            log.info(
                "config reloaded (%s): generation %d, models %s",
                reason,
                self.generation,
                ", ".join(config.model_ids),
            )
            for problem in config.env_problems():
                log.warning("%s (model unavailable until it is set)", problem.render(self.path))
            return self._result("applied")

    def _swap(self, engine: Engine, digest: bytes) -> None:
        # The rate limits come with the engine's config (RateLimitCounts.limiter): nothing to
        # reconfigure, and a request admitted under the old limits keeps them.
        old, self._engine = self._engine, engine
        if isinstance(self._cache.store, MemoryStore):
            self._cache.store.max_entries = engine.config.options.cache.max_entries
        self._digest = digest
        self.generation += 1
        self.loaded_at = time.time()
        self.refused = None
        self._retiring.spawn(_close_when_idle(old), "engine_retire")

    def _refuse(self, reason: str, problems: list[ConfigProblem]) -> ReloadResult:
        self.refused = RefusedEdit(problems, time.time())
        log.error(
            "config edit refused (%s); still serving generation %d. %d problem(s):",
            reason,
            self.generation,
            len(problems),
        )
        for problem in problems:
            log.error("  %s", problem.render(self.path))
        return self._result("refused", problems)

    def _result(
        self, status: ReloadStatus, problems: list[ConfigProblem] | None = None
    ) -> ReloadResult:
        metrics.CONFIG_RELOADS.labels(status).inc()
        return ReloadResult(status, self.generation, problems or [])

    async def watch(self, poll_seconds: float) -> None:
        """Reload whenever the file's identity (inode, size, mtime) changes."""
        seen = _file_identity(self.path)
        while True:
            await asyncio.sleep(poll_seconds)
            now = _file_identity(self.path)
            if now == seen:
                continue
            # Editors write in steps; wait for the file to hold still before reading it.
            await asyncio.sleep(min(0.2, poll_seconds))
            settled = _file_identity(self.path)
            if settled != now:
                continue
            seen = settled
            try:
                await self.reload("file changed")
            except Exception:  # the watch must outlive any one bad reload
                log.exception("config reload after a file change failed")

    async def aclose(self) -> None:
        await self._retiring.end()  # each closes its engine as it ends
        await self.engine.aclose()


async def _close_when_idle(engine: Engine) -> None:
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RETIRED_ENGINE_WAIT):
                await engine.wait_idle()
    finally:
        await engine.aclose()


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _describe(exc: BaseException) -> str:
    # Router errors can quote deployment parameters; the class name is enough and never leaks.
    return f"the model map could not be built ({exc.__class__.__name__})"
