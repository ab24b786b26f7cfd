"""Shared fixtures: paths, a helper to run decks in memory, and the one way tests launch MPI."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INPUT = ROOT / "input"


@pytest.fixture
def run_deck():
    """Run a deck in memory with overrides; returns the RunResult."""
    from lattice.driver import run
    from scripts.models import load_deck

    def _run(name, *overrides):
        deck, schema = load_deck(INPUT / name, list(overrides) + ["output.progress=none"])
        return run(deck, schema, write=False)

    return _run


def mpiexec_path():
    """The mpiexec beside this Python (the mpich wheel's) or on PATH; skips the test if none."""
    for candidate in (Path(sys.executable).parent / "mpiexec", shutil.which("mpiexec")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.skip("mpiexec not found (pip install mpi4py mpich)")


def run_mpiexec(n, *argv, timeout=120, cwd=ROOT, program=None, pythonpath=()):
    """`mpiexec -n n PROGRAM *argv` with the repository (after the folders `pythonpath`) on
    PYTHONPATH (PROGRAM: this Python unless given); returns the finished
    subprocess.CompletedProcess (text, output captured)."""
    cmd = [mpiexec_path(), "-n", str(n), program or sys.executable, *argv]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*map(str, pythonpath), str(ROOT)]))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
