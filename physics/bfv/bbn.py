"""Born-approximation n↔p rates on the ν momentum cells and the neutron fraction (note §7).

Not in the paper (which gives no formulas): the standard Born rates, no Coulomb, radiative or
finite-mass corrections, electrons Fermi–Dirac at T_γ with μ_e = 0, neutrinos at T_ν. Every
integral is a sum over the cells y_j (E_ν = y_j T_ν, dE_ν = T_ν Δ), with E_e = E_ν + Q
(nν→pe, pe→nν), E_e = E_ν − Q ≥ m_e (ne⁺→pν̄, pν̄→ne⁺) and E_e = Q − E_ν ≥ m_e (n→peν̄):

    λ_np = 𝒦 T_ν Δ Σ_j [A₁ f_ν (1 − f_e(E_ν+Q)) + A₂ f_e(E_ν−Q)(1 − f_ν̄) + A₃ (1 − f_e(Q−E_ν))(1 − f_ν̄)]
    λ_pn = 𝒦 T_ν Δ Σ_j [A₁ f_e(E_ν+Q)(1 − f_ν) + A₂ f_ν̄ (1 − f_e(E_ν−Q))]

with A = E_ν² E_e p_e of each process and 𝒦 = 1/(τ_n m_e⁵ λ₀), λ₀ = ∫₁^{Q/m_e} ε√(ε²−1)(Q/m_e−ε)² dε.
Rates in MeV. dX_n/dt = −λ_np X_n + λ_pn (1 − X_n); Y_P = 2 X_n at T_γ = T_nuc.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad

from physics.bfv.cells import dot

Q = 1.29333
"""m_n − m_p [MeV]."""

M_E = 0.51099895
"""Electron mass [MeV]."""

HBAR_MEV_S = 6.582119569e-22
"""ħ [MeV s]."""

LAMBDA0 = quad(lambda e: e * math.sqrt(e * e - 1.0) * (Q / M_E - e) ** 2, 1.0, Q / M_E,
               epsabs=0.0, epsrel=1e-13)[0]
"""Phase-space integral of neutron decay without Coulomb correction (1.6361) [dimensionless]."""


class BornRates:
    """n↔p rates for ν spectra on the cells `y` (width `dy`).

    Args: y, dy [dimensionless]; tau_n_s: neutron lifetime [s].
    """

    def __init__(self, y, dy, tau_n_s):
        self.y, self.dy = np.asarray(y), float(dy)
        self.K = HBAR_MEV_S / (tau_n_s * M_E ** 5 * LAMBDA0)   # 𝒦 [MeV⁻⁴]

    def kernels(self, T_nu, T_gamma):
        """Per-cell weights (a1, b1, a2, b2) [MeV] at (T_ν, T_γ) [MeV], with 𝒦 T_ν Δ folded in:
        λ_np = Σ [a1 f_ν + a2 (1 − f_ν̄)], λ_pn = Σ [b1 (1 − f_ν) + b2 f_ν̄];
        a1 = A₁(1 − f_e), b1 = A₁ f_e (E_ν+Q), a2 = A₂ f_e (E_ν−Q) + A₃ (1 − f_e(Q−E_ν)),
        b2 = A₂ (1 − f_e(E_ν−Q))."""
        E = self.y * T_nu
        c = self.K * T_nu * self.dy
        Ee1 = E + Q
        fe1 = 1.0 / (1.0 + np.exp(Ee1 / T_gamma))
        A1 = c * E * E * Ee1 * np.sqrt(Ee1 * Ee1 - M_E * M_E)
        Ee2 = E - Q
        ok2 = Ee2 > M_E
        Ee2 = np.where(ok2, Ee2, M_E)
        fe2 = 1.0 / (1.0 + np.exp(Ee2 / T_gamma))
        A2 = np.where(ok2, c * E * E * Ee2 * np.sqrt(Ee2 * Ee2 - M_E * M_E), 0.0)
        Ee3 = Q - E
        ok3 = Ee3 > M_E
        Ee3 = np.where(ok3, Ee3, M_E)
        fe3 = 1.0 / (1.0 + np.exp(Ee3 / T_gamma))
        A3 = np.where(ok3, c * E * E * Ee3 * np.sqrt(Ee3 * Ee3 - M_E * M_E), 0.0)
        return A1 * (1.0 - fe1), A1 * fe1, A2 * fe2 + A3 * (1.0 - fe3), A2 * (1.0 - fe2)

    @staticmethod
    def rates(k, f_nu, f_nubar):
        """(λ_np, λ_pn) [MeV] from the kernels k and the ν_e, ν̄_e occupations on the cells."""
        a1, b1, a2, b2 = k
        return (dot(a1, f_nu) + dot(a2, 1.0 - f_nubar), dot(b1, 1.0 - f_nu) + dot(b2, f_nubar))

    @staticmethod
    def derivatives(k, which):
        """(∂λ_np/∂f, ∂λ_pn/∂f) per cell for f the ν_e ('nu') or ν̄_e ('nubar') occupation."""
        a1, b1, a2, b2 = k
        return (a1, -b1) if which == "nu" else (-a2, b2)
