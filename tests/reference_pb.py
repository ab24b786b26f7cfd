"""Independent reference for the Pauli–Boltzmann model: SciPy Radau on a small momentum grid.

Written from model-pauli-boltzmann.md §2.5–2.9 and §3(B) alone (imports nothing from the
project): unknowns z_s(y_j), z̄_s(y_j) and L_να, independent variable u = ln(T_start/T), so
dz/du = (Γ/H)(z_α − z), H = α_H T²/M_P; dL_να/du = −(1/4ζ(3)) ∫ dy y² f⁰ (dz_s/du − dz̄_s/du).
Momentum integrals by the trapezoid rule in ln y, as the project's grid does, so both solve
the same discrete system; the project integrates cosmic time with Rodas4 and L as integrals of
z⁻ (the Woodbury-coupled implicit solve), the reference the full system with Radau.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp

G_F, K, B, A_L = 1.1663787e-11, 0.92, 6.10e-21, 8.014e-12        # MeV^-2, -, MeV^-4, MeV^-2
ALPHA_H, M_P, ZETA3 = 5.44, 1.22e22, 1.2020569031595942


def reference_run(delta_m2_eV2, s2, L_nu0, eta, y_min, y_max, n, T_start, T_out, rtol=1e-9):
    """L^(α)(T) and N_eff(T) at the temperatures T_out (descending) [MeV]."""
    u = np.linspace(math.log(y_min), math.log(y_max), n)
    y = np.exp(u)
    w = np.full(n, u[1] - u[0]) * y
    w[[0, -1]] *= 0.5
    f0 = 1.0 / (1.0 + np.exp(y))
    dm2 = delta_m2_eV2 * 1e-12
    c = math.sqrt(1.0 - s2)
    gk = G_F ** 2 * K

    kappa = 12.0 * ZETA3 / math.pi ** 2
    h = 1.0 / (1.0 + np.exp(-y))
    q = w * y * y * f0 / (4.0 * ZETA3)

    def parts(x, state):
        T = T_start * math.exp(-x)
        z, zb, L_nu = state[:n], state[n:2 * n], state[2 * n]
        L = 2.0 * L_nu + eta
        d = gk * T ** 6 * y * y / abs(dm2)
        vT = -B * T ** 6 * y * y / dm2
        vt = A_L * T ** 4 * y / dm2                                    # v^L / L
        amp = 0.25 * gk * T ** 5 * y * s2 / (ALPHA_H * T * T / M_P)    # ¼ Γ_α s² / H
        m, p = c - vT - vt * L, c - vT + vt * L
        G, Gb = amp / (s2 + d * d + m * m), amp / (s2 + d * d + p * p)
        gap, gapb = 1.0 + kappa * L_nu * h - z, 1.0 - kappa * L_nu * h - zb
        # ∂/∂L_να: through L = 2 L_να + η in the rates and through ξ in the actives
        dG, dGb = 2.0 * G * m * vt * 2.0 / (s2 + d * d + m * m), -2.0 * Gb * p * vt * 2.0 / (s2 + d * d + p * p)
        return G, Gb, gap, gapb, dG * gap + G * kappa * h, dGb * gapb - Gb * kappa * h

    def rhs(x, state):
        G, Gb, gap, gapb, _, _ = parts(x, state)
        dz, dzb = G * gap, Gb * gapb
        return np.concatenate([dz, dzb, [-np.sum(q * (dz - dzb))]])

    def jac(x, state):
        G, Gb, gap, gapb, dz_dL, dzb_dL = parts(x, state)
        J = np.zeros((2 * n + 1, 2 * n + 1))
        i = np.arange(n)
        J[i, i], J[n + i, n + i] = -G, -Gb
        J[:n, 2 * n], J[n:2 * n, 2 * n] = dz_dL, dzb_dL
        J[2 * n, :2 * n] = -np.concatenate([q * -G, -q * -Gb])
        J[2 * n, 2 * n] = -np.sum(q * (dz_dL - dzb_dL))
        return J

    x_out = np.log(T_start / np.asarray(T_out))
    atol = np.concatenate([np.full(2 * n, 1e-14), [1e-24]])
    sol = solve_ivp(rhs, (0.0, x_out[-1]), np.concatenate([np.zeros(2 * n), [L_nu0]]), method="Radau", jac=jac,
                    t_eval=x_out, rtol=rtol, atol=atol)
    assert sol.success, sol.message
    z, zb, L_nu = sol.y[:n], sol.y[n:2 * n], sol.y[2 * n]
    N_eff = 120.0 / (7.0 * math.pi ** 4) * np.sum((w * y ** 3 * f0)[:, None] * 0.5 * (z + zb), axis=0)
    return 2.0 * L_nu + eta, N_eff
