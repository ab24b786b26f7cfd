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
from typing import NamedTuple

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


class Rates(NamedTuple):
    """Γ, Γ̄ on the grid [MeV]; with derivatives: ∂/∂L^(α) [MeV] and T ∂/∂T [MeV]."""

    G: np.ndarray
    Gb: np.ndarray
    dG_dL: np.ndarray | None = None
    dGb_dL: np.ndarray | None = None
    T_dG_dT: np.ndarray | None = None
    T_dGb_dT: np.ndarray | None = None


class ChannelRates:
    """Γ_αs, Γ̄_αs of one channel on a fixed grid y; the powers of T are factored out once.

    Args:
        channel: the channel's parameters.
        y: momentum grid p/T [dimensionless].
    """

    def __init__(self, channel: Channel, y: np.ndarray):
        dm2 = channel.delta_m2_eV2 * c.EV2_TO_MEV2
        gk = c.G_F ** 2 * channel.k
        self.s2 = channel.sin2_2theta
        self.c = math.sqrt(1.0 - self.s2)
        self.amp_T5 = 0.25 * self.s2 * gk * y      # ¼ s² Γ_α / T⁵ [MeV^-4]
        self.d_T6 = gk * y * y / abs(dm2)          # d / T⁶ [MeV^-6]
        self.xt_T6 = channel.b * y * y / dm2       # −v^T / T⁶ [MeV^-6]
        self.vt_T4 = channel.a_L * y / dm2         # ṽ = v^L / L, over T⁴ [MeV^-4]

    def at(self, T: float, L: float, derivatives: bool = False) -> Rates:
        """Rates at temperature T [MeV] and asymmetry L^(α) [per photon]."""
        T2 = T * T
        T4 = T2 * T2
        T6 = T4 * T2
        amp = self.amp_T5 * (T4 * T)
        d2 = self.d_T6 * T6
        d2 *= d2
        xt = self.xt_T6 * T6                       # X − c, X = c − v^T
        X = xt + self.c
        vt = self.vt_T4 * T4
        vL = vt * L
        m, p = X - vL, X + vL
        base = self.s2 + d2
        den, denb = base + m * m, base + p * p
        G, Gb = amp / den, amp / denb
        if not derivatives:
            return Rates(G, Gb)
        # ∂Γ/∂L = 2Γ m ṽ/den; T∂Γ/∂T = Γ [5 − (12 d² + 2 m T∂m/∂T)/den], T∂m/∂T = 6(X − c) ∓ 4 v^L
        twelve_d2 = 12.0 * d2
        return Rates(G, Gb, 2.0 * G * m * vt / den, -2.0 * Gb * p * vt / denb,
                     G * (5.0 - (twelve_d2 + 2.0 * m * (6.0 * xt - 4.0 * vL)) / den),
                     Gb * (5.0 - (twelve_d2 + 2.0 * p * (6.0 * xt + 4.0 * vL)) / denb))
