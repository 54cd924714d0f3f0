"""The package reads as the data flows: layered imports (``lint-imports`` in CI), small modules, a working entry."""

import subprocess
import sys
from pathlib import Path

import mixscale

PACKAGE = Path(mixscale.__file__).parent
MAX_LINES = 450


def test_no_module_is_over_the_line_limit():
    long = {}
    for path in PACKAGE.rglob("*.py"):
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            long[str(path.relative_to(PACKAGE))] = n
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"


def test_python_dash_m_cli_help_works():
    out = subprocess.run(
        [sys.executable, "-m", "mixscale.cli", "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    for command in ("benchmark", "optimize", "study", "simulator", "exchangeable", "train"):
        assert command in out.stdout


def test_public_names_import_from_where_the_readme_says():
    from mixscale import bench, strategies

    for name in (
        "Space",
        "Config",
        "Objective",
        "FunctionObjective",
        "Metric",
        "Observation",
        "create_study",
        "load_study",
        "ValidationError",
    ):
        assert getattr(mixscale, name) is not None
    assert callable(bench.run) and callable(strategies.create)
