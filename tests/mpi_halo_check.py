"""Halo-exchange and Cartesian-topology checks; run as ``mpiexec -n N python -m mpi4py THIS``.

For every case (1D/2D/3D shapes, halo 1 and 2, periodic all/mixed/none, every process grid
that fits, 8 fields) each rank fills its padded interior from one seeded global array with
NaN ghosts, exchanges, and compares the whole padded array bitwise with the global array
padded by ``wrap`` along periodic axes and NaN along the others: interior unchanged, every
ghost inside the domain filled, every ghost beyond a closed boundary (corners included)
still NaN. Prints ``OK <cases>`` on rank 0 and exits 0; on failure prints the mismatches
and exits 1. ``... THIS cart`` checks only ``make_cart`` on a 2x2 grid (needs 4 ranks).

Importable without MPI: the in-process serial tests call :func:`run_cases` with comm None.
"""
import itertools
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lattice.cartcomm import make_cart, reproducible_sum  # noqa: E402
from lattice.halo import HaloExchanger  # noqa: E402
from lattice.partition import Partition  # noqa: E402

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


def check_case(comm, rank, part, seed):
    """Run one case on this rank; return a list of failure messages (empty when fine)."""
    dtype = np.dtype(DTYPES[seed % len(DTYPES)])
    rng = np.random.default_rng(seed)
    fields = rng.standard_normal((N_FIELDS,) + part.global_shape).astype(dtype)
    if dtype.kind == "c":
        fields += 1j * rng.standard_normal(fields.shape)
    cart = make_cart(comm, part)
    ex = HaloExchanger(part, rank, N_FIELDS, dtype=dtype, comm=cart)
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
    total = reproducible_sum(cart, part, u[interior])
    if not np.array_equal(total, np.sum(-fields, axis=tuple(range(1, fields.ndim)))):
        errors.append(f"rank {rank} {part}: reproducible_sum differs from the global sum")
    if cart is not None:
        cart.Free()
    return errors


def run_cases(comm, rank, nranks):
    """All cases for ``nranks`` ranks; returns (number of cases, failure messages)."""
    errors, n = [], 0
    for seed, part in enumerate(cases(nranks)):
        errors += check_case(comm, rank, part, seed)
        n += 1
    return n, errors


class _ColumnMajor(Partition):
    """Valid partition with a rank order MPI does not use: make_cart must reject it."""

    def coords(self, rank):
        out = []
        for p in self.process_grid:
            rank, c = divmod(rank, p)
            out.append(c)
        return tuple(out)

    def rank_of(self, coords):
        rank = 0
        for c, p in zip(reversed(tuple(coords)), reversed(self.process_grid)):
            rank = rank * p + c
        return rank


def run_cart_checks(comm):
    """make_cart on a 2x2 grid for every periodicity, plus two rejections."""
    errors, n = [], 0
    for periodic in itertools.product((False, True), repeat=2):
        part = Partition((8, 6), (2, 2), 1, periodic)
        cart = make_cart(comm, part)
        dims, periods, coords = cart.Get_topo()
        if (tuple(dims), tuple(map(bool, periods)), tuple(coords)) != \
                ((2, 2), periodic, part.coords(comm.Get_rank())):
            errors.append(f"rank {comm.Get_rank()}: Get_topo {dims} {periods} {coords}")
        cart.Free()
        n += 1
    for bad in (Partition((8, 6), (2, 1)), _ColumnMajor((8, 6), (2, 2))):
        try:
            make_cart(comm, bad)
            errors.append(f"rank {comm.Get_rank()}: make_cart accepted {bad}")
        except ValueError:
            n += 1
    return n, errors


def main(argv):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    n, errors = run_cart_checks(comm) if argv[1:] == ["cart"] else run_cases(comm, rank, size)
    everything = comm.gather(errors, root=0)
    if rank == 0:
        bad = [e for errs in everything for e in errs]
        for e in bad[:20]:
            print(e, file=sys.stderr)
        print(f"FAILED {len(bad)}" if bad else f"OK {n}", flush=True)
    return int(comm.allreduce(len(errors)) > 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
