"""Second-order Laplacian stencils (3-point in 1D, 5-point in 2D, 7-point in 3D).

Arrays are field-major and padded: u has shape (n_fields, *padded) with `halo` ghost cells on
each side of every spatial axis; results cover the interior only, shape (n_fields, *interior).
The stencil radius is 1, so halo >= 1 is required (asserted).
"""

from __future__ import annotations

import functools

import numpy as np

from kernels import cpu_kernels
from kernels.backend import is_device_array
from kernels.cpu_kernels import flat_view

STENCIL_RADIUS = 1


def _shifted(u, halo, axis, offset):
    """View of u's interior shifted by `offset` cells along spatial `axis`."""
    index = [slice(None)]
    for a, n in enumerate(u.shape[1:]):
        lo = halo + (offset if a == axis else 0)
        index.append(slice(lo, n - halo + (offset if a == axis else 0)))
    return u[tuple(index)]


def laplacian(u, halo, spacing, out=None):
    """Σ_axes (u[i+1] − 2u[i] + u[i−1]) / dx_axis² on the interior, axes summed in order.

    Args:
        u: padded field array (n_fields, *padded); ghosts must be filled.
        halo: ghost width (cells), >= 1.
        spacing: grid spacing per spatial axis (any length unit; result in unit^-2 · u).
        out: optional interior-shaped, C-contiguous output array.

    One pass over memory: NumPy arrays go to the compiled loop of `kernels.cpu_kernels`, CuPy
    arrays to the fused kernel of `kernels.cupy_kernels`.
    """
    if halo < STENCIL_RADIUS:
        raise ValueError(f"halo={halo} is smaller than the stencil radius {STENCIL_RADIUS}")
    if is_device_array(u):
        from kernels import cupy_kernels

        return cupy_kernels.laplacian(u, halo, spacing, out=out)
    if out is None:
        out = np.empty_like(interior(u, halo))
    widths, inv_dx2 = _loop_parameters(halo, tuple(spacing))
    pad = (1,) * (3 - len(spacing))       # the loop takes 3 spatial axes: pad in front with 1s
    flat_view(out)                        # an output the loop can write through
    cpu_kernels.laplacian(np.ascontiguousarray(u).reshape(u.shape[:1] + pad + u.shape[1:]),
                          widths, inv_dx2, out.reshape(out.shape[:1] + pad + out.shape[1:]))
    return out


@functools.lru_cache(maxsize=64)
def _loop_parameters(halo, spacing):
    """(ghost widths, 1/dx²) per axis of the compiled loop's 3 axes, missing leading axes 0."""
    missing = 3 - len(spacing)
    return (np.array((0,) * missing + (halo,) * len(spacing)),
            np.array((0.0,) * missing + tuple(1.0 / (dx * dx) for dx in spacing)))


def interior(u, halo):
    """View of the interior of a padded field array."""
    return _shifted(u, halo, 0, 0)
