"""The cyclic block-tridiagonal solver against a dense LAPACK solve of the same matrix."""

import numpy as np
import pytest

from kernels.block_tridiagonal import factorise, solve


def dense(D, Lo, Up):
    """The (N n) × (N n) matrix of the cyclic block-tridiagonal system (blocks summed where two
    neighbours are the same cell)."""
    N, n = D.shape[0], D.shape[1]
    A = np.zeros((N * n, N * n))
    for i in range(N):
        for j, blk in ((i, D[i]), ((i - 1) % N, Lo[i]), ((i + 1) % N, Up[i])):
            A[i * n:(i + 1) * n, j * n:(j + 1) * n] += blk
    return A


def random_system(N, n, rng, corners=True):
    """Blocks like those of σ − J − K∇²: a random local block (with large skew parts, as the
    precession) on a diffusive, diagonally dominant background."""
    K = rng.uniform(0.5, 1.0, (n, n)) * 0.1 + np.eye(n)
    D = rng.normal(size=(N, n, n)) + 3.0 * np.eye(n) + 2.0 * K
    skew = rng.normal(size=(N, n, n)) * 5.0
    D += skew - skew.transpose(0, 2, 1)
    Lo = np.broadcast_to(-K, (N, n, n)).copy()
    Up = Lo.copy()
    if not corners:
        Lo[0] = 0.0
        Up[N - 1] = 0.0
    return D, Lo, Up


@pytest.mark.parametrize("N", [1, 2, 3, 4, 7, 64])
@pytest.mark.parametrize("corners", [True, False])
def test_matches_the_dense_solve(N, corners):
    rng = np.random.default_rng(N)
    n = 8
    D, Lo, Up = random_system(N, n, rng, corners)
    b = rng.normal(size=(N, n))
    x = solve(factorise(D, Lo, Up), Lo, b, np.empty_like(b))
    A = dense(D, Lo, Up)
    expected = np.linalg.solve(A, b.reshape(-1)).reshape(N, n)
    # both are backward stable: the difference is round-off times the condition number
    bound = 1e-13 * np.linalg.cond(A) * np.abs(expected).max()
    assert np.abs(x - expected).max() <= bound
    assert np.abs(A @ x.reshape(-1) - b.reshape(-1)).max() <= 1e-12 * np.abs(A).max() * np.abs(x).max()


def test_a_singular_block_gives_non_finite_values():
    """A singular system is reported by non-finite values (the stepper rejects such a step)."""
    N, n = 4, 3
    D = np.zeros((N, n, n))
    Lo = np.zeros((N, n, n))
    Up = np.zeros((N, n, n))
    x = solve(factorise(D, Lo, Up), Lo, np.ones((N, n)), np.empty((N, n)))
    assert not np.isfinite(x).all()
