"""The 2×2 Bloch system with anisotropic damping and its exact solution (paper 003 §3.2;
docs/models/hot-plasma.md §1.2).

With R = 0 and P₀ constant (P₀(0) = 1), the polarisation P = (P_x, P_y, P_z) obeys dP/dt = A P,

    dP_x/dt = −V_z P_y − D_x P_x,
    dP_y/dt =  V_z P_x − V_x P_z − D_y P_y,
    dP_z/dt =  V_x P_y,

with D_x = Γ_W, D_y = Γ_W + 2Γ: the paper's master equation (3.13) with ⟨D²⟩ = ⟨D⟩² is this
system exactly (its characteristic polynomial is the cubic 3.17). The conversion probability is
P(t) = ½(1 − P_z(t)) (eq. 3.12). Rates in MeV, t in MeV^-1.
"""

from __future__ import annotations

import numpy as np

PURE_ACTIVE = np.array([0.0, 0.0, 1.0])
"""P(0) for a pure active state (P₀(0) = 1)."""


def bloch_matrix(V_x, V_z, D_x, D_y):
    """A [MeV] of dP/dt = A P for damping D_x of P_x and D_y of P_y [MeV] (none of P_z)."""
    return np.array([[-D_x, -V_z, 0.0],
                     [V_z, -D_y, -V_x],
                     [0.0, V_x, 0.0]])


def qke_matrix(rates):
    """A [MeV] of the paper's averaged QKE: D_x = Γ_W, D_y = Γ_W + 2Γ (plasma.Rates)."""
    return bloch_matrix(rates.V_x, rates.V_z, rates.Gamma_W, rates.Gamma_W + 2.0 * rates.Gamma)


def expm(M):
    """exp(M) of a small square matrix by scaling and squaring of its Taylor series (degree 24,
    norm scaled below 1/2), summed and squared in extended precision (numpy.longdouble, where the
    platform has it): the squarings multiply the rounding error by about the norm of M."""
    X = np.asarray(M, dtype=np.longdouble)
    norm = float(np.max(np.sum(np.abs(X), axis=1)))
    s = max(0, int(np.ceil(np.log2(norm / 0.5)))) if norm > 0.5 else 0
    X = X / np.longdouble(2.0) ** s
    term = np.eye(len(X), dtype=np.longdouble)
    E = term.copy()
    for n in range(1, 25):
        term = term @ X / n
        E = E + term
    for _ in range(s):
        E = E @ E
    return E.astype(float)


def propagate(A, times, P0=PURE_ACTIVE):
    """P(t) = exp(A t) P0 at each of the times [MeV^-1] (shape (len(times), 3)): the exact
    solution of the constant-coefficient Bloch system, the independent "Bloch solver"."""
    return np.array([expm(A * t) @ P0 for t in np.atleast_1d(times)])


def conversion_probability(P_z):
    """P(ν_a → ν_s) = ½(1 − P_z/P₀(0)) with P₀(0) = 1 (eq. 3.12)."""
    return 0.5 * (1.0 - np.asarray(P_z))
