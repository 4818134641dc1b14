"""Anthropic's Messages API: POST /v1/messages (issue 14; being built)."""

from __future__ import annotations

from fastapi import Depends

from gateway.api.admission import authenticate
from gateway.api.doors import door_router

router = door_router("anthropic", prefix="/v1", dependencies=[Depends(authenticate)])
