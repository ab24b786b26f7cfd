"""Batched small dense linear algebra over lattice sites (NumPy backend).

Matrices are shaped (*grid, n, n); vectors are field-major, shaped (n, *grid), as the state is.
"""

import numpy as np


def batched_inverse(matrices: np.ndarray) -> np.ndarray:
    """Inverse of every (n, n) matrix in a (*grid, n, n) stack (LU with partial pivoting)."""
    return np.linalg.inv(matrices)


def batched_apply(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Per-site product M v for M shaped (*grid, n, n) and v shaped (n, *grid)."""
    n = vectors.shape[0]
    columns = vectors.reshape(n, -1).T[..., None]            # (sites, n, 1), a view
    product = np.matmul(matrices.reshape(-1, n, n), columns)  # (sites, n, 1)
    return product[..., 0].T.reshape(vectors.shape)
