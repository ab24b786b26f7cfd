"""The hot-plasma model as the machinery's System: the Bloch system (or its rate equation) at
frozen plasma conditions, timed by the radiation-era clock (docs/models/hot-plasma.md §2).

The paper solves every equation at fixed T (constant coefficients). The run keeps the rates of
one plasma temperature fixed and lets the machinery's temperature axis be a clock: cosmic time
t = 1/(2H(T)) with H = 1.66 √g* T²/M_Pl, g* = 10.75. The state is pure active at t(T_start);
the elapsed time is τ = t − t(T_start), and a run to T_end = T_plasma from T_start ≫ T_plasma
lasts one age of the universe at the plasma temperature, t = 1/(2H), the time the paper's BBN
arguments compare with. Fields: P_x, P_y, P_z (P₀ = 1 constant, R = 0); t [MeV^-1], rates [MeV].
"""

from __future__ import annotations

import numpy as np

from lattice.model import FieldwiseNorm, System
from physics.cosmology import Cosmology
from physics.hot_plasma import bloch, master


class FrozenPlasma(System):
    """dP/dt = A P on any number of sites with a constant 3×3 matrix A [MeV].

    Args:
        A: the matrix (bloch.qke_matrix for the QKE, rate_matrix for the rate equation).
        Gamma_W_over_H: Γ_W/H at the plasma temperature, for the paper's criterion Γ_s/H =
            P Γ_W/H in the summary (None without a plasma temperature).
    """

    n_fields = 3
    field_names = ("P_x", "P_y", "P_z")
    observable_units = {"P": "dimensionless (conversion probability ½(1 − P_z))",
                        "polarisation": "dimensionless (|P|)"}
    cosmology = Cosmology()

    def __init__(self, A, Gamma_W_over_H=None):
        self.A = np.asarray(A, dtype=float)
        self.Gamma_W_over_H = Gamma_W_over_H

    def initial_state(self, grid_shape=()):
        y = np.zeros((3,) + tuple(grid_shape))
        y[2] = 1.0
        return y

    def temperature(self, t):
        """The clock temperature T(t) = (1/(2 H/T² t))^½ [MeV] (not the plasma's)."""
        return self.cosmology.temperature(t)

    def f(self, t, y):
        return np.tensordot(self.A, y, axes=1)

    def jac(self, t, y):
        return np.broadcast_to(self.A, y.shape[1:] + (3, 3)).copy()

    def dfdt(self, t, y):
        return np.zeros_like(y)

    def observable_sums(self, y):
        return np.array([y[2].sum(), np.sqrt((y * y).sum(axis=0)).sum(), y[0].size], dtype=float)

    def observables_from_sums(self, sums):
        return {"P": float(bloch.conversion_probability(sums[0] / sums[2])),
                "polarisation": float(sums[1] / sums[2])}

    def error_norm(self, rtol, tolerances):
        return FieldwiseNorm(rtol, tolerances.atol)


def rate_matrix(rates):
    """A [MeV] of the rate equation: dP_z/dt = −2Γ_s P_z (f_a − f_s = P_z decays at 2Γ_s,
    master.rate_equation_decay), P_x = P_y = 0."""
    A = np.zeros((3, 3))
    A[2, 2] = -master.rate_equation_decay(rates)
    return A
