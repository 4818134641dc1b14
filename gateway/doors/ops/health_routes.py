"""Liveness and readiness: cheap, open, and honest about what is degraded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway.doors.common.dependencies import LeasedEngine, RuntimeDep
from gateway.redis_client import connect

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(runtime: RuntimeDep, engine: LeasedEngine) -> JSONResponse:
    settings = runtime.settings
    limiter = runtime.rate_limits.limiter(engine.config.options.rate_limit)
    config = engine.config
    live = runtime.live
    report: dict[str, Any] = {
        "status": "ready",
        "config": {
            "path": str(config.path),
            "generation": live.generation,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(live.loaded_at)),
            "models": config.model_ids,
        },
    }
    if live.refused is not None:
        # The old config still serves, so the process stays ready; the edit is what failed.
        report["config"]["refused_edit"] = live.refused.report(config.path)
    unavailable = {
        model_id: missing
        for model_id in config.model_ids
        if (missing := config.missing_env_for(model_id))
    }
    report["config"]["stream_readers"] = {
        f"{d.model_id}#{d.index}": " ".join(config.stream_reader_of(d)).replace(" ", ": ", 1)
        for d in config.deployments
        if d.mode == "chat"
    }
    if unavailable:
        report["config"]["unavailable_models"] = {
            model_id: f"environment variable {', '.join(names)} is not set"
            for model_id, names in unavailable.items()
        }
    if limiter.enabled:
        store = "redis" if settings.redis_url else "memory"
        report["rate_limit_store"] = "degraded: per-process memory" if limiter.degraded else store
    degraded: list[str] = []
    if settings.redis_url:
        ok = await _redis_reachable(settings.redis_url, settings.redis_timeout)
        report["redis"] = "ok" if ok else "unreachable"
        # Readiness is whether this process can serve under its policy, not whether Redis is
        # up: every replica shares one Redis, and a shared failure must not pull them all.
        if not ok and limiter.needs_store:
            report["status"] = "not_ready"
            report["reason"] = (
                "Redis is unreachable and rate limits have on_store_error: deny, "
                "so chat requests are refused"
            )
        if limiter.enabled and not limiter.needs_store and (limiter.degraded or not ok):
            degraded.append("rate_limits")  # counted per process, not shared across replicas
        if engine.cache is not None and not ok:
            degraded.append("response_cache")  # bypassed: every answer goes to the provider
    else:
        report["redis"] = "not configured"
    servers = [
        {**found, "error": engine.redactor.redact(found["error"]) if found["error"] else None}
        for found in runtime.mcp.report(engine.mcp)
    ]
    if servers:
        report["mcp_servers"] = servers
        starting = [s["name"] for s in servers if s["state"] == "starting"]
        if starting and report["status"] == "ready":
            # Not routed to before its tools are listed: a first answer would lack them.
            report["status"] = "not_ready"
            report["reason"] = f"MCP servers starting: {', '.join(starting)}"
        # A server that is down leaves its tools out; the models still answer.
        degraded += [f"mcp:{s['name']}" for s in servers if s["state"] != "ready"]
    report["degraded"] = degraded
    return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)


async def _redis_reachable(url: str, timeout_seconds: float) -> bool:
    client = connect(url, timeout_seconds)  # redis://, rediss://, Sentinel or Cluster
    try:
        async with asyncio.timeout(timeout_seconds):  # not wait_for: it can drop a cancel
            return bool(await client.ping())
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
