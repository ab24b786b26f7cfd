"""The hot operations on NumPy arrays (host memory): the NumPy side of `kernels.backend`.

`kernels.cupy_ops` implements the same functions, with the same names and signatures, on CuPy
arrays; `kernels.backend` binds one of the two modules to a Backend once, when the array library
is chosen. The element-wise loops are the compiled one-pass loops of `kernels.cpu_kernels`
(looked up on that module at each call, so `scripts.traffic` can count them), in plain IEEE
arithmetic: every result here is bitwise that of the NumPy array sequence it replaced.

Shapes: states and vectors are field-major (n, *grid); per-site matrices are site-major
(*grid, n, n) as LAPACK takes them, or field-major (n, n, *grid) for the repeated products.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from kernels import cpu_kernels
from kernels.cpu_kernels import flat_view
from kernels.jacobian_terms import JacobianTerms
from kernels.shared_ops import batched_apply, to_field_major  # noqa: F401  (array methods only)
from kernels.stencil import box_bounds, check_halo, interior

name = "numpy"
xp = np


def to_host(a):
    """a itself: NumPy arrays are host arrays."""
    return a


def asarray(a):
    """a as a NumPy array (no copy when it is one)."""
    return np.asarray(a)


def synchronize():
    """Nothing to wait for: host calls return when their work is done."""


def laplacian(u, halo, spacing, out=None, box=None):
    """Σ_axes (u[i+1] − 2u[i] + u[i−1]) / dx_axis² on the interior, axes summed in order.

    Args:
        u: padded field array (n_fields, *padded), 1–3 spatial axes; ghosts must be filled (those
            the box's cells reach).
        halo: ghost width (cells), >= the stencil radius 1.
        spacing: grid spacing per spatial axis (any length unit; result in unit^-2 · u).
        out: optional interior-shaped (n_fields, *interior), C-contiguous output array.
        box: optional ((lo, hi) per spatial axis) in interior cells: only those cells are
            written (lattice.grid overlaps the halo exchange with the box away from it); each
            cell's value is the same as without a box.

    One pass over memory (the compiled loop); returns out.
    """
    check_halo(halo)
    if out is None:
        out = np.empty_like(interior(u, halo))
    widths, inv_dx2 = _loop_parameters(halo, tuple(spacing))
    missing = 3 - len(spacing)
    pad = (1,) * missing                  # the loop takes 3 spatial axes: pad in front with 1s
    lo, hi = box_bounds(box, out.shape[1:], missing)
    flat_view(out)                        # an output the loop can write through
    cpu_kernels.laplacian(np.ascontiguousarray(u).reshape(u.shape[:1] + pad + u.shape[1:]),
                          widths, inv_dx2, out.reshape(out.shape[:1] + pad + out.shape[1:]), lo, hi)
    return out


@functools.lru_cache(maxsize=64)
def _loop_parameters(halo, spacing):
    """(ghost widths, 1/dx²) per axis of the compiled loop's 3 axes, missing leading axes 0."""
    missing = 3 - len(spacing)
    return (np.array((0,) * missing + (halo,) * len(spacing)),
            np.array((0.0,) * missing + tuple(1.0 / (dx * dx) for dx in spacing)))


def apply_field_major(matrices, vectors, out=None):
    """Per-site product M v for field-major M (n, n, *grid) and v (n, *grid); returns out.

    out_i = M_i0 v_0 + M_i1 v_1 + ... summed in that order, element by element, so a site's
    result does not depend on its position in the array (or on the rank count). One pass (the
    compiled loop). `out` (n, *grid), optional, must be C-contiguous.
    """
    n = vectors.shape[0]
    if out is None:
        out = np.empty_like(vectors)
    cpu_kernels.block_product(np.ascontiguousarray(matrices).reshape(n, n, -1),
                              np.ascontiguousarray(vectors).reshape(n, -1), flat_view(out))
    return out


def batched_inverse(matrices):
    """Inverse of every (n, n) matrix in a (*grid, n, n) stack (LAPACK: LU with partial pivoting)."""
    return np.linalg.inv(matrices)


def binned_row_sums(terms, width, n_bins):
    """Each row of terms (k, n) cut into fixed-position bins: a host array (k, 2 + n_bins) of
    (B, nonfinite, S_0 … S_{n_bins−1}) per row (see `lattice.reductions` and
    `kernels.cpu_kernels.binned_row_sums`). Every number is exact, so any implementation and
    any order of the additions gives the same bits; `lattice.reductions` merges the ranks'.
    """
    return cpu_kernels.binned_row_sums(terms, width, n_bins, np.empty((terms.shape[0], 2 + n_bins)))


def binned_dots(V, w, with_norm, width, n_bins):
    """binned_row_sums of the products V[i]·w for the rows of V (k, *w.shape) and, with
    `with_norm`, of w·w as a last row, without storing the products: a host array
    (k + with_norm, 2 + n_bins)."""
    k = V.shape[0]
    return cpu_kernels.binned_dots(V.reshape(k, -1), w.reshape(-1), bool(with_norm), width, n_bins,
                                   np.empty((k + bool(with_norm), 2 + n_bins)))


def wrap_axis(u, axis, halo):
    """Fill both ghost layers of spatial `axis` of the padded u (n_fields, *padded) from the
    opposite interior strips (a periodic axis that one rank holds whole), the full padded extent
    of the other axes included: low ghosts [0, halo) from [n, n + halo), high ghosts
    [n + halo, n + 2 halo) from [halo, 2 halo), n the interior cells along the axis. Copies:
    every backend gives the same bits."""
    p = u.shape[axis + 1]

    def at(start):
        index = [slice(None)] * u.ndim
        index[axis + 1] = slice(start, start + halo)
        return tuple(index)

    u[at(0)] = u[at(p - 2 * halo)]
    u[at(p - halo)] = u[at(halo)]
    return u


def combine(rows, weights, base=None):
    """base + Σ_j weights_j rows_j, term by term in order of j (zero weights skipped; without
    base the first term starts the sum, and a weight 1 copies), as a new array; zeros if nothing
    is left. Element by element, never BLAS: an element's rounding does not depend on its
    position (the stage combinations of lattice.rosenbrock and lattice.dopri5). weights on the
    host."""
    out = None if base is None else base.copy()
    term = None
    for c, k in zip(weights, rows):
        c = float(c)
        if c == 0.0:
            continue
        if out is None:
            out = np.multiply(k, c)
        else:
            if term is None:
                term = np.empty_like(out)
            np.multiply(k, c, out=term)
            out += term
    return out if out is not None else np.zeros_like(rows[0])


explicit_stage = None
"""The fused explicit stage (a model's per-cell f, the Laplacian and the next stage combination
in one pass: kernels.cupy_kernels.explicit_stage) is a device operation; on the host the
steppers evaluate f and then `combine` (the reference the device stage equals bitwise)."""


def subtract_combination(w, c, V):
    """w −= c_0 V_0, then −= c_1 V_1, … element by element in order of k (no BLAS: an element's
    result does not depend on its position); w C-contiguous, V (≥ len(c), *w.shape), c on the
    host. Returns w."""
    flat = flat_view(w, 0)
    cpu_kernels.subtract_combination(flat, np.ascontiguousarray(c, dtype=float), V.reshape(V.shape[0], -1))
    return w


def stage_preconditioner(jacobian, K, own_cell, sigma, w):
    """The per-site preconditioner of the implicit lattice's stage solve, scaled by the
    allowances w:

        M = σ − J + own_cell K,   M_inv_ij = (M⁻¹)_ij w_j / w_i

    for the Jacobian J, as site-major blocks (*grid, n, n) or as JacobianTerms [1/time], the
    site-independent diffusion matrix K (n, n, host) [length²/time], own_cell = Σ_axes 2/dx²
    [1/length²], σ [1/time] and w (n, *grid). Returns what `apply_stage_preconditioner` takes:
    here M_inv itself, field-major (n, n, *grid), by LU with partial pivoting per site in one
    compiled pass (kernels.small_lu); for JacobianTerms each site's block is formed in that pass
    (no blocks array). (The CuPy backend keeps JacobianTerms and forms the same M_inv per site
    where it is applied, storing nothing.)
    """
    n, grid = w.shape[0], w.shape[1:]
    sites = math.prod(grid)
    M_inv = np.empty((n, n) + grid)
    common = (np.ascontiguousarray(K, dtype=float), float(own_cell), float(sigma),
              np.ascontiguousarray(w).reshape(n, sites), M_inv.reshape(n, n, sites))
    if isinstance(jacobian, JacobianTerms):          # each site's block formed in the loop
        cpu_kernels.stage_preconditioner_from_terms(
            np.ascontiguousarray(jacobian.uniform, dtype=float), np.ascontiguousarray(jacobian.patterns, dtype=float),
            np.ascontiguousarray(jacobian.scalars, dtype=float).reshape(-1, sites), *common)
    else:
        cpu_kernels.stage_preconditioner(np.ascontiguousarray(jacobian).reshape(sites, n, n), *common)
    return M_inv


def site_jacobian(jacobian):
    """The per-site Jacobian, as site-major blocks (*grid, n, n) or JacobianTerms [1/time], made
    ready for `apply_site_jacobian`: here the field-major blocks (n, n, *grid)."""
    blocks = jacobian.blocks() if isinstance(jacobian, JacobianTerms) else jacobian
    return to_field_major(blocks)


def apply_site_jacobian(jacobian, v, out=None):
    """J v per site (n, *grid) for what `site_jacobian` returned (apply_field_major's order)."""
    return apply_field_major(jacobian, v, out=out)


def apply_stage_preconditioner(preconditioner, v, out=None):
    """M_inv v per site (n, *grid) for what `stage_preconditioner` returned: the stored blocks'
    product (apply_field_major)."""
    return apply_field_major(preconditioner, v, out=out)


def stage_diffusion(x, w, lap, K, own_cell, out):
    """out = −(K (lap + own_cell·x w)) / w per site: minus the neighbour coupling of the
    implicit stage matrix in scaled variables, for x, w, lap (the Laplacian of x w) and
    out (n, *grid) (out C-contiguous), the site-independent K (n, n, host) and own_cell =
    Σ_axes 2/dx²; K (…) summed over the nonzero K[i, k] in order of k. One compiled pass;
    returns out.
    """
    n = x.shape[0]
    cpu_kernels.stage_diffusion(x.reshape(n, -1), w.reshape(n, -1), flat_view(lap), np.ascontiguousarray(K),
                                float(own_cell), flat_view(out))
    return out
