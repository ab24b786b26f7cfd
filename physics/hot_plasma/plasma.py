"""Potentials and rates of one active–sterile pair in the plasma at a temperature T [MeV]
(paper 003 §2.3, §3, §5; docs/models/hot-plasma.md §1.1).

Convention (the paper's eq. 3.7): Δ = Δm²/(2k) with Δm² = m₁² − m₂², where ν₁ is the mostly
sterile state at small mixing; V_x = Δ sin2θ₀, V_z = V^(vec) − Δ cos2θ₀. V^(vec) < 0 (the
non-local thermal term, no asymmetry), so Δm² > 0 (sterile heavier) is the non-resonant branch
the paper's bounds use, Δm² < 0 has an MSW resonance where V_z = 0. One momentum mode,
k = ⟨p⟩ = 3.15 T. Every rate and potential is in MeV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from physics import constants as c

V_VEC_COEFF = 3.4e-20
"""|V^(vec)| = 3.4e-20 (T/MeV)⁵ MeV, as printed (eq. 2.6) [MeV^-4]."""

N_GAMMA_COEFF = 0.244
"""n_γ = 0.244 T³ (the paper's rounding of 2ζ(3)/π²) [dimensionless]."""

A_THERMAL = 55.0
"""A in V^(vec) = √2 G_F n_γ [n_asym − A T²/M_W²] for ν_e [dimensionless]."""

M_W = 80_400.0
"""W boson mass [MeV] (only for re-deriving V_VEC_COEFF)."""

GAMMA_W_COEFF = 4.0
"""Γ_W = 4.0 G_F² T⁵ (paper §5) [dimensionless]."""

M_E = 0.51099895
"""Electron mass [MeV]."""

C_A_NU_E = -0.5
"""Axial coupling c_A of ν_e in the weak lepton current (ν_μ,τ: +0.5)."""


def thermal_potential(T):
    """V^(vec)(T) = −3.4e-20 (T/MeV)⁵ [MeV] (eq. 2.6, negative without an asymmetry)."""
    return -V_VEC_COEFF * T ** 5


def thermal_potential_coefficient():
    """√2 G_F · 0.244 · A / M_W² [MeV^-4]: the coefficient (2.6) re-derived (3.43e-20)."""
    return math.sqrt(2.0) * c.G_F * N_GAMMA_COEFF * A_THERMAL / M_W ** 2


def collision_rate(T):
    """Γ_W = ⟨D⟩ = 4.0 G_F² T⁵ [MeV] (paper §5)."""
    return GAMMA_W_COEFF * c.G_F ** 2 * T ** 5


def mu_eff_coefficient(c_A=C_A_NU_E):
    """μ_eff / (μ_B T/MeV) = e G_F (−2c_A) T ln2/(√2 π² μ_B T) = −2c_A · 2m_e G_F ln2/(√2π²)
    [dimensionless]; the paper prints −12 c_A × 10⁻¹³."""
    return -2.0 * c_A * 2.0 * M_E * c.G_F * math.log(2.0) / (math.sqrt(2.0) * math.pi ** 2)


def hubble(T, g_star=c.G_STAR_DEFAULT):
    """H = 1.66 √g* T²/M_Pl [MeV] (radiation era; not in the paper, which takes Γ_W/H ≈ T³)."""
    return c.HUBBLE_PREFACTOR * math.sqrt(g_star) * T * T / c.M_PL


def gamma_min(T, p, B0_over_T0sq=1.0):
    """Γ_min(T) [MeV], eq. (5.1) as printed with its factor B_rms²/10²⁴ G read as 1: the
    magnetic damping of the random field at the smallest domain L₀ = L₀^min = 10³ cm (MeV/T)."""
    return (3.5 * 2.3 ** (2 * p) / (math.pi * (3 - 2 * p)) * 10.0 ** (-12 - 16 * p)
            * T ** (5 + 2 * p) * B0_over_T0sq ** 2)


@dataclass(frozen=True)
class Rates:
    """The constant coefficients of the Bloch system at one temperature [MeV].

    Attributes:
        V_x: off-diagonal potential Δ sin2θ₀.
        V_z: diagonal potential V^(vec) − Δ cos2θ₀.
        Gamma_W: collisional damping ⟨D⟩ of P_x and P_y.
        Gamma: magnetic damping of the random field (the extra 2Γ on P_y).
    """

    V_x: float
    V_z: float
    Gamma_W: float
    Gamma: float = 0.0

    @property
    def delta_m(self):
        """Δ_m = √(V_x² + V_z²) [MeV] (eq. 3.11)."""
        return math.hypot(self.V_x, self.V_z)


def plasma_rates(T, delta_m2_eV2, sin2_2theta, Gamma=0.0, mean_p_over_T=c.MEAN_P_OVER_T):
    """The Rates of a ν_e–ν_s pair at temperature T [MeV] with Δm² = m₁² − m₂² [eV²],
    sin²2θ₀ and magnetic damping Γ [MeV]."""
    delta = delta_m2_eV2 * c.EV2_TO_MEV2 / (2.0 * mean_p_over_T * T)
    s = math.sqrt(sin2_2theta)
    return Rates(V_x=delta * s, V_z=thermal_potential(T) - delta * math.sqrt(1.0 - sin2_2theta),
                 Gamma_W=collision_rate(T), Gamma=Gamma)
