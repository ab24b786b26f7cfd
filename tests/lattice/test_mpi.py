"""Runs under mpiexec: every rank gets the same clear error, nobody hangs, nothing is written."""

import sys
import time
from pathlib import Path

import pytest

from conftest import INPUT, run_mpiexec

pytestmark = pytest.mark.mpi


def _launch(n, *args, timeout=120):
    return run_mpiexec(n, "-m", "mpi4py", "-m", "scripts.cli", *args, timeout=timeout)


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
    proc = run_mpiexec(2, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok") == 2  # both ranks passed their assertion


def _qke_script():
    """The installed `qke` console script (the documented `mpiexec -n N qke run ...` form)."""
    path = Path(sys.executable).parent / "qke"
    if not path.exists():
        pytest.skip("the qke console script is not installed beside this Python (pip install -e .)")
    return str(path)


LATTICE = [str(INPUT / "lattice_1d_laptop.yaml"), "--progress", "none", "--set", "grid.shape=[12]",
           "--set", "time.T_start_MeV=24", "--set", "time.T_end_MeV=23.9", "--set", "output.samples=5"]


def test_unwritable_output_folder_ends_every_rank_with_one_message(tmp_path):
    """`mpiexec -n 2 qke run` into a folder below a file: exit 2 on every rank within 30 s, one
    message, no traceback (before, rank 0 raised and rank 1 waited in a collective forever)."""
    (tmp_path / "a_file").write_text("")
    out = tmp_path / "a_file" / "run"
    proc = run_mpiexec(2, "run", *LATTICE, "--out", str(out), timeout=30, cwd=tmp_path, program=_qke_script())
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count(f"output folder {out} cannot be written") == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_error_on_one_rank_alone_ends_the_job_with_one_message(tmp_path):
    """A failure raised on rank 1 only, mid-run, while rank 0 goes on into the next collective:
    the job ends within 30 s of the failure, non-zero, with one message naming the rank (MPI_Abort), without
    `python -m mpi4py`."""
    code = ("import sys\n"
            "import lattice.sampling as s\n"
            "from scripts.cli import main\n"
            "observe = s.Samples.observe\n"
            "def failing(self, i, system, y, comm, *rest):\n"
            "    if comm.rank == 1 and i == 2:\n"
            "        import time; print('failing at', time.time(), flush=True)\n"
            "        raise RuntimeError('injected failure on rank 1')\n"
            "    return observe(self, i, system, y, comm, *rest)\n"
            "s.Samples.observe = failing\n"
            f"sys.exit(main(['run', *{LATTICE!r}, '--out', {str(tmp_path / 'run')!r}]))\n")
    proc = run_mpiexec(2, "-c", code, timeout=300, cwd=tmp_path)
    ended = time.time()
    assert proc.returncode != 0, proc.stderr
    failed_at = float(proc.stdout.split("failing at", 1)[1].split()[0])
    assert ended - failed_at < 30, (ended - failed_at, proc.stderr)
    assert proc.stderr.count("qke: run failed on rank 1: RuntimeError: injected failure on rank 1") == 1, proc.stderr
    assert proc.stderr.count("qke:") == 1 and "Traceback" not in proc.stderr, proc.stderr
