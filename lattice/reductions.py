"""Global sums that are bitwise identical for any number of ranks (pre-rounded summation).

A floating-point sum depends on the order of its additions, so a plain MPI sum of per-rank
partial sums changes in the last bits with the decomposition. Here every term is first rounded
to a multiple of a common quantum q = 2^(e−52), chosen from a global bound so that every partial
sum of the rounded terms is an exactly representable multiple of q: then every addition is
exact and the result cannot depend on the order, on the rank count or on NumPy's summation
tree. The rounding residuals (|r| ≤ q/2, exactly representable) are summed the same way at a
second level, so the result keeps the accuracy of an ordinary sum (relative error about
n²·2^-103 of n·max|term| for n terms, against n·2^-53 for a naive sum).

Cost: two passes over the terms (compiled loops of `kernels.cpu_kernels` on the host; a
handful of array operations on a GPU), one MAX and one SUM reduction for a whole batch of sums. Used for the inner products of the Krylov solver (lattice/krylov.py), whose results feed
back into the solution: with plain sums the solution would differ between rank counts.

After Demmel & Nguyen, "Parallel reproducible summation" (IEEE TC 2015), first pre-rounding step.
"""

from __future__ import annotations

import math

import numpy as np

from kernels import cpu_kernels
from kernels.backend import is_device_array, to_host
from lattice.workspace import Workspace


class ReproducibleSums:
    """Row sums of (k, n_local) arrays over all ranks, independent of how columns are distributed.

    Args:
        comm: lattice.parallel communicator (SerialComm or MPIComm).
        n_global: total number of columns summed over all ranks (bounds the partial sums).
        xp: array library of the terms (numpy or cupy); results are always NumPy (host) arrays.
    """

    def __init__(self, comm, n_global: int, xp=np):
        self.comm = comm
        self.log2_n = math.ceil(math.log2(max(int(n_global), 2))) + 1
        self.work = Workspace(xp)

    def row_sums(self, terms):
        """Σ over columns and ranks of each row of `terms` (k, n_local); returns (k,) floats.

        A NaN or infinite term makes its row's sum NaN.
        """
        k = terms.shape[0]
        terms = terms.reshape(k, -1)
        if not is_device_array(terms):       # compiled loops: one pass for the bound, one for the sums
            bound = self.comm.allreduce_array(cpu_kernels.row_abs_max(terms), "max")
            partial = cpu_kernels.prerounded_row_sums(terms, bound, self.log2_n, np.empty(2 * k))
            total = self.comm.allreduce_array(partial, "sum")
            return total[:k] + total[k:]
        # the same on the device with array operations: max |term| = max(max, −min, 0), then to
        # the host (k numbers)
        largest = to_host(terms.max(axis=1)).copy()
        np.maximum(largest, -to_host(terms.min(axis=1)), out=largest)
        np.maximum(largest, 0.0, out=largest)
        bound = self.comm.allreduce_array(largest, "max")
        # level 1: n·max|term| ≤ 2^(e1−1), so all partial sums of multiples of q1 = 2^(e1−52)
        # are exact; M = 1.5·2^e1 keeps term + M in [2^e1, 2^(e1+1)), whose ulp is q1.
        e1 = np.frexp(bound)[1] + self.log2_n
        xp = self.work.xp
        shift = xp.asarray(np.ldexp(1.5, e1)[:, None])
        with np.errstate(invalid="ignore"):            # inf − inf: a non-finite sum is NaN
            rounded = np.add(terms, shift, out=self.work.get("rounded", terms.shape))
            rounded -= shift
            residual = np.subtract(terms, rounded, out=self.work.get("residual", terms.shape))
            # exact, |residual| ≤ q1/2 = 2^(e1−53)
            shift = xp.asarray(np.ldexp(1.5, e1 - 53 + self.log2_n)[:, None])   # level 2, same rule
            residual += shift
            residual -= shift
        partial = np.empty(2 * k)       # exact sums of multiples of q: any order gives the same bits
        partial[:k] = to_host(rounded.sum(axis=1))
        partial[k:] = to_host(residual.sum(axis=1))
        total = self.comm.allreduce_array(partial, "sum")
        return total[:k] + total[k:]

    def dots(self, vectors, w):
        """Inner products ⟨v_i, w⟩ for the rows v_i of `vectors` (k, n_local) and w (n_local,)."""
        return self.row_sums(vectors * w)

    def dots_and_norm2(self, vectors, w):
        """(⟨v_i, w⟩ for the rows of `vectors`, ⟨w, w⟩) in one reduction."""
        terms = self.work.get("terms", (vectors.shape[0] + 1,) + w.shape)
        np.multiply(vectors, w, out=terms[:-1])
        np.multiply(w, w, out=terms[-1])
        sums = self.row_sums(terms)
        return sums[:-1], sums[-1]

    def norm(self, w):
        """Euclidean norm of w (n_local,) over all ranks."""
        return math.sqrt(max(float(self.row_sums((w * w)[None])[0]), 0.0))
