"""Conversion rates of one active–sterile channel on a momentum grid (model-pauli-boltzmann.md §2.5).

    Γ_αs(y) = ¼ Γ_α s² / (s² + d² + (c − v^T − v^L)²),   Γ̄_αs: v^L → −v^L,

with the collision rate Γ_α = G_F² k T⁵ y, the damping d = G_F² k T⁶ y² / |δm²|, the thermal
potential v^T = −b T⁶ y² / δm² and the asymmetry potential v^L = a_L T⁴ y L^(α) / δm² (δm²
signed; the explicit ¼ form, not the paper's factor-2 typo). Rates are in MeV, T in MeV, y = p/T
dimensionless, L^(α) per photon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physics import constants as c


@dataclass(frozen=True)
class Channel:
    """Parameters of one ν_α–ν_s channel.

    Attributes:
        delta_m2_eV2: δm² = m_b² − m_a² [eV²], signed; < 0 means the active-like state is heavier.
        sin2_2theta: vacuum mixing s² = sin² 2θ₀ [dimensionless], c = +sqrt(1 − s²).
        b: thermal-potential coefficient [MeV^-4]; k: collision coefficient [dimensionless];
        a_L: asymmetry-potential coefficient [MeV^-2].
    """

    delta_m2_eV2: float
    sin2_2theta: float
    b: float = c.PB_B_MU_TAU
    k: float = c.PB_K_MU_TAU
    a_L: float = c.PB_A_L


class ChannelRates:
    """Γ_αs, Γ̄_αs of one channel on a fixed grid y, with the powers of T factored out once.

    Dividing the resonance denominator by T¹² leaves fixed arrays and scalar functions of T:

        ½Γ_αs = (a / 2T⁷) / D,   D = d̂² + s²/T¹² + u²,   u = x̂ + c/T⁶ + v̂·L^(α)/T²,

    with a = ¼ s² Γ_α/T⁵, d̂ = d/T⁶, x̂ = −v^T/T⁶ and v̂ = ∓v^L/(L T⁴) (row 0: ν, row 1: ν̄), so the
    rates at any T cost a few element-wise operations and no T-dependent arrays are stored
    (the stacked arrays are (2, n_y); the L-even rows are equal, stored twice because NumPy
    broadcasting is slower than plain element-wise operations on such short arrays).

    Args:
        channel: the channel's parameters.
        y: momentum grid p/T [dimensionless].
    """

    def __init__(self, channel: Channel, y: np.ndarray):
        dm2 = channel.delta_m2_eV2 * c.EV2_TO_MEV2
        gk = c.G_F ** 2 * channel.k
        self.s2 = channel.sin2_2theta
        self.c = math.sqrt(1.0 - self.s2)
        amp_T5 = 0.25 * self.s2 * gk * y      # ¼ s² Γ_α / T⁵ [MeV^-4]
        d_T6 = gk * y * y / abs(dm2)          # d / T⁶ [MeV^-6]
        xt_T6 = channel.b * y * y / dm2       # −v^T / T⁶ [MeV^-6]
        vt_T4 = channel.a_L * y / dm2         # ṽ = v^L / L, over T⁴ [MeV^-4]
        both = np.ones((2, 1))
        self.amp = amp_T5 * both
        self.d2 = d_T6 * d_T6 * both
        self.xt = xt_T6 * both
        self.vts = np.stack((-vt_T4, vt_T4))

    def scaled_rates(self, T: float, L: float, u: np.ndarray, out: np.ndarray) -> np.ndarray:
        """a/D (ν, ν̄) [MeV^8] into out (2, n_y) and the scaled detunings u [dimensionless] into u
        (2, n_y), at temperature T [MeV] and potential asymmetry L [per photon]; (½Γ_αs, ½Γ̄_αs)
        [MeV] = half_rate_factor(T) · out, a factor callers fold into a later product. Returns out."""
        T6 = (T * T) ** 3
        np.multiply(self.vts, L / (T * T), out=u)
        u += self.xt
        u += self.c / T6
        np.multiply(u, u, out=out)
        out += self.d2
        out += self.s2 / (T6 * T6)
        np.divide(self.amp, out, out=out)
        return out


def half_rate_factor(T: float) -> float:
    """1/(2T⁷) [MeV^-7]: (½Γ_αs, ½Γ̄_αs) = half_rate_factor(T) · ChannelRates.scaled_rates."""
    return 0.5 / (T ** 7)
