"""GET /metrics: Prometheus text format, summed over worker processes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.metrics import exposition

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)
