"""Direct solution of cyclic block-tridiagonal systems (compiled, deterministic).

The system on N cells with n × n blocks is

    Lo_i x_{i-1} + D_i x_i + Up_i x_{i+1} = b_i,   i = 0 … N−1, indices mod N,

so Lo_0 couples cell 0 to cell N−1 and Up_{N−1} couples cell N−1 to cell 0 (the periodic
corners; zero blocks for a line with closed ends). It is solved by bordering: cells 0 … N−2
form a plain block-tridiagonal matrix B, factorised by block Gaussian elimination (the block
Thomas algorithm: G_0 = D_0, W_{i−1} = G_{i−1}⁻¹ Up_{i−1}, G_i = D_i − Lo_i W_{i−1}, each G_i
by LU with partial pivoting inside the block); cell N−1 is the border, eliminated through its
n × n Schur complement S = D_{N−1} − r B⁻¹ c. One factorisation costs about 3 n³ N flops,
each solve about 4 n² N.

Every operation is plain IEEE arithmetic in a fixed order, so the result depends only on the
blocks and the right-hand side, not on the machine's thread count or on any decomposition.
There is no pivoting between blocks: the systems solved here, σ − J_local − K ∇², are block
diagonally dominant for the step sizes the Rosenbrock stepper takes (a singular G_i or S shows
up as non-finite values, which the stepper rejects).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _lu_factor(A, piv):
    """In-place LU with partial pivoting of the n × n matrix A (L unit lower, U upper)."""
    n = A.shape[0]
    for k in range(n):
        p = k
        big = abs(A[k, k])
        for i in range(k + 1, n):
            if abs(A[i, k]) > big:
                big, p = abs(A[i, k]), i
        piv[k] = p
        if p != k:
            for j in range(n):
                A[k, j], A[p, j] = A[p, j], A[k, j]
        inv = 1.0 / A[k, k]
        for i in range(k + 1, n):
            A[i, k] *= inv
            f = A[i, k]
            for j in range(k + 1, n):
                A[i, j] -= f * A[k, j]


@njit(cache=True, error_model="numpy")
def _lu_solve(LU, piv, x):
    """x ← A⁻¹ x in place, from _lu_factor's LU and piv (x: length n)."""
    n = LU.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            x[k], x[p] = x[p], x[k]
    for i in range(1, n):
        s = x[i]
        for j in range(i):
            s -= LU[i, j] * x[j]
        x[i] = s
    for i in range(n - 1, -1, -1):
        s = x[i]
        for j in range(i + 1, n):
            s -= LU[i, j] * x[j]
        x[i] = s / LU[i, i]


@njit(cache=True, error_model="numpy")
def _subtract_product(M, x, out):
    """out ← out − M x (n × n times n)."""
    n = M.shape[0]
    for i in range(n):
        s = out[i]
        for j in range(n):
            s -= M[i, j] * x[j]
        out[i] = s


@njit(cache=True, error_model="numpy")
def _line_solve(G, piv, W, Lo, b, y):
    """y = B⁻¹ b for the block-tridiagonal B of cells 0 … m−1 (factors G, piv, W; sub-diagonal
    blocks Lo_1 … Lo_{m−1}); b, y: (m, n)."""
    m = b.shape[0]
    for i in range(m):
        y[i, :] = b[i, :]
        if i > 0:
            _subtract_product(Lo[i], y[i - 1], y[i])
        _lu_solve(G[i], piv[i], y[i])
    for i in range(m - 2, -1, -1):
        _subtract_product(W[i], y[i + 1], y[i])


@njit(cache=True, error_model="numpy")
def factorise(D, Lo, Up):
    """Factors of the cyclic block-tridiagonal matrix (blocks (N, n, n) each, N ≥ 1).

    Returns (G, piv, W, Z, S, S_piv, r0, r_last) for `solve`: the block-Thomas factors of the
    first N−1 cells, Z = B⁻¹ c (the border column), the border's LU S, S_piv, and its row
    blocks r0 (to cell 0) and r_last (to cell N−2).
    """
    N, n = D.shape[0], D.shape[1]
    m = N - 1
    G = np.empty((max(m, 1), n, n))
    piv = np.zeros((max(m, 1), n), dtype=np.int64)
    W = np.zeros((max(m, 1), n, n))
    Z = np.zeros((max(m, 1), n, n))
    S = D[m].copy()
    S_piv = np.zeros(n, dtype=np.int64)
    r0 = np.zeros((n, n))
    r_last = np.zeros((n, n))
    if m == 0:                      # one cell: both neighbours are the cell itself
        S += Lo[0] + Up[0]
        _lu_factor(S, S_piv)
        return G, piv, W, Z, S, S_piv, r0, r_last
    for i in range(m):
        G[i] = D[i]
        if i > 0:
            for a in range(n):
                for c in range(n):
                    s = G[i, a, c]
                    for k in range(n):
                        s -= Lo[i, a, k] * W[i - 1, k, c]
                    G[i, a, c] = s
        _lu_factor(G[i], piv[i])
        if i < m - 1:               # W_i = G_i⁻¹ Up_i, column by column
            col = np.empty(n)
            for c in range(n):
                col[:] = Up[i, :, c]
                _lu_solve(G[i], piv[i], col)
                W[i, :, c] = col
    # border column c (cells 0 … m−1 to cell m) and row r (cell m to cells 0 … m−1)
    cblk = np.zeros((m, n))
    ycol = np.empty((m, n))
    r0[:, :] = Up[m]                # corner: cell m's right neighbour is cell 0
    r_last[:, :] += Lo[m]           # cell m's left neighbour is cell m−1 (the same as r0 if m == 1)
    for c in range(n):
        cblk[:, :] = 0.0
        cblk[0, :] += Lo[0, :, c]   # corner: cell 0's left neighbour is cell m
        cblk[m - 1, :] += Up[m - 1, :, c]
        _line_solve(G, piv, W, Lo, cblk, ycol)
        Z[:, :, c] = ycol
    for a in range(n):              # S = D_m − r0 Z_0 − r_last Z_{m−1}
        for c in range(n):
            s = S[a, c]
            for k in range(n):
                s -= r0[a, k] * Z[0, k, c]
            for k in range(n):
                s -= r_last[a, k] * Z[m - 1, k, c]
            S[a, c] = s
    _lu_factor(S, S_piv)
    return G, piv, W, Z, S, S_piv, r0, r_last


@njit(cache=True, error_model="numpy")
def solve(factors, Lo, b, x):
    """x = A⁻¹ b for the matrix `factorise` was given (Lo: its sub-diagonal blocks; b, x:
    (N, n), cell-major)."""
    G, piv, W, Z, S, S_piv, r0, r_last = factors
    N = b.shape[0]
    m = N - 1
    border = b[m].copy()
    if m == 0:
        _lu_solve(S, S_piv, border)
        x[0, :] = border
        return x
    _line_solve(G, piv, W, Lo, b[:m], x[:m])
    _subtract_product(r0, x[0], border)
    _subtract_product(r_last, x[m - 1], border)
    _lu_solve(S, S_piv, border)
    x[m, :] = border
    for i in range(m):
        _subtract_product(Z[i], border, x[i])
    return x
