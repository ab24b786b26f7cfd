"""Global sums that are bitwise identical for any number of ranks and any backend, with one
device→host copy per batch of sums (binned summation on fixed bin positions).

A floating-point sum depends on the order of its additions, so a plain MPI sum of per-rank
partial sums changes in the last bits with the decomposition. Here every term is cut into parts
on a fixed ladder of grids 2^c_j, c_j = B − (j+1)·W (bin j; W bits per bin), where B, a
multiple of W, is set by the largest term: max|term| < 2^(B−1). A bin's parts and all their
partial sums are exact multiples of 2^c_j below 2^(c_j+52) (W + log2 n ≤ 52 for n terms), so
every addition is exact and a bin's sum does not depend on the order, on the rank count or on
the device's reduction tree. The bins sit on fixed positions (multiples of W), so each rank cuts
its terms with its own B, on the device and without a host round trip; the host then shifts
every rank's bins to the global B (a rank's bins above the global top are empty, its bins below
the global bottom are the ones the global cut drops) and adds them over the ranks, still
exactly. The result is the correctly rounded (math.fsum) sum of the terms rounded to
2^(B − n_bins·W): an error below n·max|term|·2^-103, against n·2^-53 for a naive sum.

Cost: one pass over the terms (the backend's `binned_row_sums`: a compiled loop on the host,
whole-array calls on a GPU), one device→host copy, and one MAX and one SUM reduction over the
ranks for a whole batch of sums. `local` and `combine` split the two halves, so that a caller
may bring several batches (and other scalars) to the host in the same copy. Used for the inner
products of the Krylov solver (lattice/krylov.py), whose results feed back into the solution.

After Demmel & Nguyen, "Parallel reproducible summation" (IEEE TC 2015), and Ahrens, Demmel &
Nguyen, "Algorithms for efficient reproducible floating point summation" (ACM TOMS 2020).
"""

from __future__ import annotations

import math

import numpy as np

from kernels.backend import NUMPY

PRECISION_BITS = 104
"""Bits kept below the largest term (n_bins·W ≥ this + W): the sums' error stays below
n·max|term|·2^-103, the accuracy of the two-level pre-rounded sums this replaces."""


class ReproducibleSums:
    """Row sums of (k, n_local) arrays over all ranks, independent of how columns are distributed.

    Args:
        comm: lattice.parallel communicator (SerialComm or MPIComm).
        n_global: total number of columns summed over all ranks (bounds the partial sums).
        backend: array backend of the terms (kernels.backend); results are always NumPy (host) arrays.
    """

    def __init__(self, comm, n_global: int, backend=NUMPY):
        self.comm = comm
        self.width = 52 - math.ceil(math.log2(max(int(n_global), 2)))
        if self.width < 8:
            raise ValueError(f"reproducible sums over {n_global} terms: at most 2^44 are supported")
        self.n_bins = 1 + math.ceil(PRECISION_BITS / self.width)
        self.backend = backend

    def local(self, terms):
        """This rank's bins of each row of `terms` (k, n_local), where the terms are (device or
        host): (k, 2 + n_bins), to be copied to the host and passed to `combine`. No sync."""
        return self.backend.binned_row_sums(terms.reshape(terms.shape[0], -1), self.width, self.n_bins)

    def combine(self, local):
        """The global row sums (k,) from this rank's `local` bins, on the host: one MAX and one
        SUM over the ranks (collective). A row with a NaN or an infinity on any rank is NaN."""
        local = np.asarray(local, dtype=float)
        k = local.shape[0]
        top = self.comm.allreduce_array(local[:, :2].T.reshape(-1), "max")
        shift = np.rint((top[:k] - local[:, 0]) / self.width).astype(int)
        aligned = np.zeros((k, self.n_bins))
        for i, s in enumerate(shift):
            if s < self.n_bins:
                aligned[i, s:] = local[i, 2:2 + self.n_bins - s]
        total = self.comm.allreduce_array(aligned, "sum")
        return np.array([math.nan if top[k + i] else math.fsum(total[i]) for i in range(k)])

    def row_sums(self, terms):
        """Σ over columns and ranks of each row of `terms` (k, n_local); returns (k,) floats.
        One device→host copy."""
        return self.combine(self.backend.to_host(self.local(terms)))

    def local_dots(self, vectors, w, with_norm=False):
        """This rank's bins of ⟨v_i, w⟩ for the rows of `vectors` (k, n_local) and, with
        `with_norm`, of ⟨w, w⟩ as a last row; the products are never stored. No sync."""
        return self.backend.binned_dots(vectors, w, with_norm, self.width, self.n_bins)

    def dots(self, vectors, w):
        """Inner products ⟨v_i, w⟩ for the rows v_i of `vectors` (k, n_local) and w (n_local,)."""
        return self.combine(self.backend.to_host(self.local_dots(vectors, w)))

    def dots_and_norm2(self, vectors, w):
        """(⟨v_i, w⟩ for the rows of `vectors`, ⟨w, w⟩) in one reduction."""
        sums = self.combine(self.backend.to_host(self.local_dots(vectors, w, with_norm=True)))
        return sums[:-1], sums[-1]

    def norm(self, w):
        """Euclidean norm of w (n_local,) over all ranks."""
        return math.sqrt(max(float(self.dots(w[None], w)[0]), 0.0))
