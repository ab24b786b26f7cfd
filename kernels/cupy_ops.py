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
from kernels.cpu_kernels import BINNED_FLOOR
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


def binned_row_sums(terms, width, n_bins):
    """As kernels.numpy_ops.binned_row_sums; the result stays on the device (the caller copies it
    to the host with whatever else the same sync brings back). Every number is exact, so it
    equals the compiled loop's bitwise whatever the device's summation order."""
    return _binned(cupy_kernels.BinnedRows(terms, None, False), width, n_bins)


def binned_dots(V, w, with_norm, width, n_bins):
    """As kernels.numpy_ops.binned_dots (the products are formed in the kernels, never stored);
    the result stays on the device."""
    return _binned(cupy_kernels.BinnedRows(V, w, with_norm), width, n_bins)


def _binned(rows, width, n_bins):
    """(B, nonfinite, bins) per row of a kernels.cupy_kernels.BinnedRows: the row maxima and the
    bins' grids by whole-array calls on (rows,) arrays, the bins by the one-pass kernel."""
    largest, nonfinite = rows.maxima()
    nonfinite = nonfinite > 0.0
    exponent = cupy.frexp(cupy.where(nonfinite, 0.0, largest))[1]     # largest < 2^exponent
    top = -((-(exponent + 1)) // width) * width
    top = cupy.where((largest == 0.0) | nonfinite, BINNED_FLOOR, top)
    grids = cupy.maximum(top[:, None] - width * cupy.arange(1, n_bins + 1), -1074)
    bins = rows.bins(cupy.ldexp(1.5, grids + 52))
    out = cupy.empty((rows.rows, 2 + n_bins))
    out[:, 0], out[:, 1] = top, nonfinite
    out[:, 2:] = cupy.where(nonfinite[:, None], 0.0, bins)
    return out


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
