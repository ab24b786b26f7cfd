"""Hot operations written with array methods alone: the same code serves NumPy and CuPy arrays.

`kernels.numpy_ops` and `kernels.cupy_ops` both export these (a method call runs in the array's
own library), so the two backends offer the same set of operations.
"""

from __future__ import annotations


def to_field_major(matrices):
    """A (*grid, n, n) stack as a contiguous field-major array (n, n, *grid)."""
    nd = matrices.ndim
    return matrices.transpose((nd - 2, nd - 1) + tuple(range(nd - 2))).copy()   # .copy(): C order


def batched_apply(matrices, vectors):
    """Per-site product M v for site-major M (*grid, n, n) and field-major v (n, *grid)."""
    n = vectors.shape[0]
    columns = vectors.reshape(n, -1).T[..., None]             # (sites, n, 1), a view
    product = matrices.reshape(-1, n, n) @ columns            # (sites, n, 1)
    return product[..., 0].T.reshape(vectors.shape)
