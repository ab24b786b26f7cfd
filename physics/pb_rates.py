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


class Parts(NamedTuple):
    """L-independent arrays of one channel at one T, each (2, n_y) (row 0: ν, row 1: ν̄):
    (½Γ_αs, ½Γ̄_αs) = half_amp / (base + (X + vts·L^(α))²).

    Attributes:
        half_amp: ½·¼ s² Γ_α [MeV]; base: s² + d²; X: c − v^T (rows equal);
        vts: (−ṽ, +ṽ), so that X + vts·L^(α) = (c − v^T − v^L, c − v^T + v^L), the ν and ν̄
            detunings [dimensionless per unit L];
        d2: d²; xt: −v^T (rows equal; for the T derivative).
    """

    half_amp: np.ndarray
    base: np.ndarray
    X: np.ndarray
    vts: np.ndarray
    d2: np.ndarray
    xt: np.ndarray


class ChannelRates:
    """Γ_αs, Γ̄_αs of one channel on a fixed grid y: the powers of T are factored out once, and
    `parts(T)` gives the L-independent arrays from which `physics.pb.PBSystem` forms the rates.

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
        both = np.ones((2, 1))
        self._amp_T5_2, self._d_T6_2, self._xt_T6_2 = self.amp_T5 * both, self.d_T6 * both, self.xt_T6 * both
        self._vts_T4 = np.stack((-self.vt_T4, self.vt_T4))

    def parts(self, T: float, out: Parts | None = None) -> Parts:
        """The L-independent arrays at temperature T [MeV], shared by every evaluation at T, in
        the stacked form (row 0: ν, row 1: ν̄; the rows of the L-even arrays are equal, stored
        twice because NumPy broadcasting is slower than plain element-wise operations on such
        short arrays); written into `out` (a Parts of (2, n_y) arrays) if given."""
        T2 = T * T
        T4 = T2 * T2
        T6 = T4 * T2
        if out is None:
            out = Parts(*np.empty((6,) + self._vts_T4.shape))
        np.multiply(self._amp_T5_2, 0.5 * T4 * T, out=out.half_amp)
        np.multiply(self._d_T6_2, T6, out=out.d2)
        np.multiply(out.d2, out.d2, out=out.d2)
        np.add(out.d2, self.s2, out=out.base)
        np.multiply(self._xt_T6_2, T6, out=out.xt)
        np.add(out.xt, self.c, out=out.X)
        np.multiply(self._vts_T4, T4, out=out.vts)
        return out
