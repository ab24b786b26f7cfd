"""Second-order Laplacian stencils (3-point in 1D, 5-point in 2D, 7-point in 3D), NumPy.

Arrays are field-major and padded: u has shape (n_fields, *padded) with `halo` ghost cells on
each side of every spatial axis; results cover the interior only, shape (n_fields, *interior).
The stencil radius is 1, so halo >= 1 is required (asserted). CuPy arrays go to the fused
kernel of `kernels.cupy_kernels` (same signature, one pass).
"""

from __future__ import annotations

import numpy as np

from kernels.backend import is_device_array

STENCIL_RADIUS = 1


def _shifted(u, halo, axis, offset):
    """View of u's interior shifted by `offset` cells along spatial `axis`."""
    index = [slice(None)]
    for a, n in enumerate(u.shape[1:]):
        lo = halo + (offset if a == axis else 0)
        index.append(slice(lo, n - halo + (offset if a == axis else 0)))
    return u[tuple(index)]


def laplacian(u, halo, spacing, out=None, work=None):
    """Σ_axes (u[i+1] − 2u[i] + u[i−1]) / dx_axis² on the interior.

    Args:
        u: padded field array (n_fields, *padded); ghosts must be filled.
        halo: ghost width (cells), >= 1.
        spacing: grid spacing per spatial axis (any length unit; result in unit^-2 · u).
        out: optional interior-shaped output array.
        work: optional interior-shaped work array (2D/3D use it; no allocation when both given).
    """
    if halo < STENCIL_RADIUS:
        raise ValueError(f"halo={halo} is smaller than the stencil radius {STENCIL_RADIUS}")
    if is_device_array(u):
        from kernels import cupy_kernels

        return cupy_kernels.laplacian(u, halo, spacing, out=out)
    centre = _shifted(u, halo, 0, 0)
    if out is None:
        out = np.empty_like(centre)
    twice_centre = np.multiply(centre, 2.0, out=work if work is not None and len(spacing) == 1 else None)
    term = out
    for axis, dx in enumerate(spacing):
        if axis == 1:
            term = work if work is not None else np.empty_like(out)
        np.add(_shifted(u, halo, axis, 1), _shifted(u, halo, axis, -1), out=term)
        term -= twice_centre
        term *= 1.0 / (dx * dx)
        if axis:
            out += term
    return out


def interior(u, halo):
    """View of the interior of a padded field array."""
    return _shifted(u, halo, 0, 0)
