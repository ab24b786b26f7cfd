"""The hot operations on CuPy arrays (device memory): the CuPy side of `kernels.backend`.

The same functions, names, signatures and units as `kernels.numpy_ops` (see there), on CuPy
arrays: the fused one-pass CUDA kernels of `kernels.cupy_kernels` for the stencil and the block
product, cuSOLVER/cuBLAS for the batched inverse, whole-array CuPy calls for the rest, written
to do per element the operations of the compiled CPU loops in their order. Where the loops'
order is kept, results equal NumPy's up to the CUDA compiler's fused multiply-adds (bitwise on
a device compiled without them, such as the NumPy-backed stand-in); the per-site inverse is
LAPACK-style batched LU here and the loop's own LU on the host, which round differently
(tests/kernels/test_backend.py states each comparison). Host results (the sums) come back in one copy.

Imported only when a CuPy backend is made (`kernels.backend`), so nothing imports CuPy where it
is not installed.
"""

from __future__ import annotations

import cupy
import numpy as np

from kernels import cupy_kernels
from kernels.cupy_kernels import apply_field_major  # noqa: F401  (the fused one-pass kernel)
from kernels.shared_ops import batched_apply, to_field_major  # noqa: F401  (array methods only)
from kernels.stencil import check_halo

name = "cupy"
xp = cupy


def to_host(a):
    """A NumPy copy of the device array a (a device→host copy; host arrays pass through)."""
    return cupy.asnumpy(a)


def asarray(a):
    """a as a CuPy array (a host→device copy for a host array)."""
    return cupy.asarray(a)


def synchronize():
    """Wait for the work queued on the current stream."""
    cupy.cuda.get_current_stream().synchronize()


def laplacian(u, halo, spacing, out=None):
    """As kernels.numpy_ops.laplacian, one fused kernel over a C-contiguous float64 u."""
    check_halo(halo)
    return cupy_kernels.laplacian(u, halo, spacing, out=out)


def batched_inverse(matrices):
    """Inverse of every (n, n) matrix in a (*grid, n, n) stack (batched LU on the device)."""
    return cupy.linalg.inv(matrices)


def row_abs_max(terms):
    """As kernels.numpy_ops.row_abs_max: max(max, −min, 0) per row (exact), one copy to the host."""
    largest = cupy.maximum(terms.max(axis=1), -terms.min(axis=1))
    cupy.maximum(largest, 0.0, out=largest)
    return largest.get()


def prerounded_row_sums(terms, bound, log2_n):
    """As kernels.numpy_ops.prerounded_row_sums, by whole-array calls; one copy to the host.

    Level 1: n·max|term| ≤ 2^(e1−1), so all partial sums of multiples of q1 = 2^(e1−52) are
    exact; M = 1.5·2^e1 keeps term + M in [2^e1, 2^(e1+1)), whose ulp is q1. The residuals
    (|r| ≤ q1/2 = 2^(e1−53), exact) are rounded the same way at level 2.
    """
    e1 = np.frexp(bound)[1] + log2_n
    shifts = cupy.asarray(np.stack((np.ldexp(1.5, e1), np.ldexp(1.5, e1 - 53 + log2_n)))[:, :, None])
    with np.errstate(invalid="ignore"):   # inf − inf: a non-finite sum is NaN (the NumPy-backed stand-in warns)
        rounded = terms + shifts[0]
        rounded -= shifts[0]
        residual = terms - rounded
        residual += shifts[1]
        residual -= shifts[1]
    return cupy.concatenate((rounded.sum(axis=1), residual.sum(axis=1))).get()


def subtract_combination(w, c, V):
    """As kernels.numpy_ops.subtract_combination: one element-wise pass per k, in order of k."""
    for k, ck in enumerate(np.asarray(c, dtype=float)):
        cupy.subtract(w, V[k] * float(ck), out=w)
    return w


def stage_preconditioner(blocks, K, own_cell, sigma, w):
    """As kernels.numpy_ops.stage_preconditioner: the same per-site LU, one thread per site (the
    fused kernel of kernels.cupy_kernels)."""
    return cupy_kernels.stage_preconditioner(blocks, K, float(own_cell), float(sigma), w)


def stage_operator(v, M, lap, K, sigma, inv_w, out):
    """As kernels.numpy_ops.stage_operator, the loop's operations by whole-array calls: K lap row
    by row over the nonzero K[i, k] in order of k (K on the host)."""
    cupy.multiply(v, sigma, out=out)
    cupy.subtract(out, apply_field_major(M, v), out=out)
    tendency = cupy.zeros_like(lap)
    for i, row in enumerate(np.asarray(K, dtype=float)):
        columns = np.flatnonzero(row)
        if columns.size:
            cupy.multiply(lap[columns[0]], float(row[columns[0]]), out=tendency[i])
        for k in columns[1:]:
            tendency[i] += lap[k] * float(row[k])
    tendency *= inv_w
    cupy.subtract(out, tendency, out=out)
    return out
