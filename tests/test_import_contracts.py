"""The layering the README states is checked by import-linter's contracts (pyproject.toml).

The first test holds the code to them. The second proves each contract bites: in a copy of the
package, one forbidden import per contract is added, and every contract is then reported broken.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# One forbidden import per contract, each added to a module the contract covers.
VIOLATIONS = {
    "gateway/doors/openai_chat/openai_chat_encoder.py": "import litellm",
    "gateway/engine.py": "from fastapi import Request",
    "gateway/chats/store.py": "from gateway.doors.common import answering",
    "gateway/config/validation.py": "from gateway.tools import REGISTRY",
    "gateway/doors/anthropic/anthropic_routes.py": "from gateway.doors.frontend import ui_messages",
    "gateway/doors/common/caching.py": "from gateway.doors.ops import health_routes",
}


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=where, capture_output=True, text=True, timeout=120
    )


def contract_names() -> list[str]:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return [contract["name"] for contract in config["contracts"]]


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"Contracts: {len(contract_names())} kept, 0 broken." in result.stdout


def test_each_contract_fails_on_the_import_it_forbids(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "gateway", tmp_path / "gateway", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line in VIOLATIONS.items():
        path = tmp_path / module
        path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    names = contract_names()
    assert len(VIOLATIONS) == len(names)
    assert f"Contracts: 0 kept, {len(names)} broken." in result.stdout, result.stdout[-3000:]
