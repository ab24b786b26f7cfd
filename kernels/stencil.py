"""Second-order Laplacian stencils (3-point in 1D, 5-point in 2D, 7-point in 3D): geometry.

Arrays are field-major and padded: u has shape (n_fields, *padded) with `halo` ghost cells on
each side of every spatial axis; results cover the interior only, shape (n_fields, *interior).
The stencil radius is 1, so halo >= 1 is required. The stencil itself is a backend operation
(`Backend.laplacian`: `kernels.numpy_ops`, `kernels.cupy_ops`).
"""

from __future__ import annotations

STENCIL_RADIUS = 1


def check_halo(halo):
    """Raise ValueError unless the ghost width `halo` (cells) covers the stencil radius."""
    if halo < STENCIL_RADIUS:
        raise ValueError(f"halo={halo} is smaller than the stencil radius {STENCIL_RADIUS}")


def interior(u, halo):
    """View of the interior of a padded field array (n_fields, *padded)."""
    return u[(slice(None),) + tuple(slice(halo, n - halo) for n in u.shape[1:])]
