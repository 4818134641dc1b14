"""How a stdio MCP server's process is started: its command found the way an activated
virtualenv would find it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def find_command(command: str) -> str:
    """A bare command (no `/`) is looked for first beside the Python running the gateway (a
    virtualenv's `bin/`, where `python` and the scripts installed with the gateway live), then
    on PATH: `command: python` runs the gateway's own interpreter whether or not its virtualenv
    is activated (`.venv/bin/gateway serve`), and a server installed beside the gateway is found.
    A command found nowhere is left as written, for the spawn's own error to name."""
    if os.sep in command:
        return command
    # Not resolved through symlinks: a virtualenv's python is a link to the base interpreter.
    beside = Path(sys.executable).parent / command
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(command) or command
