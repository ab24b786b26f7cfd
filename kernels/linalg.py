"""Batched small dense linear algebra over lattice sites (NumPy backend).

Matrices are shaped (*grid, n, n) (site-major, as LAPACK wants them) or, for repeated
products, field-major (n, n, *grid); vectors are field-major, shaped (n, *grid), as the state is.
"""

import math

import numpy as np

from kernels.backend import is_device_array


def batched_inverse(matrices: np.ndarray) -> np.ndarray:
    """Inverse of every (n, n) matrix in a (*grid, n, n) stack (LU with partial pivoting)."""
    return np.linalg.inv(matrices)


def batched_apply(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Per-site product M v for M shaped (*grid, n, n) and v shaped (n, *grid)."""
    n = vectors.shape[0]
    columns = vectors.reshape(n, -1).T[..., None]            # (sites, n, 1), a view
    product = np.matmul(matrices.reshape(-1, n, n), columns)  # (sites, n, 1)
    return product[..., 0].T.reshape(vectors.shape)


def to_field_major(matrices: np.ndarray) -> np.ndarray:
    """A (*grid, n, n) stack as a contiguous field-major array (n, n, *grid)."""
    nd = matrices.ndim
    return np.moveaxis(matrices, (nd - 2, nd - 1), (0, 1)).copy()   # .copy(): C order, NumPy or CuPy


SMALL_BLOCK_SITES = 1024
"""Up to this many sites the NumPy block product forms all n² products in one operation; above,
it streams whole rows (measured on 8 fields: 4.3× faster at 128 sites, 2× at 1024, slower from
a few thousand on, where the (n, n, sites) products no longer stay in cache)."""


def product_work_shape(n, grid_shape):
    """Shape of the `work` array `apply_field_major` uses for n fields on `grid_shape` sites."""
    grid_shape = tuple(grid_shape)
    return (n, n) + grid_shape if math.prod(grid_shape) <= SMALL_BLOCK_SITES else grid_shape


def apply_field_major(matrices: np.ndarray, vectors: np.ndarray, out=None, work=None) -> np.ndarray:
    """Per-site product M v for field-major M (n, n, *grid) and v (n, *grid); returns out.

    out_i = M_i0 v_0 + M_i1 v_1 + ... summed in that order, element by element, so a site's
    result does not depend on its position in the array (or on the rank count). On NumPy, small
    grids (≤ SMALL_BLOCK_SITES sites) form the n² products in one operation and sum them row by
    row (n + 1 calls: their cost is call overhead); larger ones multiply and add whole rows
    (2n² calls that stream through memory); both give the same bits. `out` (n, *grid) and
    `work` (`product_work_shape`) are optional preallocated arrays (no allocation when both are
    given). CuPy arrays go to the fused kernel of `kernels.cupy_kernels` (one pass; `work` unused).
    """
    if is_device_array(vectors):
        from kernels import cupy_kernels

        return cupy_kernels.apply_field_major(matrices, vectors, out=out)
    n = vectors.shape[0]
    if out is None:
        out = np.empty_like(vectors)
    work_shape = product_work_shape(n, vectors.shape[1:])
    if work is None or work.shape != work_shape:
        work = np.empty(work_shape)
    if len(work_shape) == vectors.ndim + 1:        # small grid: all products at once
        products = np.multiply(matrices, vectors[None], out=work)
        np.copyto(out, products[:, 0])
        for j in range(1, n):
            out += products[:, j]
        return out
    for i in range(n):
        np.multiply(matrices[i, 0], vectors[0], out=out[i])
        for j in range(1, n):
            np.multiply(matrices[i, j], vectors[j], out=work)
            out[i] += work
    return out
