"""Lepton number ↔ chemical potentials (paper eq. robo; note §5.1–5.2).

Sign convention of the paper: f_ν̄ = 1/(1 + e^{y + μ̃_ν̄}), so L > 0 means μ̃_ν̄ > 0 (fewer ν̄).
μ̃ = μ/T [dimensionless]; L per photon [dimensionless]. With the ν chemical potential μ̃_ν,

    L = −[π²(μ̃_ν − μ̃_ν̄) − 6 ln2 (μ̃_ν² − μ̃_ν̄²) + (μ̃_ν³ − μ̃_ν̄³)] / (24 ζ(3)).

Above chemical decoupling μ̃_ν = −μ̃_ν̄ (exact: L = (π² m + m³)/(12 ζ3)); below it μ̃_ν = 0
(L = (π² m − 6 ln2 m² + m³)/(24 ζ3)). Both cubics are monotonic in m, solved by Newton.
"""

from __future__ import annotations

import math

from physics.constants import ZETA3

LN2 = math.log(2.0)


def L_of_mu(mu_nu: float, mu_nubar: float) -> float:
    """L per photon of eq. robo from μ̃_ν, μ̃_ν̄ [dimensionless]."""
    return -(math.pi ** 2 * (mu_nu - mu_nubar) - 6.0 * LN2 * (mu_nu ** 2 - mu_nubar ** 2)
             + (mu_nu ** 3 - mu_nubar ** 3)) / (24.0 * ZETA3)


def mu_nubar(L: float, equilibrium: bool) -> float:
    """μ̃_ν̄ solving eq. robo for L [per photon]; equilibrium: μ̃_ν = −μ̃_ν̄ (above decoupling),
    else μ̃_ν = 0. Newton from the linear solution; the cubics have no turning point."""
    if equilibrium:
        def g(m): return (math.pi ** 2 * m + m ** 3) / (12.0 * ZETA3) - L
        def dg(m): return (math.pi ** 2 + 3.0 * m * m) / (12.0 * ZETA3)
        m = 12.0 * ZETA3 * L / math.pi ** 2
    else:
        def g(m): return (math.pi ** 2 * m - 6.0 * LN2 * m * m + m ** 3) / (24.0 * ZETA3) - L
        def dg(m): return (math.pi ** 2 - 12.0 * LN2 * m + 3.0 * m * m) / (24.0 * ZETA3)
        m = 24.0 * ZETA3 * L / math.pi ** 2
    for _ in range(60):
        step = g(m) / dg(m)
        m -= step
        if abs(step) <= 1e-15 * max(1.0, abs(m)):
            break
    return m
