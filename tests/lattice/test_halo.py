"""Tests for lattice.halo: one rank in-process, MPI under mpiexec (several ranks in one process:
test_local_comm.py)."""
from pathlib import Path

import numpy as np
import pytest

import mpi_halo_check as check
from conftest import run_mpiexec
from lattice.halo import HaloExchanger
from lattice.parallel import SerialComm
from lattice.partition import Partition

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "mpi_halo_check.py"


def test_serial_cases_match_wrap_and_nan_boundaries():
    n, errors = check.run_cases(SerialComm())
    assert n == 20 and errors == []


@pytest.mark.parametrize("shape", [(5,), (4, 3), (3, 4, 2)])
def test_serial_periodic_equals_np_pad_wrap(shape):
    part = Partition(shape, (1,) * len(shape), halo=2, periodic=(True,) * len(shape))
    g = np.arange(3 * np.prod(shape), dtype=float).reshape((3,) + shape)
    u = np.full((3,) + part.padded_shape(0), np.nan)
    u[(slice(None),) + part.interior_slice(0)] = g
    ex = HaloExchanger(part, 3, comm=SerialComm())
    ex.exchange(u)
    assert np.array_equal(u, np.pad(g, [(0, 0)] + [(2, 2)] * len(shape), mode="wrap"))
    assert ex.bytes_per_exchange == ex.messages_per_exchange == 0  # all same-rank copies


def test_constructor_and_call_errors():
    part = Partition((8, 8), (1, 1), halo=1, periodic=(True, False))
    with pytest.raises(ValueError, match="stencil_radius"):
        HaloExchanger(part, 2, stencil_radius=2)
    with pytest.raises(ValueError, match="communicator"):
        HaloExchanger(Partition((8, 8), (2, 1), halo=1), 2)
    with pytest.raises(ValueError, match="n_fields"):
        HaloExchanger(part, 0)
    ex = HaloExchanger(part, 2)
    with pytest.raises(ValueError, match="expected numpy array"):
        ex.exchange(np.zeros((2, 10, 10), dtype=np.float32))
    with pytest.raises(RuntimeError):
        ex.wait(np.zeros((2, 10, 10)))
    u = np.zeros((2, 10, 10))
    ex.start(u)
    with pytest.raises(RuntimeError):
        ex.start(u)
    ex.wait(u)


def _launch(n, *args):
    return run_mpiexec(n, "-m", "mpi4py", str(SCRIPT), *args)


@pytest.mark.mpi
@pytest.mark.parametrize("nranks, ncases", [(2, 44), (4, 68)])
def test_mpi_halo_exchange(nranks, ncases):
    proc = _launch(nranks)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"OK {ncases}", proc.stdout + proc.stderr


@pytest.mark.mpi
def test_mpi_cartesian_order_matches_partition_2x2():
    proc = _launch(4, "cart")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "OK 4", proc.stdout + proc.stderr
