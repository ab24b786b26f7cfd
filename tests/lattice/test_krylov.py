"""Rank-independent sums and the GMRES stage solver (lattice/reductions.py, lattice/krylov.py)."""

import math

import numpy as np
import pytest

from lattice.krylov import KrylovStats, gmres
from lattice.parallel import SerialComm
from lattice.reductions import ReproducibleSums


def _sum_over_parts(terms, cuts, order):
    """row_sums computed part by part and combined like an MPI reduction in `order`."""
    n = terms.shape[1]
    rs = ReproducibleSums(SerialComm(), n)
    parts = np.split(terms, cuts, axis=1)
    # the global MAX bound is what every rank would see: reduce it first, as MPI does
    bound = max(np.abs(terms).max(axis=1).tolist())
    assert bound > 0
    partials = []
    for p in parts:
        class OneRank(SerialComm):
            def allreduce_array(self, values, op, _p=p):
                if op == "max":
                    return np.abs(terms).max(axis=1)
                partials.append(np.asarray(values))
                return np.asarray(values)
        rs.comm = OneRank()
        rs.row_sums(p)
    k = terms.shape[0]
    total = np.zeros(2 * k)
    for i in order:
        total = total + partials[i]
    return total[:k] + total[k:]


def test_sums_are_exactly_rounded_and_independent_of_order_and_split():
    rng = np.random.default_rng(3)
    n = 20000
    terms = rng.standard_normal((3, n)) * np.logspace(-8, 8, n)   # 16 decades, heavy cancellation
    terms[2] -= terms[2].mean()
    rs = ReproducibleSums(SerialComm(), n)
    whole = rs.row_sums(terms)
    for row, got in zip(terms, whole):
        exact = math.fsum(row)
        assert abs(got - exact) <= 4 * np.finfo(float).eps * abs(exact) + 1e-300
    assert np.array_equal(rs.row_sums(terms[:, rng.permutation(n)]), whole)
    for cuts, order in (([7000], [1, 0]), ([1, 5000, 5001, 19999], [4, 2, 0, 3, 1])):
        assert np.array_equal(_sum_over_parts(terms, cuts, order), whole)


def test_sum_of_non_finite_terms_is_nan_and_of_zeros_is_zero():
    rs = ReproducibleSums(SerialComm(), 4)
    got = rs.row_sums(np.array([[1.0, np.nan, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0], [1.0, np.inf, 0.0, 0.0]]))
    assert math.isnan(got[0]) and got[1] == 0.0 and math.isnan(got[2])


def _system(n, rng, coupling):
    """A nonsymmetric, diagonally dominant block-plus-neighbour matrix like a stage matrix."""
    A = np.diag(4.0 + rng.random(n)) + coupling * (np.eye(n, k=1) + np.eye(n, k=-1))
    A += 0.5 * rng.standard_normal((n, n)) / np.sqrt(n)
    return A


def _error_bound(A, b, x, x_direct):
    """What a residual implies for the error against a direct solve: x − x_d = A⁻¹(ρ(x) − ρ(x_d))
    with ρ(z) = b − A z, so ‖x − x_d‖₂ ≤ (‖ρ(x)‖ + ‖ρ(x_d)‖)/σ_min(A), each exact residual within
    γ_{n+1}‖|b| + |A||z|‖ of its float value. The SVD's σ_min is good to a few u·cond(A) (cond < 30
    for these matrices), covered by the factor 1 + 1e-6. No tolerance of the method enters."""
    n = len(b)
    u = np.finfo(float).eps / 2
    gamma = (n + 1) * u / (1 - (n + 1) * u)

    def exact_residual_bound(z):
        return np.linalg.norm(b - A @ z) + gamma * np.linalg.norm(np.abs(b) + np.abs(A) @ np.abs(z))

    singular = np.linalg.svd(A, compute_uv=False)
    assert singular[0] / singular[-1] < 30
    return (exact_residual_bound(x) + exact_residual_bound(x_direct)) / singular[-1] * (1 + 1e-6)


@pytest.mark.parametrize("restart", [3, 50])
def test_gmres_meets_its_tolerance_against_a_direct_solve(restart):
    rng = np.random.default_rng(11)
    n = 200
    A = _system(n, rng, -1.9)
    b = rng.standard_normal(n)
    M_inv = 1.0 / np.diag(A)
    sums = ReproducibleSums(SerialComm(), n)
    stats = KrylovStats()
    tol = 1e-10 * np.linalg.norm(b)
    x, ok = gmres(lambda v: A @ v, lambda v: M_inv * v, b, sums, tol, restart, 500, stats)
    assert ok and stats.failures == 0 and stats.iterations > 1
    # what GMRES promises: the residual it stopped on (the same float vector; the 1e-6 covers
    # np.linalg.norm against the solver's exactly rounded norm, a few u)
    assert np.linalg.norm(b - A @ x) <= tol * (1 + 1e-6)
    # and only through it the error (see _error_bound)
    x_direct = np.linalg.solve(A, b)
    assert np.abs(x - x_direct).max() <= _error_bound(A, b, x, x_direct)


def test_gmres_reports_failure_when_out_of_iterations():
    rng = np.random.default_rng(5)
    n = 300
    A = _system(n, rng, -2.0)
    b = rng.standard_normal(n)
    stats = KrylovStats()
    x, ok = gmres(lambda v: A @ v, lambda v: v, b, ReproducibleSums(SerialComm(), n), 1e-14, 5, 3, stats)
    assert not ok and stats.failures == 1 and stats.iterations == 3


def test_first_guess_is_returned_when_the_preconditioner_is_exact():
    rng = np.random.default_rng(2)
    A = _system(50, rng, 0.0)
    A_inv = np.linalg.inv(A)
    stats = KrylovStats()
    b = rng.standard_normal(50)
    x, ok = gmres(lambda v: A @ v, lambda v: A_inv @ v, b, ReproducibleSums(SerialComm(), 50), 1e-9, 10, 10, stats)
    assert ok and stats.iterations == 0
    assert np.linalg.norm(b - A @ x) <= 1e-9 * (1 + 1e-6)
    x_direct = np.linalg.solve(A, b)     # x = A⁻¹b by a BLAS product: its own rounding
    assert np.abs(x - x_direct).max() <= _error_bound(A, b, x, x_direct)


def test_gmres_stops_on_the_true_residual_not_the_cycle_estimate(monkeypatch):
    """A cycle whose residual estimate says "converged" while the true residual is far above the
    tolerance (as happened on 1024 cells, up to 8.6e6 times) must not end the solve: GMRES
    recomputes b − A x, counts the miss and goes on until the true residual meets the tolerance."""
    from lattice import krylov

    rng = np.random.default_rng(5)
    n = 200
    A = _system(n, rng, -1.9)
    b = rng.standard_normal(n)
    real_cycle = krylov._cycle
    calls = []

    def optimistic_cycle(*args):
        j, y, V, estimate = real_cycle(*args)
        calls.append(estimate)
        return j, y, V, 0.0 if len(calls) == 1 else estimate   # the first cycle lies

    monkeypatch.setattr(krylov, "_cycle", optimistic_cycle)
    stats = KrylovStats()
    tol = 1e-8 * np.linalg.norm(b)
    x, converged = gmres(lambda v: A @ v, lambda v: v.copy(), b, ReproducibleSums(SerialComm(), n), tol,
                         restart=10, max_iterations=400, stats=stats)
    assert converged
    assert stats.estimate_misses == 1
    assert len(calls) > 1
    assert np.linalg.norm(b - A @ x) <= tol * (1 + 1e-6)
