"""POST /admin/reload: reload the YAML now and say what happened. Needs GATEWAY_ADMIN_KEY.

The reload runs in the worker process that answers; every other worker sees the same file
through its own watch within `GATEWAY_CONFIG_POLL_SECONDS`.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.doors.common.dependencies import AppSettings, RuntimeDep
from gateway.errors import AdminDisabled, Unauthorized

router = APIRouter(prefix="/admin")


async def require_admin(request: Request, settings: AppSettings) -> None:
    if not settings.admin_key:
        raise AdminDisabled("the admin API is off: set GATEWAY_ADMIN_KEY to use it")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), settings.admin_key.encode()
    ):
        raise Unauthorized("the admin key is missing or wrong")


@router.post("/reload", dependencies=[Depends(require_admin)])
async def reload(runtime: RuntimeDep) -> JSONResponse:
    live = runtime.live
    result = await live.reload("POST /admin/reload")
    body: dict[str, Any] = {
        "status": result.status,
        "generation": result.generation,
        "models": live.engine.config.model_ids,
    }
    if result.status == "refused":
        body["error"] = {
            "type": "config_invalid",
            "message": f"{live.path}: edit refused, still serving generation {result.generation}",
            "problems": [problem.render(live.path) for problem in result.problems],
        }
        return JSONResponse(body, status_code=422)
    return JSONResponse(body)
