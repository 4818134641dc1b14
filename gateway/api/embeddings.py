"""Embeddings: POST /v1/embeddings through LiteLLM's Router (issue 14; being built)."""

from __future__ import annotations

from fastapi import Depends

from gateway.api.admission import authenticate
from gateway.api.doors import door_router

router = door_router("openai", prefix="/v1", dependencies=[Depends(authenticate)])
