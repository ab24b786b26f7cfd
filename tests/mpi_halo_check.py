"""Halo-exchange and Cartesian-topology checks; run as ``mpiexec -n N python -m mpi4py THIS``.

For every case (1D/2D/3D shapes, halo 1 and 2, periodic all/mixed/none, every process grid
that fits, 8 fields) each rank fills its padded interior from one seeded global array with
NaN ghosts, exchanges, and compares the whole padded array bitwise with the global array
padded by ``wrap`` along periodic axes and NaN along the others: interior unchanged, every
ghost inside the domain filled, every ghost beyond a closed boundary (corners included)
still NaN. It also checks that the reproducible sums of lattice.reductions over the ranks
equal, bitwise, those of the whole array on one rank. Prints ``OK <cases>`` on rank 0 and
exits 0; on failure prints the mismatches and exits 1. ``... THIS cart`` checks only that
``Partition`` orders ranks as ``Create_cart(reorder=False)`` does, on a 2x2 grid (4 ranks).

Importable without MPI: the in-process tests call :func:`run_cases` with any
lattice.parallel communicator (SerialComm, or the ranks of lattice.local_comm).
"""
import itertools
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lattice.halo import HaloExchanger  # noqa: E402
from lattice.parallel import MPIComm, SerialComm  # noqa: E402
from lattice.partition import Partition  # noqa: E402
from lattice.reductions import ReproducibleSums  # noqa: E402

N_FIELDS = 8
SHAPES = [(37,), (13, 17), (6, 7, 8)]
HALOS = (1, 2)
DTYPES = (np.float64, np.complex128, np.float32)


def periodic_options(ndim):
    """All periodic, none, and (for ndim > 1) the two alternating mixes."""
    mix = tuple(a % 2 == 0 for a in range(ndim))
    extra = [mix, tuple(not m for m in mix)] if ndim > 1 else []
    return [(True,) * ndim, (False,) * ndim] + extra


def cases(nranks):
    """Every valid Partition for ``nranks`` ranks over SHAPES x HALOS x periodic x grids."""
    for shape in SHAPES:
        for halo, periodic in itertools.product(HALOS, periodic_options(len(shape))):
            for grid in itertools.product(*(range(1, n + 1) for n in shape)):
                if math.prod(grid) != nranks:
                    continue
                try:
                    yield Partition(shape, grid, halo, periodic)
                except ValueError:  # blocks narrower than the halo
                    continue


def expected_padded(global_fields, part, rank):
    """Padded local array the exchange must produce, shape (n_fields, *padded_shape)."""
    g, h = global_fields, part.halo
    for axis, periodic in enumerate(part.periodic):
        width = [(0, 0)] * g.ndim
        width[axis + 1] = (h, h)
        g = np.pad(g, width, mode="wrap") if periodic else np.pad(g, width, constant_values=np.nan)
    window = tuple(slice(o, o + m + 2 * h) for o, m in zip(part.offset(rank), part.local_shape(rank)))
    return g[(slice(None),) + window]


def row_sums(comm, part, fields):
    """Pre-rounded sums of the real parts of every field, shape (n_fields,), over all ranks."""
    terms = np.ascontiguousarray(fields.real, dtype=np.float64).reshape(fields.shape[0], -1)
    return ReproducibleSums(comm, math.prod(part.global_shape)).row_sums(terms)


def check_case(comm, part, seed):
    """Run one case on this rank; return a list of failure messages (empty when fine)."""
    rank = comm.rank
    dtype = np.dtype(DTYPES[seed % len(DTYPES)])
    rng = np.random.default_rng(seed)
    fields = rng.standard_normal((N_FIELDS,) + part.global_shape).astype(dtype)
    if dtype.kind == "c":
        fields += 1j * rng.standard_normal(fields.shape)
    ex = HaloExchanger(part, N_FIELDS, dtype=dtype, comm=comm)
    interior = (slice(None),) + part.interior_slice(rank)
    errors = []
    for sign in (1, -1):  # second pass reuses the planned buffers with new data
        g = sign * fields
        u = np.full((N_FIELDS,) + part.padded_shape(rank), np.nan, dtype=dtype)
        u[interior] = g[(slice(None),) + part.global_slice(rank)]
        if sign > 0:
            ex.start(u)
            u[interior] *= 1  # interior work while the last axis is in flight
            ex.wait(u)
        else:
            ex.exchange(u)
        want = expected_padded(g, part, rank)
        if not np.array_equal(u, want, equal_nan=True):
            bad = np.argwhere(~((u == want) | (np.isnan(u) & np.isnan(want))))
            errors.append(f"rank {rank} {part} {dtype}: {len(bad)} wrong cells, first {bad[:3].tolist()}")
    want_bytes = sum(N_FIELDS * part.halo * math.prod(ex.shape[1:]) // ex.shape[a + 1] * dtype.itemsize
                     for a in range(part.ndim) for d in (-1, 1)
                     if part.neighbour(rank, a, d) not in (None, rank))
    if (ex.bytes_per_exchange, ex.bytes_sent) != (want_bytes, 2 * want_bytes):
        errors.append(f"rank {rank} {part}: bytes {ex.bytes_per_exchange} != {want_bytes}")
    whole = Partition(part.global_shape, (1,) * part.ndim)
    if not np.array_equal(row_sums(comm, part, u[interior]), row_sums(SerialComm(), whole, -fields)):
        errors.append(f"rank {rank} {part}: the reproducible sums differ from those on one rank")
    return errors


def run_cases(comm):
    """All cases for ``comm.size`` ranks, as rank ``comm.rank``; returns (number of cases, failure messages)."""
    errors, n = [], 0
    for seed, part in enumerate(cases(comm.size)):
        errors += check_case(comm, part, seed)
        n += 1
    return n, errors


def run_cart_checks(mpi):
    """Partition's rank order and neighbours against ``Create_cart(reorder=False)`` of the mpi4py
    communicator ``mpi`` (4 ranks), for every periodicity of a 2x2 grid."""
    from mpi4py import MPI

    errors, n, rank = [], 0, mpi.Get_rank()
    for periodic in itertools.product((False, True), repeat=2):
        part = Partition((8, 6), (2, 2), 1, periodic)
        cart = mpi.Create_cart(dims=list(part.process_grid), periods=list(periodic), reorder=False)
        for r in range(part.nranks):
            if tuple(cart.Get_coords(r)) != part.coords(r):
                errors.append(f"{part}: Get_coords({r}) = {cart.Get_coords(r)} != {part.coords(r)}")
        for axis in range(part.ndim):
            got = tuple(None if q == MPI.PROC_NULL else q for q in cart.Shift(axis, 1))
            want = (part.neighbour(rank, axis, -1), part.neighbour(rank, axis, 1))
            if got != want:
                errors.append(f"rank {rank} {part}: Shift({axis}, 1) = {got} != {want}")
        cart.Free()
        n += 1
    return n, errors


def main(argv):
    from mpi4py import MPI

    comm = MPIComm(MPI.COMM_WORLD)
    n, errors = run_cart_checks(comm.comm) if argv[1:] == ["cart"] else run_cases(comm)
    everything = comm.allgather(errors)
    if comm.rank == 0:
        bad = [e for errs in everything for e in errs]
        for e in bad[:20]:
            print(e, file=sys.stderr)
        print(f"FAILED {len(bad)}" if bad else f"OK {n}", flush=True)
    return int(any(everything))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
