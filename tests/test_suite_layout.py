"""The test suite's own layout: what tests share lives in tests/support/, fixtures in conftest.

A test module that imports another test module (or tests/conftest.py) runs that module's
top-level code and ties the two together; so every shared helper is in tests.support, test
modules and support modules import only from there, and conftest.py holds fixtures alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _is_forbidden(module: str) -> bool:
    """tests.conftest, or a test module (tests.test_*), as an import names them."""
    parts = module.split(".")
    return (
        parts[0] == "tests"
        and len(parts) > 1
        and (parts[1] == "conftest" or parts[1].startswith("test_"))
    )


def forbidden_imports(source: str) -> list[str]:
    """The imports in `source` of tests.conftest or of a test module, each as `line: module`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from tests import test_x` names the module in the alias, not in `module`.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # relative: `from . import test_x`, `from .conftest`
            base = ["tests"] + ([node.module] if node.module else [])
            names = [".".join(base)] + [".".join([*base, alias.name]) for alias in node.names]
        else:
            continue
        forbidden = [name for name in names if _is_forbidden(name)]
        if forbidden:  # one finding per statement: `from tests.conftest import X` names it twice
            found.append(f"{node.lineno}: {forbidden[0]}")
    return found


def test_the_check_sees_every_spelling_of_a_forbidden_import() -> None:
    source = "\n".join(
        [
            "from tests.conftest import Gateway",
            "import tests.test_protocols",
            "from tests import test_observability",
            "from tests import conftest",
            "from .test_tracing import Receiver",
            "def later():\n    from tests.test_live_reload import ready",
        ]
    )
    assert len(forbidden_imports(source)) == 6
    allowed = "from tests.support.configs import config_for\nfrom tests import support\n"
    assert forbidden_imports(allowed) == []


def test_no_test_or_support_module_imports_a_test_module_or_conftest() -> None:
    modules = sorted([*TESTS.glob("test_*.py"), *(TESTS / "support").glob("**/*.py")])
    assert len(modules) > 50  # the glob found the suite
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in modules
        if (found := forbidden_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, f"import these from tests.support instead: {offenders}"


def test_conftest_holds_fixtures_only() -> None:
    tree = ast.parse((TESTS / "conftest.py").read_text(encoding="utf-8"))
    not_fixtures = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            not_fixtures.append(node.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            decorators = [ast.unparse(decorator) for decorator in node.decorator_list]
            if not any(d.startswith("pytest.fixture") for d in decorators):
                not_fixtures.append(node.name)
    assert not_fixtures == [], f"move these to tests/support/: {not_fixtures}"
