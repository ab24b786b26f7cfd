"""Global sums that are bitwise identical for any number of ranks (pre-rounded summation).

A floating-point sum depends on the order of its additions, so a plain MPI sum of per-rank
partial sums changes in the last bits with the decomposition. Here every term is first rounded
to a multiple of a common quantum q = 2^(e−52), chosen from a global bound so that every partial
sum of the rounded terms is an exactly representable multiple of q: then every addition is
exact and the result cannot depend on the order, on the rank count or on NumPy's summation
tree. The rounding residuals (|r| ≤ q/2, exactly representable) are summed the same way at a
second level, so the result keeps the accuracy of an ordinary sum (relative error about
n²·2^-103 of n·max|term| for n terms, against n·2^-53 for a naive sum).

Cost: two passes over the terms (the backend's `row_abs_max` and `prerounded_row_sums`:
compiled loops of `kernels.cpu_kernels` on the host, a handful of array operations on a GPU),
one MAX and one SUM reduction for a whole batch of sums. Used for the inner products of the
Krylov solver (lattice/krylov.py), whose results feed back into the solution: with plain sums
the solution would differ between rank counts.

After Demmel & Nguyen, "Parallel reproducible summation" (IEEE TC 2015), first pre-rounding step.
"""

from __future__ import annotations

import math

from kernels.backend import NUMPY
from lattice.workspace import Workspace


class ReproducibleSums:
    """Row sums of (k, n_local) arrays over all ranks, independent of how columns are distributed.

    Args:
        comm: lattice.parallel communicator (SerialComm or MPIComm).
        n_global: total number of columns summed over all ranks (bounds the partial sums).
        backend: array backend of the terms (kernels.backend); results are always NumPy (host) arrays.
    """

    def __init__(self, comm, n_global: int, backend=NUMPY):
        self.comm = comm
        self.log2_n = math.ceil(math.log2(max(int(n_global), 2))) + 1
        self.backend = backend
        self.work = Workspace(backend)

    def row_sums(self, terms):
        """Σ over columns and ranks of each row of `terms` (k, n_local); returns (k,) floats.

        A NaN or infinite term makes its row's sum NaN. Level 1 rounds each term to a multiple of
        q1 = 2^(e1−52), e1 = exponent of the global bound + log2_n (see the module docstring);
        level 2 the residuals the same way; both levels' partial sums are exact.
        """
        k = terms.shape[0]
        terms = terms.reshape(k, -1)
        bound = self.comm.allreduce_array(self.backend.row_abs_max(terms), "max")
        partial = self.backend.prerounded_row_sums(terms, bound, self.log2_n)
        total = self.comm.allreduce_array(partial, "sum")
        return total[:k] + total[k:]

    def dots(self, vectors, w):
        """Inner products ⟨v_i, w⟩ for the rows v_i of `vectors` (k, n_local) and w (n_local,)."""
        return self.row_sums(vectors * w)

    def dots_and_norm2(self, vectors, w):
        """(⟨v_i, w⟩ for the rows of `vectors`, ⟨w, w⟩) in one reduction."""
        xp = self.backend.xp
        terms = self.work.get("terms", (vectors.shape[0] + 1,) + w.shape)
        xp.multiply(vectors, w, out=terms[:-1])
        xp.multiply(w, w, out=terms[-1])
        sums = self.row_sums(terms)
        return sums[:-1], sums[-1]

    def norm(self, w):
        """Euclidean norm of w (n_local,) over all ranks."""
        return math.sqrt(max(float(self.row_sums((w * w)[None])[0]), 0.0))
