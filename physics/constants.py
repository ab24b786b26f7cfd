"""Physical constants in natural units (MeV), as fixed by docs/models/diffusion-qke.md §1.

Every quantity here is in powers of MeV unless stated otherwise.
"""

G_F = 1.1663787e-11
"""Fermi constant [MeV^-2]."""

M_Z = 91187.6
"""Z boson mass [MeV]."""

M_PL = 1.22091e22
"""Planck mass [MeV]."""

ZETA3 = 1.2020569031595942
"""Riemann zeta(3) [dimensionless]."""

G_STAR_DEFAULT = 10.75
"""Relativistic degrees of freedom below the muon mass (e±, γ, 3ν) [dimensionless]."""

MEAN_P_OVER_T = 3.15
"""Thermal mean momentum <p>/T used by the paper [dimensionless] (exact: 3.1514)."""

HUBBLE_PREFACTOR = 1.66
"""H = 1.66 sqrt(g*) T^2 / M_Pl (radiation domination) [dimensionless prefactor]."""

EV2_TO_MEV2 = 1.0e-12
"""Conversion of a mass-squared difference from eV^2 to MeV^2."""

T_RES_PREFACTOR = 15.97
"""T_res = 15.97 (|δm²| cos 2θ / eV²)^(1/6) MeV (paper eq. 21 gives 16.0) [MeV]."""

D_COEFF = 1.4
"""Transverse damping D = 1.4 G_F² T⁵ [dimensionless prefactor]."""

GAMMA_TT_COEFF = 0.32
"""Repopulation rate Γ_ττ = 0.32 G_F² T⁵ [dimensionless prefactor]."""

THERMAL_POTENTIAL_COEFF = 17.8
"""Thermal potential −17.8 G_F N_γ <p> T / (2 M_Z²) [dimensionless prefactor]."""

# -- Pauli–Boltzmann model (Di Bari, Lipari & Lusignoli; docs/models/pauli-boltzmann.md §2.2,
#    §2.7): the paper's rounded constants, which reproduce its numbers (its a_L implies G_F
#    0.3 % below PDG).
PB_A_L = 8.014e-12
"""Asymmetry potential a_L = 2√2 G_F 2ζ(3)/π² [MeV^-2]: v^L = a_L T⁴ y L / δm²."""

PB_B_MU_TAU = 6.10e-21
"""Thermal potential b_μ = b_τ [MeV^-4]: v^T = −b T⁶ y² / δm²."""

PB_K_MU_TAU = 0.92
"""Collision rate Γ_α = G_F² k_α T⁵ y with k_μ = k_τ = 0.92 [dimensionless]."""

PB_ALPHA_H = 5.44
"""H = α_H T² / M_P with α_H = sqrt(π²/30 · 43/4 · 8π/3) [dimensionless]."""

PB_M_P = 1.22e22
"""Planck mass used by the paper [MeV]."""

PB_XI_PER_L = 12.0 * ZETA3 / 3.141592653589793 ** 2
"""Active chemical potential per lepton number, ξ_α = 12ζ(3)/π² L_να = 1.4615 L_να."""
