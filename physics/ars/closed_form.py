"""The evolution operator S of H̃ = Ĥ − iΓ/2 and the closed form of the density matrix
(docs/models/ars.md §2.3): i dS/dt = H̃ S, S(t₀, t₀) = 1, and

    ρ̃(t) = S ρ̃(t₀) S† + 1 − S S†,      ∂_{t₀}(S S†) = S Γ(t₀) S†,

so that n_3/n_eq = Σ_a ∫ dt₀ Γ_a |Σ_b U†_3b S_ba|² (eq. (8)) = 1 − (S^M S^M†)_33. The
propagation here is a fixed-step classical Runge–Kutta (numpy; units those of the caller's
H̃(t): [1/time]); it is the model's own cross-check of the System (qke targets ars, A2, A3).
"""

from __future__ import annotations

import numpy as np


def rk4(f, y0, t0, t1, steps):
    """y(t1) of dy/dt = f(t, y) from y(t0) = y0 by `steps` classical RK4 steps (any array y)."""
    y, t = np.array(y0, dtype=complex), float(t0)
    h = (t1 - t0) / steps
    for _ in range(steps):
        k1 = f(t, y)
        k2 = f(t + h / 2, y + h / 2 * k1)
        k3 = f(t + h / 2, y + h / 2 * k2)
        k4 = f(t + h, y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        t += h
    return y


def evolution_operator(H_tilde, t0, t1, steps):
    """S(t1, t0) [3×3 complex, non-unitary] of i dS/dt = H̃(t) S for the callable H̃(t)."""
    return rk4(lambda t, S: -1j * H_tilde(t) @ S, np.eye(3), t0, t1, steps)


def rho_closed_form(S, rho0=None):
    """ρ̃ = S ρ̃₀ S† + 1 − S S† (ρ̃₀ = 0 if None)."""
    S = np.asarray(S)
    out = np.eye(3) - S @ S.conj().T
    return out if rho0 is None else out + S @ rho0 @ S.conj().T


def sum_rule_residual(H_tilde, Gamma, t0, t1, steps, dt0):
    """max |∂_{t₀}(S S†) − S Γ(t₀) S†| / max |S Γ(t₀) S†| at S = S(t1, t0), the derivative by a
    central difference of half-width dt0 (relative truncation O(dt0²))."""
    def SSd(s0):
        S = evolution_operator(H_tilde, s0, t1, steps)
        return S @ S.conj().T
    S = evolution_operator(H_tilde, t0, t1, steps)
    rhs = S @ Gamma(t0) @ S.conj().T
    lhs = (SSd(t0 + dt0) - SSd(t0 - dt0)) / (2 * dt0)
    return float(np.max(np.abs(lhs - rhs)) / np.max(np.abs(rhs)))


def eq8_integrand(H_tilde, Gamma_diag, U, t_end, t0, steps):
    """Σ_a Γ_a(t₀) |Σ_b U†_3b S_ba(t_end, t₀)|² of eq. (8) (Yukawa-basis S, Γ_a(t₀) the
    diagonal rates)."""
    S = evolution_operator(H_tilde, t0, t_end, steps)
    row = U.conj().T[2] @ S
    return float(np.sum(Gamma_diag(t0) * np.abs(row) ** 2))
