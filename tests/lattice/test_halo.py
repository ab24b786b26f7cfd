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
@pytest.mark.parametrize("library", ["numpy", "stand-in"])
def test_serial_periodic_equals_np_pad_wrap(shape, library, request):
    """One rank, every axis periodic: each axis's two faces are wrapped in one pass (the
    backend's wrap_axis, one kernel on a device), edges and corners included."""
    xp = np if library == "numpy" else request.getfixturevalue("cupy")
    part = Partition(shape, (1,) * len(shape), halo=2, periodic=(True,) * len(shape))
    g = np.arange(3 * np.prod(shape), dtype=float).reshape((3,) + shape)
    u = np.full((3,) + part.padded_shape(0), np.nan)
    u[(slice(None),) + part.interior_slice(0)] = g
    ex = HaloExchanger(part, 3, comm=SerialComm(), xp=xp)
    u = xp.asarray(u)
    ex.exchange(u)
    u = u if xp is np else u.get()
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


@pytest.mark.parametrize("shape, grid, bc", [
    ((12,), (2,), "periodic"), ((12,), (3,), "neumann"), ((6, 8), (1, 2), "offdiag_zero"),
    ((6, 8), (2, 2), "neumann"), ((4, 5, 6), (1, 2, 2), "periodic"), ((4, 5, 6), (2, 1, 2), "offdiag_zero"),
    ((6, 4), (1, 4), "neumann")])
@pytest.mark.parametrize("library", ["numpy", "stand-in"])
def test_the_laplacian_overlapping_the_last_axis_exchange_is_the_one_rank_laplacian(shape, grid, bc, library,
                                                                                   request):
    """lattice.grid.Lattice.laplacian on ranks splitting the last axis (threads as ranks): the
    core is computed while that axis's exchange is pending, the shell after it and the boundary
    conditions; every cell is written once (out starts as NaN) and equals the one-rank
    Laplacian bitwise (a block of one cell along the last axis has an empty core)."""
    from lattice.grid import Lattice
    from lattice.local_comm import run_ranks
    from lattice.parallel import SerialComm

    xp = np if library == "numpy" else request.getfixturevalue("cupy")
    u = np.random.default_rng(7).standard_normal((8,) + shape)
    box = tuple(0.3 * (k + 1) * n for k, n in enumerate(shape))

    def lattice(comm, process_grid):
        return Lattice(shape, box, (bc,) * len(shape), 8, comm, process_grid=process_grid, odd_fields=(2, 3), xp=xp)

    whole = lattice(SerialComm(), None)
    assert whole.overlap is None
    expected = whole.to_host(whole.laplacian(whole.to_device(u)))

    def body(comm):
        lat = lattice(comm, grid)
        assert lat.overlap is not None
        block = (slice(None),) + lat.global_slice
        out = lat.to_device(np.full((8,) + tuple(lat.local_shape), np.nan))
        return block, lat.to_host(lat.laplacian(lat.to_device(np.ascontiguousarray(u[block])), out=out))

    for block, got in run_ranks(int(np.prod(grid)), body):
        assert np.array_equal(got, expected[block])


@pytest.mark.parametrize("shape, grid, bc", [((6, 8), (2, 2), "neumann"), ((4, 5, 6), (2, 2, 2), "offdiag_zero"),
                                            ((4, 5, 6), (1, 1, 3), "periodic"), ((4, 5, 9), (1, 1, 3), "periodic"), ((9,), (3,), "neumann")])
def test_the_core_and_shell_boxes_cover_each_cell_once(shape, grid, bc):
    """lattice.grid.overlap_boxes: on every rank the core and the shell boxes partition the
    block, and the core leaves out exactly the cells next to a late side (a face shared along
    the last axis, or a global face of a non-periodic kind)."""
    from lattice.grid import overlap_boxes

    part = Partition(shape, grid, halo=1, periodic=tuple(k != "neumann" for k in (bc,) * len(shape)))
    for rank in range(part.nranks):
        core, shell = overlap_boxes(part, rank, (bc,) * len(shape))
        count = np.zeros(part.local_shape(rank), dtype=int)
        for box in ((core,) if core else ()) + shell:
            count[tuple(slice(a, b) for a, b in box)] += 1
        assert (count == 1).all()
        coords, last = part.coords(rank), len(shape) - 1
        if core is None:                      # a block of at most two cells along the last axis
            assert part.local_shape(rank)[last] <= 2
            continue
        for axis in range(len(shape)):
            for d, edge in ((-1, 0), (1, part.local_shape(rank)[axis] - 1)):
                on_face = coords[axis] == (0 if d < 0 else grid[axis] - 1)
                late = (bc != "periodic" and on_face) or (axis == last and part.neighbour(rank, axis, d) != rank)
                assert (core[axis][0] <= edge < core[axis][1]) != late, (rank, axis, d)
