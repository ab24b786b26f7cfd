"""Physical constants in natural units (MeV), as fixed by model-diffusion-qke.md §1.

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
