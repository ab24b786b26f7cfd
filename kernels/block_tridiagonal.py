"""Direct solution of cyclic block-tridiagonal systems (compiled, deterministic).

The system on N cells with n × n blocks is

    Lo_i x_{i-1} + D_i x_i + Up_i x_{i+1} = b_i,   i = 0 … N−1, indices mod N,

so Lo_0 couples cell 0 to cell N−1 and Up_{N−1} couples cell N−1 to cell 0 (the periodic
corners; zero blocks for a line with closed ends). It is solved by bordering: cells 0 … N−2
form a plain block-tridiagonal matrix B, factorised by block Gaussian elimination (the block
Thomas algorithm: G_0 = D_0, W_{i−1} = G_{i−1}⁻¹ Up_{i−1}, G_i = D_i − Lo_i W_{i−1}, each G_i
inverted by Gauss–Jordan elimination with partial pivoting inside the block); cell N−1 is the border, eliminated
through its n × n Schur complement S = D_{N−1} − r B⁻¹ c. One factorisation costs about 7 n³ N
multiply-adds, each solve about 4 n² N.

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
def _invert(A, out, aug):
    """out = A⁻¹ (n × n) by Gauss–Jordan elimination with partial pivoting on [A | I] (aug:
    scratch (n, 2n)); each step's row operations run over whole rows of the augmented matrix."""
    n = A.shape[0]
    for i in range(n):
        for j in range(n):
            aug[i, j] = A[i, j]
            aug[i, n + j] = 0.0
        aug[i, n + i] = 1.0
    for k in range(n):
        p = k
        big = abs(aug[k, k])
        for i in range(k + 1, n):
            if abs(aug[i, k]) > big:
                big, p = abs(aug[i, k]), i
        if p != k:
            for j in range(2 * n):
                aug[k, j], aug[p, j] = aug[p, j], aug[k, j]
        inv = 1.0 / aug[k, k]
        for j in range(2 * n):
            aug[k, j] *= inv
        for i in range(n):
            if i != k:
                f = aug[i, k]
                for j in range(2 * n):
                    aug[i, j] -= f * aug[k, j]
    for i in range(n):
        for j in range(n):
            out[i, j] = aug[i, n + j]


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
def _product(M, x, out):
    """out = M x (n × n times n; out must not be x)."""
    n = M.shape[0]
    for i in range(n):
        s = 0.0
        for j in range(n):
            s += M[i, j] * x[j]
        out[i] = s


@njit(cache=True, error_model="numpy")
def _subtract_matmul(A, B, out):
    """out ← out − A B (n × n), summed over k in order for every element."""
    n = A.shape[0]
    for i in range(n):
        for k in range(n):
            a = A[i, k]
            for j in range(n):
                out[i, j] -= a * B[k, j]


@njit(cache=True, error_model="numpy")
def _matmul(A, B, out):
    """out = A B (n × n; out must be neither A nor B)."""
    out[:, :] = 0.0
    n = A.shape[0]
    for i in range(n):
        for k in range(n):
            a = A[i, k]
            for j in range(n):
                out[i, j] += a * B[k, j]


@njit(cache=True, error_model="numpy")
def _line_solve(Ginv, W, Lo, b, y, tmp):
    """y = B⁻¹ b for the block-tridiagonal B of cells 0 … m−1 (inverse diagonal factors Ginv,
    upper factors W, sub-diagonal blocks Lo_1 … Lo_{m−1}); b, y: (m, n); tmp: length n."""
    m = b.shape[0]
    for i in range(m):
        tmp[:] = b[i, :]
        if i > 0:
            _subtract_product(Lo[i], y[i - 1], tmp)
        _product(Ginv[i], tmp, y[i])
    for i in range(m - 2, -1, -1):
        _subtract_product(W[i], y[i + 1], y[i])


@njit(cache=True, error_model="numpy")
def factorise(D, Lo, Up):
    """Factors of the cyclic block-tridiagonal matrix (blocks (N, n, n) each, N ≥ 1).

    Returns (Ginv, W, Z, Sinv, r0, r_last) for `solve`: the block-Thomas factors of the first
    N−1 cells (G_i⁻¹ and W_i = G_i⁻¹ Up_i), Z = B⁻¹ c (the border column), the inverse Schur
    complement of the border and its row blocks r0 (to cell 0) and r_last (to cell N−2).
    """
    N, n = D.shape[0], D.shape[1]
    m = N - 1
    Ginv = np.empty((max(m, 1), n, n))
    W = np.zeros((max(m, 1), n, n))
    Z = np.zeros((max(m, 1), n, n))
    S = D[m].copy()
    Sinv = np.empty((n, n))
    r0 = np.zeros((n, n))
    r_last = np.zeros((n, n))
    aug = np.empty((n, 2 * n))
    if m == 0:                      # one cell: both neighbours are the cell itself
        S += Lo[0] + Up[0]
        _invert(S, Sinv, aug)
        return Ginv, W, Z, Sinv, r0, r_last
    G = np.empty((n, n))
    for i in range(m):
        G[:, :] = D[i]
        if i > 0:
            _subtract_matmul(Lo[i], W[i - 1], G)
        _invert(G, Ginv[i], aug)
        if i < m - 1:
            _matmul(Ginv[i], Up[i], W[i])
    # border column c (cells 0 … m−1 to cell m): forward sweep for all n columns at once
    C = np.zeros((n, n))
    for i in range(m):
        C[:, :] = 0.0
        if i == 0:
            C += Lo[0]              # corner: cell 0's left neighbour is cell m
        if i == m - 1:
            C += Up[m - 1]
        if i > 0:
            _subtract_matmul(Lo[i], Z[i - 1], C)
        _matmul(Ginv[i], C, Z[i])
    for i in range(m - 2, -1, -1):
        _subtract_matmul(W[i], Z[i + 1], Z[i])
    r0[:, :] = Up[m]                # border row: cell m's right neighbour is cell 0,
    r_last[:, :] = Lo[m]            # its left neighbour cell m−1 (the same cell if m == 1)
    _subtract_matmul(r0, Z[0], S)
    _subtract_matmul(r_last, Z[m - 1], S)
    _invert(S, Sinv, aug)
    return Ginv, W, Z, Sinv, r0, r_last


@njit(cache=True, error_model="numpy")
def solve(factors, Lo, b, x):
    """x = A⁻¹ b for the matrix `factorise` was given (Lo: its sub-diagonal blocks; b, x:
    (N, n), cell-major)."""
    Ginv, W, Z, Sinv, r0, r_last = factors
    N, n = b.shape[0], b.shape[1]
    m = N - 1
    border = b[m].copy()
    if m == 0:
        _product(Sinv, border, x[0])
        return x
    tmp = np.empty(n)
    _line_solve(Ginv, W, Lo, b[:m], x[:m], tmp)
    _subtract_product(r0, x[0], border)
    _subtract_product(r_last, x[m - 1], border)
    _product(Sinv, border, x[m])
    for i in range(m):
        _subtract_product(Z[i], x[m], x[i])
    return x


@njit(cache=True, error_model="numpy")
def stage_blocks(J, K, diag, left, right, inv_dx2, sigma):
    """Blocks (D, Lo, Up) of σ − J_i − K ∇² on a line: D_i = σ − J_i − K diag(diag_i) / dx²,
    Lo_i = −K diag(left_i) / dx², Up_i = −K diag(right_i) / dx² (J: (N, n, n); K: (n, n);
    diag, left, right: the Laplacian's coefficients per cell and field, (N, n))."""
    N, n = J.shape[0], J.shape[1]
    D = np.empty((N, n, n))
    Lo = np.empty((N, n, n))
    Up = np.empty((N, n, n))
    for i in range(N):
        for a in range(n):
            for c in range(n):
                k = K[a, c] * inv_dx2
                D[i, a, c] = -J[i, a, c] - k * diag[i, c]
                Lo[i, a, c] = -k * left[i, c]
                Up[i, a, c] = -k * right[i, c]
            D[i, a, a] += sigma
    return D, Lo, Up
