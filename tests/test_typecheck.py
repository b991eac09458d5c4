"""The project promises typed code: mypy, configured in pyproject.toml
([tool.mypy]: check_untyped_defs, warn_unused_ignores), finds no error in
ikev2d, esp and lab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_mypy_finds_no_errors() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (it comes with the test extras: pip install -e '.[test]')")
    # run from the project root so mypy reads [tool.mypy] and keeps its
    # cache in .mypy_cache there (a cold run takes a few seconds)
    run = subprocess.run([sys.executable, "-m", "mypy", "ikev2d", "esp", "lab"], cwd=ROOT,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, f"mypy reports errors:\n{run.stdout}{run.stderr}"
