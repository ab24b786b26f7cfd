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

The kernels are made once per block size n (`block_solver(n)`), with n a compile-time constant
so that the n × n loops are unrolled, as Numba `register_jitable` functions that compiled
callers (lattice.compiled_line) inline into their own loops; `factorise`, `solve` and
`stage_blocks` below are their compiled forms for callers in Python. (A compiled caller must not
capture a Numba dispatcher: its pickle differs from process to process, and Numba's on-disk
cache, which hashes a closure's contents, would then never be reused.)
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np
from numba import njit
from numba.extending import register_jitable


class BlockSolver(NamedTuple):
    """The compiled kernels for n × n blocks (see `block_solver`)."""

    factorise: Callable
    solve: Callable
    stage_blocks: Callable


@functools.cache
def block_solver(n: int) -> BlockSolver:
    """factorise(D, Lo, Up) -> factors, solve(factors, Lo, b, x) -> x and
    stage_blocks(J, K, diag, left, right, inv_dx2, sigma) -> (D, Lo, Up) for n × n blocks
    (D, Lo, Up: (N, n, n); b, x: (N, n), cell-major), as jitable functions."""

    @register_jitable
    def invert(A, ia, out, io, aug):
        """out[io] = A[ia]⁻¹ by Gauss–Jordan elimination with partial pivoting on [A | I] (aug:
        scratch (n, 2n)); each step's row operations run over whole rows of the augmented matrix."""
        for i in range(n):
            for j in range(n):
                aug[i, j] = A[ia, i, j]
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
                out[io, i, j] = aug[i, n + j]

    @register_jitable
    def subtract_matmul(A, ia, B, ib, out, io):
        """out[io] ← out[io] − A[ia] B[ib], summed over k in order for every element; zero
        entries of A (the diffusion blocks are sparse) are skipped: they add nothing."""
        for i in range(n):
            for k in range(n):
                a = A[ia, i, k]
                if a != 0.0:
                    for j in range(n):
                        out[io, i, j] -= a * B[ib, k, j]

    @register_jitable
    def matmul(A, ia, B, ib, out, io):
        """out[io] = A[ia] B[ib] (out[io] must be neither), summed over k in order for every
        element; zero entries of B (the diffusion blocks are sparse) are skipped."""
        for i in range(n):
            for j in range(n):
                out[io, i, j] = 0.0
        for k in range(n):
            for j in range(n):
                b = B[ib, k, j]
                if b != 0.0:
                    for i in range(n):
                        out[io, i, j] += A[ia, i, k] * b

    @register_jitable
    def subtract_product(M, im, x, ix, out, io):
        """out[io] ← out[io] − M[im] x[ix] (a block times a cell's n values), summed in order."""
        for i in range(n):
            s = out[io, i]
            for j in range(n):
                s -= M[im, i, j] * x[ix, j]
            out[io, i] = s

    @register_jitable
    def product(M, im, x, ix, out, io):
        """out[io] = M[im] x[ix], summed in order."""
        for i in range(n):
            s = 0.0
            for j in range(n):
                s += M[im, i, j] * x[ix, j]
            out[io, i] = s

    @register_jitable
    def factorise(D, Lo, Up):
        """Factors of the cyclic block-tridiagonal matrix (N ≥ 1 cells).

        Returns (Ginv, W, Z, Sinv, r0, r_last) for `solve`: the block-Thomas factors of the
        first N−1 cells (G_i⁻¹ and W_i = G_i⁻¹ Up_i), Z = B⁻¹ c (the border column), the
        inverse Schur complement of the border and its row blocks r0 (to cell 0) and r_last (to
        cell N−2), the last three as (1, n, n) stacks.
        """
        N = D.shape[0]
        m = N - 1
        Ginv = np.empty((max(m, 1), n, n))
        W = np.zeros((max(m, 1), n, n))
        Z = np.zeros((max(m, 1), n, n))
        S = np.empty((1, n, n))
        Sinv = np.empty((1, n, n))
        r0 = np.zeros((1, n, n))
        r_last = np.zeros((1, n, n))
        aug = np.empty((n, 2 * n))
        for a in range(n):
            for b in range(n):
                S[0, a, b] = D[m, a, b]
        if m == 0:                      # one cell: both neighbours are the cell itself
            for a in range(n):
                for b in range(n):
                    S[0, a, b] += Lo[0, a, b] + Up[0, a, b]
            invert(S, 0, Sinv, 0, aug)
            return Ginv, W, Z, Sinv, r0, r_last
        G = np.empty((1, n, n))
        for i in range(m):
            for a in range(n):
                for b in range(n):
                    G[0, a, b] = D[i, a, b]
            if i > 0:
                subtract_matmul(Lo, i, W, i - 1, G, 0)
            invert(G, 0, Ginv, i, aug)
            if i < m - 1:
                matmul(Ginv, i, Up, i, W, i)
        # border column c (cells 0 … m−1 to cell m): forward sweep for all n columns at once
        C = np.zeros((1, n, n))
        for i in range(m):
            for a in range(n):
                for b in range(n):
                    C[0, a, b] = 0.0
            if i == 0:                  # corner: cell 0's left neighbour is cell m
                for a in range(n):
                    for b in range(n):
                        C[0, a, b] += Lo[0, a, b]
            if i == m - 1:
                for a in range(n):
                    for b in range(n):
                        C[0, a, b] += Up[m - 1, a, b]
            if i > 0:
                subtract_matmul(Lo, i, Z, i - 1, C, 0)
            matmul(Ginv, i, C, 0, Z, i)
        for i in range(m - 2, -1, -1):
            subtract_matmul(W, i, Z, i + 1, Z, i)
        for a in range(n):              # border row: cell m's right neighbour is cell 0, its left
            for b in range(n):          # neighbour cell m−1 (the same cell if m == 1)
                r0[0, a, b] = Up[m, a, b]
                r_last[0, a, b] = Lo[m, a, b]
        subtract_matmul(r0, 0, Z, 0, S, 0)
        subtract_matmul(r_last, 0, Z, m - 1, S, 0)
        invert(S, 0, Sinv, 0, aug)
        return Ginv, W, Z, Sinv, r0, r_last

    @register_jitable
    def solve(factors, Lo, b, x):
        """x = A⁻¹ b for the matrix `factorise` was given (Lo: its sub-diagonal blocks; x must
        not be b)."""
        Ginv, W, Z, Sinv, r0, r_last = factors
        N = b.shape[0]
        m = N - 1
        border = np.empty((1, n))
        for q in range(n):
            border[0, q] = b[m, q]
        if m == 0:
            product(Sinv, 0, border, 0, x, 0)
            return x
        tmp = np.empty((1, n))
        for i in range(m):              # y = B⁻¹ b for the block-tridiagonal B of cells 0 … m−1
            for q in range(n):
                tmp[0, q] = b[i, q]
            if i > 0:
                subtract_product(Lo, i, x, i - 1, tmp, 0)
            product(Ginv, i, tmp, 0, x, i)
        for i in range(m - 2, -1, -1):
            subtract_product(W, i, x, i + 1, x, i)
        subtract_product(r0, 0, x, 0, border, 0)
        subtract_product(r_last, 0, x, m - 1, border, 0)
        product(Sinv, 0, border, 0, x, m)
        for i in range(m):
            subtract_product(Z, i, x, m, x, i)
        return x

    @register_jitable
    def stage_blocks(J, K, diag, left, right, inv_dx2, sigma):
        """Blocks (D, Lo, Up) of σ − J_i − K ∇² on a line: D_i = σ − J_i − K diag(diag_i) / dx²,
        Lo_i = −K diag(left_i) / dx², Up_i = −K diag(right_i) / dx² (J: (N, n, n); K: (n, n);
        diag, left, right: the Laplacian's coefficients per cell and field, (N, n))."""
        N = J.shape[0]
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

    return BlockSolver(factorise, solve, stage_blocks)


@functools.cache
def _compiled(n: int) -> BlockSolver:
    """block_solver(n) compiled for calls from Python."""
    factorise_, solve_, stage_blocks_ = block_solver(n)

    @njit(cache=True, error_model="numpy")
    def factorise(D, Lo, Up):
        return factorise_(D, Lo, Up)

    @njit(cache=True, error_model="numpy")
    def solve(factors, Lo, b, x):
        return solve_(factors, Lo, b, x)

    @njit(cache=True, error_model="numpy")
    def stage_blocks(J, K, diag, left, right, inv_dx2, sigma):
        return stage_blocks_(J, K, diag, left, right, inv_dx2, sigma)

    return BlockSolver(factorise, solve, stage_blocks)


def factorise(D, Lo, Up):
    """block_solver(n).factorise for blocks (N, n, n), from Python."""
    return _compiled(D.shape[1]).factorise(D, Lo, Up)


def solve(factors, Lo, b, x):
    """block_solver(n).solve for right-hand sides (N, n), from Python."""
    return _compiled(b.shape[1]).solve(factors, Lo, b, x)


def stage_blocks(J, K, diag, left, right, inv_dx2, sigma):
    """block_solver(n).stage_blocks for Jacobian blocks (N, n, n), from Python."""
    return _compiled(J.shape[1]).stage_blocks(J, K, diag, left, right, inv_dx2, sigma)
