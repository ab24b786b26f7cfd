"""Matter potentials of the BFV model: resonance momenta of the ν̄ channels and T_C.

Units: T [MeV], δm² [eV²] on input, K [MeV⁴]. With the a (asymmetry) term alone the ν̄_{τ,μ}–ν̄_s
and ν̄_{τ,μ}–ν̄_e resonances sit at y = p/T (paper's p₁, p₂; note §3.5)

    y₁ = K / (T⁴ (3 L_τ + L_e)),   y₂ = K / (T⁴ (L_τ − L_e)),   K = π² |δm²| / (4√2 ζ(3) G_F),

with L the lepton numbers per photon divided by h = T_ν³/T_γ³ when T is T_ν (note §6).
"""

from __future__ import annotations

import math

from physics import constants as c

A_MU_TAU = 4.9
"""Thermal-potential coefficient A_{τ,μ} ≃ 4.9 (paper, from Nötzold & Raffelt) [dimensionless]."""

M_W = 80.4e3
"""W mass [MeV] (the b term's M_W)."""

MEAN_Y = 3.15
"""⟨p⟩/T used by the paper [dimensionless]."""


def K_coefficient(delta_m2_eV2: float) -> float:
    """K = π²|δm²|/(4√2 ζ(3) G_F) [MeV⁴]: y_res T⁴ L^(res) = K (0.1244 MeV⁴ per eV²)."""
    return math.pi ** 2 * abs(delta_m2_eV2) * c.EV2_TO_MEV2 / (4.0 * math.sqrt(2.0) * c.ZETA3 * c.G_F)


def resonance_y(K: float, T: float, L_res: float) -> float:
    """y = p/T of the ν̄ resonance whose potential asymmetry is L_res [per photon/h] at T [MeV];
    inf when L_res ≤ 0 (no ν̄ resonance)."""
    return K / (T ** 4 * L_res) if L_res > 0 else math.inf


def y1(K: float, T: float, L_tau: float, L_e: float) -> float:
    """p₁/T of the ν̄_{τ,μ}–ν̄_s resonance: L^(τ) = 3 L_τ + L_e."""
    return resonance_y(K, T, 3.0 * L_tau + L_e)


def y2(K: float, T: float, L_tau: float, L_e: float) -> float:
    """p₂/T of the ν̄_{τ,μ}–ν̄_e resonance: L^(τ) − L^(e) = L_τ − L_e."""
    return resonance_y(K, T, L_tau - L_e)


def b_term(delta_m2_eV2: float, T: float, y: float, A: float = A_MU_TAU) -> float:
    """The thermal term b = 4√2 ζ(3) G_F A T⁶ y² / (π² |δm²| M_W²) [dimensionless] (positive
    for δm² < 0)."""
    return (4.0 * math.sqrt(2.0) * c.ZETA3 * c.G_F * A * T ** 6 * y * y
            / (math.pi ** 2 * abs(delta_m2_eV2) * c.EV2_TO_MEV2 * M_W ** 2))


def T_C(delta_m2_eV2: float, A: float = A_MU_TAU) -> float:
    """T_C [MeV]: ⟨b⟩ = 1 at y = ⟨p⟩/T = 3.15 (note §3.4; b ∝ T⁶, so closed form)."""
    return b_term(delta_m2_eV2, 1.0, MEAN_Y, A) ** (-1.0 / 6.0)
