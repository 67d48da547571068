"""The shape of the code: imports point the way data flows, and the tree is lint-clean."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("data", "strategies", "backtests", "reports")
# Which of our packages each package may import.
ALLOWED = {
    "data": set(),
    "strategies": {"data"},
    "reports": {"data"},  # only data.errors, data.atomic, data.conventions; never an engine
    "backtests": {"data", "strategies", "reports"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_the_way_data_flows(package):
    for path in sorted((REPO / package).rglob("*.py")):
        wrong = _imports(path) - ALLOWED[package] - {package}
        assert not wrong, f"{path.relative_to(REPO)} imports {sorted(wrong)}"


def test_reports_use_only_utilities_from_data():
    for path in sorted((REPO / "reports").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if module == "data" or module.startswith("data."):
                assert module in {"data.errors", "data.atomic", "data.conventions"}, (
                    f"{path.name} imports {module}"
                )


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "--quiet", str(REPO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_command_line_starts_without_numpy():
    """``capex-rotation --help`` imports only typer, rich and the option types: a command's
    dependencies (numpy, pandas, backtrader, matplotlib) are imported when it runs."""
    import subprocess
    import sys

    code = (
        "import sys, backtests.cli.app; print(sorted(m for m in ('numpy', 'pandas', "
        "'backtrader', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
