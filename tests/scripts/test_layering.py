"""The layering of the packages (issue 20): scripts > physics > lattice > kernels, and physics
uses only the machinery's public protocol (lattice.model) and deck types (lattice.deck). The
contracts are in pyproject.toml ([tool.importlinter]); import-linter checks every import chain,
direct or not."""

import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def test_import_contracts_hold():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.fail("lint-imports not found: install the test extra (import-linter)")
    proc = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout, proc.stdout[-2000:]


def test_the_run_loop_stays_short():
    """Simulation is the loop and its wiring; the rest lives in callbacks, advancers, restart."""
    from lattice.driver import Simulation

    lines, _ = inspect.getsourcelines(Simulation)
    assert len(lines) <= 150, len(lines)
