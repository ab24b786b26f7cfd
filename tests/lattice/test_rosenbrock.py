"""The Rodas4 tableau and step control, on problems with exact solutions."""

import numpy as np
import pytest

from lattice.model import Equations
from lattice.rosenbrock import FieldwiseNorm, Rodas4


class LinearNonAutonomous(Equations):
    """y' = A y + b(t) with A = [[-1, 0.3], [0.2, -0.5]], b = (cos t, sin 2t)."""

    A = np.array([[-1.0, 0.3], [0.2, -0.5]])

    def f(self, t, y):
        return self.A @ y + np.array([np.cos(t), np.sin(2 * t)])

    def jac(self, t, y):
        return self.A.copy()

    def dfdt(self, t, y):
        return np.array([-np.sin(t), 2 * np.cos(2 * t)])

    def exact(self, t, y0):
        """Solution by the variation-of-constants integral on a fine Gauss grid."""
        w, V = np.linalg.eig(self.A)
        x, wq = np.polynomial.legendre.leggauss(200)
        s = 0.5 * t * (x + 1)
        integrand = [V @ np.diag(np.exp(w * (t - si))) @ np.linalg.inv(V) @ np.array([np.cos(si), np.sin(2 * si)])
                     for si in s]
        forced = 0.5 * t * np.einsum("i,ij->j", wq, np.array(integrand))
        return (V @ np.diag(np.exp(w * t)) @ np.linalg.inv(V) @ y0 + forced).real


class LinearNonAutonomousBlas(LinearNonAutonomous):
    """The same system, asking Rodas4 for BLAS stage sums (as the Pauli–Boltzmann model does)."""

    stage_sums = "blas"


SYSTEMS = [LinearNonAutonomous, LinearNonAutonomousBlas]


@pytest.mark.parametrize("system_class", SYSTEMS)
def test_fixed_step_convergence_order_is_four(system_class):
    system = system_class()
    y0 = np.array([1.0, -0.5])
    exact = system.exact(2.0, y0)
    stepper = Rodas4(system, FieldwiseNorm(1.0, 1.0))
    errors = []
    for n in (10, 20, 40):
        y, t, h = y0.copy(), 0.0, 2.0 / n
        for _ in range(n):
            y, _ = stepper.attempt(t, y, h)
            t += h
        errors.append(np.abs(y - exact).max())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print("Rodas4 observed orders:", orders)
    assert np.all(orders > 3.7)


@pytest.mark.parametrize("system_class", SYSTEMS)
def test_adaptive_error_follows_tolerance_and_lands_on_target(system_class):
    system = system_class()
    y0 = np.array([1.0, -0.5])
    exact = system.exact(2.0, y0)
    errs = []
    for rtol in (1e-6, 1e-9):
        stepper = Rodas4(system, FieldwiseNorm(rtol, rtol))
        y, h = stepper.advance(0.0, y0.copy(), 2.0, 1e-3)
        errs.append(np.abs(y - exact).max())
        assert np.abs(y - exact).max() < 50 * rtol
    assert errs[1] < errs[0] / 100


def test_blas_stage_sums_equal_elementwise_to_round_off():
    """`stage_sums = "blas"` changes only the rounding of the stage combinations."""
    y0 = np.array([1.0, -0.5])
    a = Rodas4(LinearNonAutonomous(), FieldwiseNorm(1e-6, 1e-6)).attempt(0.3, y0, 0.1)
    b = Rodas4(LinearNonAutonomousBlas(), FieldwiseNorm(1e-6, 1e-6)).attempt(0.3, y0, 0.1)
    np.testing.assert_allclose(b[0], a[0], rtol=1e-14)
    assert b[1] == pytest.approx(a[1], rel=1e-8)      # the error estimate, itself ~1e-8 of y


def test_stiff_oscillatory_decay_is_stable_at_huge_steps():
    """Precession at ω and damping D ≪ ω with h·ω = 1e4: L-stable, no growth."""

    class Precession(Equations):
        def __init__(self, omega, damping):
            self.A = np.array([[-damping, -omega], [omega, -damping]])

        def f(self, t, y):
            return self.A @ y

        def jac(self, t, y):
            return self.A.copy()

        def dfdt(self, t, y):
            return np.zeros(2)

    stepper = Rodas4(Precession(1e4, 10.0), FieldwiseNorm(1.0, 1.0))
    y = np.array([1.0, 0.0])
    for _ in range(10):
        y, _ = stepper.attempt(0.0, y, 1.0)
    assert np.all(np.isfinite(y)) and np.abs(y).max() < 1e-3
