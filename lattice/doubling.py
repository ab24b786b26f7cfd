"""Periodic grid doubling (paper section 3): the box doubles, the number of cells stays fixed.

Along every axis every second cell is dropped and the freed half of the array is filled with a
copy of the coarsened grid: new[i] = old[(2 i) mod n], so the new grid, of spacing 2 dx, holds
two images of the old box side by side. The global shape and hence the decomposition do not
change, but a rank's new block is made of cells that two (per axis) other ranks held: across
MPI ranks doubling is a redistribution. `plan` computes it from rank numbers alone (no MPI,
unit-testable); `redistribute` moves the data with one all-to-all exchange.

`coarsen` offers two ways to make a coarse cell from the two (per axis) fine cells it covers:
`drop` keeps the first of them, new[i] = old[2i] (the paper's method); `average` takes their
mean, new[i] = (old[2i] + old[2i+1])/2 (in nD the mean of 2^d cells), which conserves every
field's total (particle and lepton numbers) and keeps the coarse value at the coarse cell's
centre, where `drop` shifts the field by half a fine cell.
"""

from __future__ import annotations

import numpy as np


import itertools

COARSENINGS = ("drop", "average")


def source_indices(n, offset=0):
    """Old global index of each new index along an axis of n cells (n even): (2 i + offset) mod n."""
    if n % 2:
        raise ValueError(f"grid doubling needs an even number of cells per axis, got {n}")
    return (2 * np.arange(n) + offset) % n


def plan(partition, rank, offsets=None):
    """For each source rank q, the cells rank `rank` receives from q after a doubling.

    Returns a list, indexed by q, of None or (destination, source): per-axis index arrays into
    this rank's new block and into q's old block (both local), to be combined with np.ix_.
    `offsets` (0 or 1 per axis, default 0) picks which of the two fine cells a coarse one takes.
    """
    offsets = offsets or (0,) * partition.ndim
    wanted = [source_indices(n, o)[s] for n, o, s in zip(partition.global_shape, offsets,
                                                         partition.global_slice(rank))]
    pieces = []
    for q in range(partition.nranks):
        dst, src = [], []
        for axis, old in enumerate(wanted):
            block = partition.global_slice(q)[axis]
            inside = (old >= block.start) & (old < block.stop)
            dst.append(np.nonzero(inside)[0])
            src.append(old[inside] - block.start)
        pieces.append(None if any(len(d) == 0 for d in dst) else (dst, src))
    return pieces


def redistribute(u, partition, comm, offsets=None):
    """This rank's block of the doubled global field, from its block `u` (n_fields, *local)."""
    rank = comm.rank
    outgoing = []
    for r in range(partition.nranks):       # what every rank r needs from me
        piece = plan(partition, r, offsets)[rank]
        outgoing.append(None if piece is None else np.ascontiguousarray(u[(slice(None),) + np.ix_(*piece[1])]))
    incoming = comm.alltoall(outgoing)
    new = np.empty_like(u)
    for q, piece in enumerate(plan(partition, rank, offsets)):
        if piece is not None:
            new[(slice(None),) + np.ix_(*piece[0])] = incoming[q]
    return new


def coarsen(u, partition, comm, method="drop"):
    """This rank's block of the doubled field by `method` (COARSENINGS; module docstring)."""
    if method == "drop":
        return redistribute(u, partition, comm)
    patterns = list(itertools.product((0, 1), repeat=partition.ndim))
    total = redistribute(u, partition, comm, patterns[0])
    for offsets in patterns[1:]:
        total += redistribute(u, partition, comm, offsets)
    return total / len(patterns)
