"""podman for the tests that build and run the project's images for real.

No Docker engine runs where this project is developed, and no registry is reachable, so
`scripts/container-standins` builds the base images the Dockerfile and compose.yaml name from
Debian packages, and podman runs them with `scripts/containers.conf` (runc, no default ulimits).
Where podman or a stand-in is missing, these tests skip and say which command would provide it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "scripts" / "containers.conf"
PYTHON_BASE = "docker.io/library/python:3.11-slim"
REDIS_BASE = "docker.io/library/redis:7-alpine"
NGINX_BASE = "docker.io/library/nginx:1.28-alpine"


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(
    *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def why_not_runnable(*images: str) -> str | None:
    """Why these images cannot be built or run here, or None when they can."""
    if shutil.which("podman") is None or shutil.which("runc") is None:
        return "podman and runc are not installed (scripts/container-standins installs them)"
    for image in images:
        if podman("image", "exists", image, check=False, timeout=60).returncode != 0:
            return f"base image {image} is missing (scripts/container-standins builds a stand-in)"
    return None


def require_images(*images: str) -> None:
    reason = why_not_runnable(*images)
    if reason is not None:
        pytest.skip(reason)
