"""Second-order Laplacian stencils (3-point in 1D, 5-point in 2D, 7-point in 3D): geometry.

Arrays are field-major and padded: u has shape (n_fields, *padded) with `halo` ghost cells on
each side of every spatial axis; results cover the interior only, shape (n_fields, *interior).
The stencil radius is 1, so halo >= 1 is required. The stencil itself is a backend operation
(`Backend.laplacian`: `kernels.numpy_ops`, `kernels.cupy_ops`).
"""

from __future__ import annotations

import numpy as np

STENCIL_RADIUS = 1


def check_halo(halo):
    """Raise ValueError unless the ghost width `halo` (cells) covers the stencil radius."""
    if halo < STENCIL_RADIUS:
        raise ValueError(f"halo={halo} is smaller than the stencil radius {STENCIL_RADIUS}")


def interior(u, halo):
    """View of the interior of a padded field array (n_fields, *padded)."""
    return u[(slice(None),) + tuple(slice(halo, n - halo) for n in u.shape[1:])]


def box_bounds(box, interior_shape, missing):
    """(lo, hi) int64 arrays (3,) of a box of interior cells for the 3-axis kernels, with the
    `missing` leading axes (a lattice of fewer than 3 axes) as (0, 1); box None: every cell.

    box: ((lo, hi) per spatial axis) within interior_shape (cells)."""
    if box is None:
        box = [(0, n) for n in interior_shape]
    if len(box) != len(interior_shape) or any(not 0 <= lo <= hi <= n for (lo, hi), n in zip(box, interior_shape)):
        raise ValueError(f"box {box} is not within the interior {tuple(interior_shape)}")
    lo = np.array((0,) * missing + tuple(int(a) for a, _ in box), dtype=np.int64)
    hi = np.array((1,) * missing + tuple(int(b) for _, b in box), dtype=np.int64)
    return lo, hi
