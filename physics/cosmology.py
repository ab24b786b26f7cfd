"""Radiation-dominated expansion with constant g*: H(T), t(T), T(t).

Units: T in MeV, t in MeV^-1, H in MeV. With constant g*, H = a T² and dT/dt = −H T
integrate to t = 1/(2H) exactly (t = 0 at T = ∞), which this module uses both ways.
"""

from __future__ import annotations

import math

from physics import constants as c


class Cosmology:
    """Expansion history for a constant number of relativistic degrees of freedom.

    Args:
        g_star: relativistic degrees of freedom [dimensionless].
        hubble_coeff: H / T² [MeV^-1]; default 1.66 sqrt(g*) / M_Pl.
    """

    def __init__(self, g_star: float = c.G_STAR_DEFAULT, hubble_coeff: float | None = None):
        self.g_star = float(g_star)
        self.hubble_coeff = (c.HUBBLE_PREFACTOR * math.sqrt(self.g_star) / c.M_PL
                             if hubble_coeff is None else float(hubble_coeff))
        """H / T² [MeV^-1]."""

    def hubble(self, T):
        """Hubble rate H(T) [MeV] for T in MeV."""
        return self.hubble_coeff * T * T

    def time(self, T):
        """Cosmic time t(T) = 1/(2 H(T)) [MeV^-1]."""
        return 0.5 / (self.hubble_coeff * T * T)

    def temperature(self, t):
        """Temperature T(t) [MeV] for cosmic time t [MeV^-1]."""
        return (0.5 / (self.hubble_coeff * t)) ** 0.5

    @staticmethod
    def photon_density(T):
        """Photon number density N_γ = 2 ζ(3) T³ / π² [MeV³]."""
        return 2.0 * c.ZETA3 * T ** 3 / math.pi ** 2
