"""Compiled CPU loops (Numba) behind the signatures of the NumPy kernels.

`kernels.stencil.laplacian`, `kernels.linalg.apply_field_major` and
`lattice.reductions.ReproducibleSums` call these for NumPy arrays. Each is one pass over
memory in cache-sized chunks, where the NumPy sequence of array calls made 5–16 passes (large
lattices) or cost more in call overhead than in arithmetic (small ones). Every element is
computed with the same operations in the same order as the NumPy sequence it replaces, in plain
IEEE arithmetic (no fastmath, so no fused multiply-adds), so the results are bitwise identical
to it and do not depend on where an element sits or on the rank count
(tests/kernels/test_cpu_kernels.py). Compiled on first use and cached on disk.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.small_lu import lu_factor, lu_solve

def flat_view(a, lead=1):
    """View of a C-contiguous array with its trailing axes flattened (an output the loops write
    into; a reshape would silently copy a non-contiguous one)."""
    if not a.flags.c_contiguous:
        raise ValueError(f"output array of shape {a.shape} is not C-contiguous")
    return a.reshape(a.shape[:lead] + (-1,))


CHUNK = 512
"""Sites per chunk of the block product: its 8 input and 8 output rows (16 × 4 KiB) stay in
the L1/L2 cache while the 64 matrix rows stream through once."""


@njit(cache=True)
def block_product(M, v, out):
    """out_i = M_i0 v_0 + M_i1 v_1 + … (summed in that order) per site, for field-major M
    (n, n, sites), v and out (n, sites). (The inner loops run over 1D row views, which the
    compiler vectorises; indexing the 3D array directly was 2–5× slower.)"""
    n, sites = v.shape
    for start in range(0, sites, CHUNK):
        stop = min(start + CHUNK, sites)
        for i in range(n):
            _product_row(M, v, i, start, stop, out[i, start:stop])
    return out


@njit(cache=True, inline="always")
def _product_row(M, v, i, start, stop, row):
    """row = M_i0 v_0 + M_i1 v_1 + … (in that order) over sites start:stop, 1D row views."""
    m, x = M[i, 0, start:stop], v[0, start:stop]
    for s in range(stop - start):
        row[s] = m[s] * x[s]
    for j in range(1, v.shape[0]):
        m, x = M[i, j, start:stop], v[j, start:stop]
        for s in range(stop - start):
            row[s] += m[s] * x[s]


@njit(cache=True)
def stage_diffusion(x, w, lap, K, own_cell, out):
    """out = −(K (lap + own_cell·(x w))) / w per site: minus the neighbour coupling of the
    implicit stage matrix in the variables scaled by the allowances w, W⁻¹ K (∇² + own_cell)(W x)
    (`lattice.implicit`: A M⁻¹ − I = −this ∘ M⁻¹), for x, w, lap (the Laplacian of x w),
    out (n, sites) and the site-independent diffusion matrix K (n, n), in one pass. K (lap +
    own_cell·x w) is summed over the nonzero K[i, k] in order of k.
    """
    n, sites = x.shape
    tend = np.empty(CHUNK)
    for start in range(0, sites, CHUNK):
        stop = min(start + CHUNK, sites)
        size = stop - start
        for i in range(n):
            for s in range(size):
                tend[s] = 0.0
            first = True
            for k in range(n):
                c = K[i, k]
                if c == 0.0:
                    continue
                lk, xk, wk = lap[k, start:stop], x[k, start:stop], w[k, start:stop]
                if first:
                    for s in range(size):
                        tend[s] = (lk[s] + own_cell * (xk[s] * wk[s])) * c
                    first = False
                else:
                    for s in range(size):
                        tend[s] += (lk[s] + own_cell * (xk[s] * wk[s])) * c
            row, wi = out[i, start:stop], w[i, start:stop]
            for s in range(size):
                row[s] = -(tend[s] / wi[s])
    return out


@njit(cache=True, error_model="numpy")
def stage_preconditioner(blocks, K, own_cell, sigma, w, M_inv):
    """The per-site preconditioner blocks of the implicit lattice's stage solve, in one pass over
    the sites (`lattice.implicit.CoupledJacobian.factorise`):

        M = σ − J + own_cell K        (σ on the diagonal; −J + own_cell·K in that order)
        M_inv[i, j, s] = (M⁻¹)_ij · (w_j / w_i)

    for site-major blocks J (sites, n, n), the site-independent diffusion matrix K (n, n), the
    own-cell Laplacian weight own_cell = Σ_axes 2/dx² and the error allowances w (n, sites);
    outputs field-major (n, n, sites). M⁻¹ by LU with partial pivoting (kernels.small_lu),
    column by column: a site's result does not depend on its position or on the rank count.
    """
    sites = blocks.shape[0]
    n = K.shape[0]
    G = np.empty((n, n))
    piv = np.empty(n, dtype=np.int64)
    column = np.empty(n)
    for s in range(sites):
        for i in range(n):
            for j in range(n):
                G[i, j] = -blocks[s, i, j] + own_cell * K[i, j]
            G[i, i] += sigma
        _scaled_inverse(G, piv, column, w, s, M_inv)


@njit(cache=True, error_model="numpy")
def stage_preconditioner_from_terms(uniform, patterns, scalars, K, own_cell, sigma, w, M_inv):
    """As stage_preconditioner for the Jacobian given as JacobianTerms (uniform (n, n), patterns
    (k, n, n), scalars (k, sites)): each site's block J = uniform + Σ_k scalars[k, s] patterns[k],
    added in order of k as JacobianTerms.blocks adds them, is formed in place (no blocks array)."""
    sites = scalars.shape[1]
    n = K.shape[0]
    G = np.empty((n, n))
    piv = np.empty(n, dtype=np.int64)
    column = np.empty(n)
    for s in range(sites):
        for i in range(n):
            for j in range(n):
                J = uniform[i, j]
                for k in range(patterns.shape[0]):
                    J += scalars[k, s] * patterns[k, i, j]
                G[i, j] = -J + own_cell * K[i, j]
            G[i, i] += sigma
        _scaled_inverse(G, piv, column, w, s, M_inv)


@njit(cache=True, error_model="numpy", inline="always")
def _scaled_inverse(G, piv, column, w, s, M_inv):
    """M_inv[i, c, s] = (G⁻¹)_ic · (w_c / w_i): LU with partial pivoting, then column by column."""
    n = G.shape[0]
    lu_factor(G, piv)
    for c in range(n):
        for i in range(n):
            column[i] = 0.0
        column[c] = 1.0
        lu_solve(G, piv, column)
        for i in range(n):
            M_inv[i, c, s] = column[i] * (w[c, s] / w[i, s])


@njit(cache=True)
def subtract_combination(w, c, V):
    """w −= c_0 V_0, then −= c_1 V_1, … per element, in order of k (flat w (n,), V (≥ len(c), n)):
    the products and differences of the whole-array sequence, in its order."""
    for i in range(w.shape[0]):
        acc = w[i]
        for k in range(c.shape[0]):
            acc -= V[k, i] * c[k]
        w[i] = acc
    return w


@njit(cache=True, inline="always")
def _axis_term(row, up, down, centre, inv_dx2, first):
    """row = (or += when not the first axis) (up + down − 2 centre) / dx², over 1D row views."""
    if first:
        for k in range(row.shape[0]):
            row[k] = (up[k] + down[k] - centre[k] * 2.0) * inv_dx2
    else:
        for k in range(row.shape[0]):
            row[k] += (up[k] + down[k] - centre[k] * 2.0) * inv_dx2


@njit(cache=True)
def laplacian(u, halo, inv_dx2, out, lo, hi):
    """Σ_axes (u[+1] + u[−1] − 2u) / dx² on the interior cells of the box [lo, hi), axes summed in
    order (the other cells of out are not written).

    u: padded (n_fields, p0, p1, p2) with the spatial axes mapped to the trailing ones (a 1D
    lattice as (n, 1, 1, p), 2D as (n, 1, p0, p1)); halo (3,) ghost widths per mapped axis (0:
    not a lattice axis); inv_dx2 (3,) 1/dx² per mapped axis; out (n_fields, n0, n1, n2); lo, hi
    (3,) the box in interior cells per mapped axis. The inner loop runs along the last axis over
    1D row views; a cell's value does not depend on the box.
    """
    nf = out.shape[0]
    h0, h1, h2 = halo[0], halo[1], halo[2]
    first = 0 if h0 else (1 if h1 else 2)      # the first lattice axis starts the sum
    k0, k1 = h2 + lo[2], h2 + hi[2]
    for f in range(nf):
        for i in range(lo[0], hi[0]):
            a = i + h0
            for j in range(lo[1], hi[1]):
                b = j + h1
                centre, row = u[f, a, b, k0:k1], out[f, i, j, lo[2]:hi[2]]
                if h0:
                    _axis_term(row, u[f, a + 1, b, k0:k1], u[f, a - 1, b, k0:k1], centre, inv_dx2[0], True)
                if h1:
                    _axis_term(row, u[f, a, b + 1, k0:k1], u[f, a, b - 1, k0:k1], centre, inv_dx2[1], first == 1)
                if h2:
                    _axis_term(row, u[f, a, b, k0 + 1:k1 + 1], u[f, a, b, k0 - 1:k1 - 1], centre, inv_dx2[2],
                               first == 2)
    return out


@njit(cache=True)
def binned_row_sums(terms, width, n_bins, out):
    """Per row i of terms (k, n): out[i] = (B, nonfinite, S_0 … S_{n_bins−1}), the row cut
    into fixed-position bins (`lattice.reductions`).

    B: the smallest multiple of `width` with max|terms[i]| < 2^(B−1) (BINNED_FLOOR for a zero
    row or a non-finite one); nonfinite: 1.0 where the row holds a NaN or an infinity (its bins
    are 0); S_j: Σ over the row of the terms' parts on the grid 2^c_j, c_j = max(B − (j+1)·width,
    −1074), extracted one bin after the other by the rounding cascade p = (r + 1.5·2^(c_j+52)) −
    1.5·2^(c_j+52), r −= p. Every part and every partial sum is an exact multiple of 2^c_j
    (width + log2 n ≤ 52), so the sums do not depend on the order of the additions.
    (k, 2 + n_bins) out.
    """
    empty = np.empty(0)
    for i in range(terms.shape[0]):
        _binned_products(terms[i], empty, width, n_bins, out[i])
    return out


@njit(cache=True)
def binned_dots(V, w, with_norm, width, n_bins, out):
    """binned_row_sums of the products V[i]·w (rows i < k of V (k, n), w (n,)) and, with
    `with_norm`, of w·w as row k, without storing the products: (k + with_norm, 2 + n_bins) out."""
    for i in range(V.shape[0]):
        _binned_products(V[i], w, width, n_bins, out[i])
    if with_norm:
        _binned_products(w, w, width, n_bins, out[V.shape[0]])
    return out


@njit(cache=True)
def _binned_products(a, b, width, n_bins, out):
    """out = (B, nonfinite, bins) of the terms a[j]·b[j] (of a[j] alone for an empty b)."""
    n, product = a.shape[0], b.shape[0] > 0
    m, nonfinite = 0.0, False
    for j in range(n):
        x = abs(a[j] * b[j]) if product else abs(a[j])
        if x > m:
            m = x
        nonfinite |= not (x < math.inf)
    top = BINNED_FLOOR if nonfinite else binned_top(m, width)
    out[0], out[1] = top, 1.0 if nonfinite else 0.0
    for bin_ in range(n_bins):
        out[2 + bin_] = 0.0
    if nonfinite:
        return
    shifts, sums = np.empty(n_bins), np.zeros(n_bins)
    for bin_ in range(n_bins):
        shifts[bin_] = math.ldexp(1.5, max(top - (bin_ + 1) * width, -1074) + 52)
    for j in range(n):
        r = a[j] * b[j] if product else a[j]
        for bin_ in range(n_bins):
            p = (r + shifts[bin_]) - shifts[bin_]
            sums[bin_] += p
            r -= p
    for bin_ in range(n_bins):
        out[2 + bin_] = sums[bin_]


BINNED_FLOOR = -1 << 14
"""The top B of a row of zeros: below every real row's, so it never wins the maximum over ranks."""


@njit(cache=True)
def binned_top(largest, width):
    """The smallest multiple B of `width` with largest < 2^(B−1), for 0 ≤ largest < ∞
    (BINNED_FLOOR for 0): the top of the bins of `binned_row_sums`."""
    if largest == 0.0:
        return BINNED_FLOOR
    e = math.frexp(largest)[1]          # largest < 2^e
    return -((-(e + 1)) // width) * width
