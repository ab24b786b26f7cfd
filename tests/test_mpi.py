"""Runs under mpiexec: every rank gets the same clear error, nobody hangs, nothing is written."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import INPUT, ROOT

pytestmark = pytest.mark.mpi


def _mpiexec():
    candidates = [Path(sys.executable).parent / "mpiexec", shutil.which("mpiexec")]
    for c in candidates:
        if c and Path(c).exists():
            return str(c)
    pytest.skip("mpiexec not found (pip install mpi4py mpich)")


def _launch(n, *args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [_mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", "-m", "scripts.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def test_bad_deck_fails_on_every_rank_with_one_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((INPUT / "homogeneous_A.yaml").read_text().replace("sin2_2theta: 1.0e-8",
                                                                      "sin2_2theta: 3"))
    out = tmp_path / "out"
    proc = _launch(2, "run", str(bad), "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("physics.sin2_2theta") == 1, proc.stderr
    assert not out.exists()


def test_single_site_model_refuses_several_ranks_cleanly(tmp_path):
    out = tmp_path / "out"
    proc = _launch(2, "run", str(INPUT / "homogeneous_A.yaml"), "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("runs on one rank") == 1, proc.stderr
    assert not out.exists()


def test_allreduce_max_agrees_across_ranks():
    code = ("from lattice.parallel import world; c = world(); "
            "v = c.allreduce_max(float(c.rank) + 0.5); "
            "assert v == c.size - 0.5, v; assert c.size == 2; print('ok')")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok") == 2  # both ranks passed their assertion
