"""Batched small dense linear algebra over lattice sites (NumPy backend).

Matrices are shaped (*grid, n, n) (site-major, as LAPACK wants them) or, for repeated
products, field-major (n, n, *grid); vectors are field-major, shaped (n, *grid), as the state is.
"""

import numpy as np

from kernels import cpu_kernels
from kernels.backend import is_device_array
from kernels.cpu_kernels import flat_view


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


def apply_field_major(matrices: np.ndarray, vectors: np.ndarray, out=None) -> np.ndarray:
    """Per-site product M v for field-major M (n, n, *grid) and v (n, *grid); returns out.

    out_i = M_i0 v_0 + M_i1 v_1 + ... summed in that order, element by element, so a site's
    result does not depend on its position in the array (or on the rank count). NumPy arrays go
    to the compiled loop of `kernels.cpu_kernels`, CuPy arrays to the fused kernel of
    `kernels.cupy_kernels` (one pass each). `out` (n, *grid), optional, must be C-contiguous.
    """
    if is_device_array(vectors):
        from kernels import cupy_kernels

        return cupy_kernels.apply_field_major(matrices, vectors, out=out)
    n = vectors.shape[0]
    if out is None:
        out = np.empty_like(vectors)
    cpu_kernels.block_product(np.ascontiguousarray(matrices).reshape(n, n, -1),
                              np.ascontiguousarray(vectors).reshape(n, -1), flat_view(out))
    return out
