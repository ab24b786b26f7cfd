"""Conversion rates of one active–sterile channel on a momentum grid (docs/models/pauli-boltzmann.md §2.5).

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

        ½Γ_αs = (amp / 2T⁷) / D,   D = d2 + s2/T¹² + u²,   u = xt + c/T⁶ ∓ vt·L^(α)/T²,

    (− for ν, + for ν̄) with amp = ¼ s² Γ_α/T⁵ [MeV^-4], d2 = (d/T⁶)² [MeV^-12], xt = −v^T/T⁶
    [MeV^-6] and vt = v^L/(L T⁴) [MeV^-4], so the rates at any T need no T-dependent arrays;
    `physics.pb_kernels` evaluates them.

    With cell averaging (the kernels' `cell` flag), 1/D is replaced by its mean over each point's
    momentum cell (half width hc in ln y; `pb_kernels._cell_mean_inv`), so a resonance narrower
    than the grid spacing converts what it converts across the cell, not its value at the point;
    point rates do not use hc.

    Args:
        channel: the channel's parameters.
        y: momentum grid p/T [dimensionless].
        half_cell: half width in ln y of each point's cell, (n_y,) or a scalar.
    """

    def __init__(self, channel: Channel, y: np.ndarray, half_cell=0.0):
        dm2 = channel.delta_m2_eV2 * c.EV2_TO_MEV2
        gk = c.G_F ** 2 * channel.k
        self.s2 = channel.sin2_2theta
        self.c = math.sqrt(1.0 - self.s2)
        self.amp = 0.25 * self.s2 * gk * y      # ¼ s² Γ_α / T⁵ [MeV^-4]
        d_T6 = gk * y * y / abs(dm2)            # d / T⁶ [MeV^-6]
        self.d2 = d_T6 * d_T6
        self.xt = channel.b * y * y / dm2       # −v^T / T⁶ [MeV^-6]
        self.vt = channel.a_L * y / dm2         # v^L / L, over T⁴ [MeV^-4]
        self.hc = np.broadcast_to(np.asarray(half_cell, dtype=float), y.shape).copy()
