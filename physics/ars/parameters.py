"""The ARS model's couplings and rates, and the paper's closed formulas (docs/models/ars.md §2).

Deck quantities are in GeV (masses, M*), as in the paper; the System works in MeV (time t in
MeV⁻¹, T in MeV, rates in MeV). In the mass basis (docs/models/ars.md §2.2):

    Ĥ = D/T + W T,   Γ = G T,   D = diag(M_i² − M_1²)/(2 c_k),   W = U† diag(h_a²) U / 8,
    G = (9 h_t²/64π³) U† diag(h_a²) U,   sin φ = Γ_a / 2V_a = 9 h_t²/(16π³),

with k = c_k T (c_k = physics.k_over_T) and H = T²/M*, t = M*/(2T²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physics.ars.mixing import jarlskog, pdg_matrix, to_mass_basis

GEV = 1e3
"""MeV per GeV."""

GAMMA_THIRD = math.gamma(1.0 / 3.0)
"""Γ(1/3) = 2.6789385…"""

EQ12_COEFFICIENT = GAMMA_THIRD ** 3 / 384.0
"""The coefficient Γ(1/3)³/384 = 0.050067 of the paper's eq. (12)."""

T_EW_GEV = 100.0
"""Sphaleron freeze-out temperature T_EW [GeV], where the paper reads the asymmetry."""


def sin_phi(h_t=1.0):
    """sin φ = Γ_a/(2 V_a) = 9 h_t²/(16 π³) [dimensionless] (0.018143 for h_t = 1)."""
    return 9.0 * h_t ** 2 / (16.0 * math.pi ** 3)


def gamma_over_T(h2, h_t=1.0):
    """Γ_a/T = (9 h_t²/64π³) h_a² [dimensionless] (the paper's eq. (4))."""
    return 9.0 * h_t ** 2 / (64.0 * math.pi ** 3) * np.asarray(h2, dtype=float)


def equilibration_threshold(T_GeV=T_EW_GEV, M_star_GeV=1e18, h_t=1.0):
    """The h² with Γ_a = H at T [dimensionless]: Γ_a/H = (9 h_t²/64π³) h² M*/T (2.2e-14 at
    T = 100 GeV, M* = 1e18 GeV)."""
    return T_GeV / (float(gamma_over_T(1.0, h_t)) * M_star_GeV)


@dataclass(frozen=True)
class ARSParameters:
    """One parameter point of the model (the deck's physics section).

    Attributes:
        h2: (h_A², h_B², h_C²), real Yukawa couplings squared [dimensionless].
        M_GeV: M_1, the mass of N_1 [GeV] (only mass-squared differences enter the equations).
        dM2_12_GeV2, dM2_13_GeV2: ΔM_12² = M_1² − M_2², ΔM_13² = M_1² − M_3² [GeV²].
        theta12, theta13, theta23, delta: PDG angles and CP phase of U [rad].
        h_t: top Yukawa coupling [dimensionless].
        M_star_GeV: M*_Pl in H = T²/M*_Pl [GeV].
        k_over_T: c_k in the one momentum k = c_k T the equations follow [dimensionless].
    """

    h2: tuple
    M_GeV: float
    dM2_12_GeV2: float
    dM2_13_GeV2: float
    theta12: float
    theta13: float
    theta23: float
    delta: float
    h_t: float = 1.0
    M_star_GeV: float = 1e18
    k_over_T: float = 1.0

    # -- mixing and rates ---------------------------------------------------------------------
    @property
    def U(self):
        """The PDG mixing matrix (rows A, B, C; columns 1, 2, 3)."""
        return pdg_matrix(self.theta12, self.theta13, self.theta23, self.delta)

    @property
    def J(self):
        """The CP-odd invariant J [dimensionless]."""
        return float(jarlskog(self.theta12, self.theta13, self.theta23, self.delta))

    @property
    def sin_phi(self):
        """sin φ [dimensionless]."""
        return sin_phi(self.h_t)

    @property
    def M_star_MeV(self):
        """M* [MeV]."""
        return self.M_star_GeV * GEV

    @property
    def mass_splittings_MeV2(self):
        """M_i² − M_1², i = 1, 2, 3 [MeV²]."""
        return np.array([0.0, -self.dM2_12_GeV2, -self.dM2_13_GeV2]) * GEV ** 2

    def mass_basis_matrices(self, antiparticle=False):
        """(D [MeV²], W, G [dimensionless]), so that in the mass basis Ĥ = D/T + W T and
        Γ = G T (T in MeV); the antiparticle's (δ → −δ) are W*, G* (D is real)."""
        U = self.U.conj() if antiparticle else self.U
        D = np.diag(self.mass_splittings_MeV2 / (2.0 * self.k_over_T)).astype(complex)
        W = to_mass_basis(U, np.asarray(self.h2) / 8.0)
        G = to_mass_basis(U, gamma_over_T(self.h2, self.h_t))
        return D, W, G

    def hubble_MeV(self, T_MeV):
        """H = T²/M* [MeV] at T [MeV]."""
        return T_MeV * T_MeV / self.M_star_MeV

    # -- the paper's closed formulas (GeV) ------------------------------------------------------
    @property
    def yukawa_product(self):
        """h_AC² h_AB² h_BC² with h_ab² = h_a² − h_b² [dimensionless]."""
        a, b, c = self.h2
        return (a - c) * (a - b) * (b - c)

    def eq12(self):
        """|Δ_L| of the paper's eq. (12) [per photon]: Γ(1/3)³/384 J sin φ |h_AC² h_AB² h_BC²|
        M*²/(|ΔM_13²|^{1/3} |ΔM_12²|^{2/3})."""
        return (EQ12_COEFFICIENT * abs(self.J) * self.sin_phi * abs(self.yukawa_product) * self.M_star_GeV ** 2
                / (abs(self.dM2_13_GeV2) ** (1 / 3) * abs(self.dM2_12_GeV2) ** (2 / 3)))

    def lam(self):
        """λ = max|h_ab²|/8 (M*²/|ΔM_12²|)^{1/3}, eq. (10) [dimensionless]."""
        a, b, c = self.h2
        return max(abs(a - b), abs(a - c), abs(b - c)) / 8.0 * (self.M_star_GeV ** 2 / abs(self.dM2_12_GeV2)) ** (1 / 3)

    def T_L_GeV(self):
        """T_L ∼ (M* |ΔM_12²|)^{1/3} [GeV], the leptogenesis epoch."""
        return (self.M_star_GeV * abs(self.dM2_12_GeV2)) ** (1 / 3)

    # -- the dimensionless problem (docs/models/ars.md §2.4) ------------------------------------
    @property
    def epsilon(self):
        """ε = ΔM_13²/|ΔM_12²| [dimensionless]."""
        return self.dM2_13_GeV2 / abs(self.dM2_12_GeV2)

    @property
    def g(self):
        """g with y_a = g h_a²: (1/12)(3 c_k)^{1/3} c_t^{2/3} (M*²/|ΔM_12²|)^{1/3}, c_t = 1/2."""
        return ((3.0 * self.k_over_T) ** (1 / 3) * 0.5 ** (2 / 3) / 12.0
                * (self.M_star_GeV ** 2 / abs(self.dM2_12_GeV2)) ** (1 / 3))

    def v_of_T(self, T_MeV):
        """The dimensionless time v = ω₀ t^{3/2} at T [MeV]: v = |ΔM_12²| M*/(6 c_k T³) for
        c_t = 1/2 (the 1–2 oscillation phase since T = ∞)."""
        T = np.asarray(T_MeV, dtype=float) / GEV
        return abs(self.dM2_12_GeV2) * self.M_star_GeV / (6.0 * self.k_over_T * T ** 3)
