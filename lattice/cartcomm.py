"""MPI Cartesian communicator checked against a :class:`~lattice.partition.Partition`,
plus global reductions.

Every function accepts ``comm`` as None (serial), a :class:`lattice.parallel.SerialComm`,
a :class:`lattice.parallel.MPIComm` wrapper or a raw mpi4py communicator. mpi4py is only
imported when a communicator with more than one rank is actually used.
"""
from __future__ import annotations

import numpy as np

from lattice.partition import Partition


def as_mpi(comm):
    """Raw mpi4py communicator behind ``comm``, or None when it has a single rank.

    Args:
        comm: None, SerialComm, MPIComm or an mpi4py ``Comm``.

    Returns:
        The mpi4py communicator, or None for every one-rank case (serial path).
    """
    comm = getattr(comm, "comm", comm)  # unwrap lattice.parallel.MPIComm
    if comm is None or not hasattr(comm, "Get_size") or comm.Get_size() == 1:
        return None
    return comm


def _rank_size(mpi):
    return (0, 1) if mpi is None else (mpi.Get_rank(), mpi.Get_size())


def make_cart(comm, partition: Partition):
    """Create the Cartesian communicator matching ``partition`` and verify it.

    Uses ``Create_cart(dims=process_grid, periods=periodic, reorder=False)``, so ranks
    are those of ``comm``. Checks on every rank that ``Get_coords(r)`` equals
    ``partition.coords(r)`` for all ranks ``r`` and that ``Shift(axis, 1)`` equals
    ``(neighbour(rank, axis, -1), neighbour(rank, axis, +1))`` with ``MPI.PROC_NULL``
    standing for None. The verdict is agreed collectively, so all ranks raise together.

    Args:
        comm: Parent communicator (see :func:`as_mpi`).
        partition: Decomposition whose ``nranks`` must equal the communicator size.

    Returns:
        The mpi4py ``Cartcomm``, or None on the serial path (one rank, no mpi4py import).

    Raises:
        ValueError: on a size mismatch or when MPI's topology disagrees with ``partition``.
    """
    mpi = as_mpi(comm)
    _, size = _rank_size(mpi)
    if size != partition.nranks:
        raise ValueError(f"communicator has {size} ranks but partition process_grid="
                         f"{partition.process_grid} needs {partition.nranks}")
    if mpi is None:
        return None
    from mpi4py import MPI

    cart = mpi.Create_cart(dims=list(partition.process_grid),
                           periods=list(partition.periodic), reorder=False)
    rank, errors = cart.Get_rank(), []
    for r in range(size):
        if tuple(cart.Get_coords(r)) != partition.coords(r):
            errors.append(f"Get_coords({r})={tuple(cart.Get_coords(r))} != "
                          f"partition.coords({r})={partition.coords(r)}")
    for axis in range(partition.ndim):
        got = tuple(None if n == MPI.PROC_NULL else n for n in cart.Shift(axis, 1))
        want = (partition.neighbour(rank, axis, -1), partition.neighbour(rank, axis, 1))
        if got != want:
            errors.append(f"rank {rank}: Shift({axis}, 1)={got} != partition {want}")
    if cart.allreduce(len(errors), op=MPI.MAX):
        cart.Free()
        raise ValueError("MPI Cartesian topology disagrees with Partition: "
                         + ("; ".join(errors) or "(mismatch on another rank)"))
    return cart


def allreduce_sum(comm, value):
    """Sum ``value`` (scalar or numpy array) over ranks.

    Floating-point results depend on the rank count and MPI's reduction order; use
    :func:`reproducible_sum` where bitwise rank-count independence matters.
    """
    mpi = as_mpi(comm)
    if mpi is None:
        return value
    from mpi4py import MPI

    return mpi.allreduce(value, op=MPI.SUM)


def allreduce_max(comm, value):
    """Maximum of ``value`` over ranks (exact and rank-count independent)."""
    mpi = as_mpi(comm)
    if mpi is None:
        return value
    from mpi4py import MPI

    return mpi.allreduce(value, op=MPI.MAX)


def _to_host(x):
    return x if isinstance(x, np.ndarray) else (x.get() if hasattr(x, "get") else np.asarray(x))


def reproducible_sum(comm, partition: Partition, x_local):
    """Sum over the global domain that is bitwise identical for any rank count.

    Every rank's interior block is gathered to rank 0, placed into one C-contiguous
    global array of shape ``(*lead, *global_shape)`` and summed there with ``np.sum``
    over the spatial axes; the result is broadcast. Because the assembled array is the
    same for every decomposition, so is the sum. Cost: the whole field travels to and
    is stored on rank 0 (O(global size) memory and traffic, serial sum) — meant for
    diagnostics and checks, not for every time step of a large run.

    Args:
        comm: Communicator (see :func:`as_mpi`) whose ranks match ``partition``.
        partition: The decomposition.
        x_local: Interior values of this rank, shape ``(*lead, *local_shape(rank))``
            (numpy or CuPy; ``lead`` may be empty, e.g. a field axis).

    Returns:
        numpy array of shape ``lead`` (a 0-d array when ``lead`` is empty).
    """
    mpi = as_mpi(comm)
    rank, size = _rank_size(mpi)
    if size != partition.nranks:
        raise ValueError(f"communicator has {size} ranks, partition needs {partition.nranks}")
    x = _to_host(x_local)
    nd = partition.ndim
    if x.shape[x.ndim - nd:] != partition.local_shape(rank):
        raise ValueError(f"x_local shape {x.shape} does not end with local_shape "
                         f"{partition.local_shape(rank)} of rank {rank}")
    blocks = [x] if mpi is None else mpi.gather(x, root=0)
    total = None
    if rank == 0:
        lead = x.shape[:x.ndim - nd]
        full = np.empty(lead + partition.global_shape, dtype=np.result_type(*blocks))
        for r, block in enumerate(blocks):
            full[(Ellipsis,) + partition.global_slice(r)] = block
        total = np.sum(full, axis=tuple(range(len(lead), full.ndim)))
    return np.asarray(total) if mpi is None else np.asarray(mpi.bcast(total, root=0))
