"""Momentum-averaged QKE for ν_τ–ν_s oscillations: the local (per-site) part.

Implements docs/models/diffusion-qke.md §1–3 (paper eq. 18 without the diffusion terms):
for each site the 8 real fields P_μ^± = P_μ ± P̄_μ, μ ∈ {0, x, y, z}, evolve as

    dP0⁺/dt = 2C                    dP0⁻/dt = 0
    dPz⁺/dt = V_x Py⁺ + 2C           dPz⁻/dt = V_x Py⁻
    dPx^±/dt = −V0 Py^± − V_L Py^∓ − D Px^±
    dPy^±/dt =  V0 Px^± + V_L Px^∓ − D Py^± − V_x Pz^±

with V_L = k_L L, L = L0 + (3/8)(P0⁻ + Pz⁻) and C = Γ [1 − ((P0⁺+Pz⁺)² − (P0⁻+Pz⁻)²)/16].
The asymmetry is always built from the "minus" fields, never as P − P̄.

Arrays: a state is shaped (8, *grid) in the order of FIELDS; rates are in MeV, the time
variable is cosmic time t in MeV^-1. The right-hand side is linear in the five
temperature-dependent coefficients (V_x, V0, k_L, D, Γ) at fixed state, which gives ∂f/∂t
exactly by evaluating it with the coefficients' time derivatives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lattice.model import Diffusion, FusedCell, JacobianTerms, LineKernels, SiteKernels, System

from physics import constants as c
from physics.cosmology import Cosmology

FIELDS = ("P0p", "P0m", "Pxp", "Pxm", "Pyp", "Pym", "Pzp", "Pzm")
P0P, P0M, PXP, PXM, PYP, PYM, PZP, PZM = range(8)
N_FIELDS = len(FIELDS)
MINUS_FIELDS = (P0M, PXM, PYM, PZM)
"""Fields odd under L → −L (particle minus antiparticle)."""


def _pattern(*entries):
    m = np.zeros((N_FIELDS, N_FIELDS))
    for row, col, value in entries:
        m[row, col] += value
    return m


_JACOBIAN_PATTERNS = {
    "D": _pattern((PXP, PXP, -1), (PXM, PXM, -1), (PYP, PYP, -1), (PYM, PYM, -1)),
    "V0": _pattern((PXP, PYP, -1), (PXM, PYM, -1), (PYP, PXP, 1), (PYM, PXM, 1)),
    "Vx": _pattern((PYP, PZP, -1), (PYM, PZM, -1), (PZP, PYP, 1), (PZM, PYM, 1)),
    "VL": _pattern((PXP, PYM, -1), (PXM, PYP, -1), (PYP, PXM, 1), (PYM, PXP, 1)),
    "C_plus": _pattern(*[(r, c_, 1) for r in (P0P, PZP) for c_ in (P0P, PZP)]),
    "C_minus": _pattern(*[(r, c_, 1) for r in (P0P, PZP) for c_ in (P0M, PZM)]),
    "dVL_Pym": _pattern((PXP, P0M, -1), (PXP, PZM, -1)),
    "dVL_Pyp": _pattern((PXM, P0M, -1), (PXM, PZM, -1)),
    "dVL_Pxm": _pattern((PYP, P0M, 1), (PYP, PZM, 1)),
    "dVL_Pxp": _pattern((PYM, P0M, 1), (PYM, PZM, 1)),
}
"""Fixed 8×8 structures of the Jacobian, weighted by rates or per-site scalars."""
_SITE_PATTERNS = ("VL", "C_plus", "C_minus", "dVL_Pym", "dVL_Pyp", "dVL_Pxm", "dVL_Pxp")
"""The patterns weighted by per-site scalars, in the order of QKELocal.jacobian_terms."""


@dataclass(frozen=True)
class MixingParameters:
    """Oscillation and plasma parameters of one ν_τ–ν_s model.

    Attributes:
        delta_m2_eV2: mass-squared difference m²₂ − m²₁ [eV²]; negative gives the L instability.
        sin2_2theta: vacuum mixing sin² 2θ [dimensionless], 0 < value ≤ 1, θ < π/4.
        g_star: relativistic degrees of freedom [dimensionless].
        mean_p_over_T: thermal mean momentum <p>/T [dimensionless].
        sterile_elastic_fraction: ε = Γ^el_ss / Γ^el_ττ [dimensionless] (diffusion regulator).
    """

    delta_m2_eV2: float
    sin2_2theta: float
    g_star: float = c.G_STAR_DEFAULT
    mean_p_over_T: float = c.MEAN_P_OVER_T
    sterile_elastic_fraction: float = 0.1

    @property
    def delta_m2(self) -> float:
        """δm² [MeV²]."""
        return self.delta_m2_eV2 * c.EV2_TO_MEV2

    @property
    def sin_2theta(self) -> float:
        """sin 2θ [dimensionless]."""
        return math.sqrt(self.sin2_2theta)

    @property
    def cos_2theta(self) -> float:
        """cos 2θ ≥ 0 [dimensionless]."""
        return math.sqrt(1.0 - self.sin2_2theta)

    def resonance_temperature(self) -> float:
        """T_res = 15.97 (|δm²| cos 2θ / eV²)^(1/6) [MeV] (paper eq. 21)."""
        return c.T_RES_PREFACTOR * (abs(self.delta_m2_eV2) * self.cos_2theta) ** (1.0 / 6.0)


class LocalCoefficients(NamedTuple):
    """Temperature-dependent rates of the local equations, all in MeV.

    Attributes:
        Vx: V_x = (δm²/2<p>) sin 2θ.
        V0: V0 = −(δm²/2<p>) cos 2θ − 17.8 G_F N_γ <p> T / (2 M_Z²).
        kL: V_L / L = √2 G_F N_γ.
        D: transverse damping 1.4 G_F² T⁵.
        Gamma: repopulation rate Γ_ττ = 0.32 G_F² T⁵.
    """

    Vx: float
    V0: float
    kL: float
    D: float
    Gamma: float


class QKELocal(System):
    """Local part of the momentum-averaged QKE on any number of sites.

    Args:
        params: mixing and plasma parameters.
        L0: frozen background asymmetry L0 [per photon], scalar or array of the grid shape.
        xp: array module of the states (numpy, or cupy for a lattice on a GPU): the Jacobian's
            fixed patterns are made in it once.
    """

    n_fields = N_FIELDS
    field_names = FIELDS
    field_units = "dimensionless (Bloch components, P = P_nu ± P_nubar)"
    wall_field = "L"
    """A lattice run counts sign changes of L between neighbouring cells (domain walls)."""
    locally_constant = (P0M,)
    """dP0⁻/dt = 0 locally (annihilations treat ν and ν̄ alike); only diffusion moves P0⁻."""

    def __init__(self, params: MixingParameters, L0, xp=np):
        self.params = params
        self.L0 = L0
        self._patterns = {name: xp.asarray(p) for name, p in _JACOBIAN_PATTERNS.items()}   # in xp, once
        self._site_patterns = xp.asarray(np.stack([_JACOBIAN_PATTERNS[name] for name in _SITE_PATTERNS]))
        self.cosmology = Cosmology(params.g_star)
        n_gamma_per_T3 = 2.0 * c.ZETA3 / math.pi ** 2
        vac_T = params.delta_m2 / (2.0 * params.mean_p_over_T)        # δm²/(2<p>) · T  [MeV²]
        self._vx_T = vac_T * params.sin_2theta                        # V_x · T
        self._v0vac_T = -vac_T * params.cos_2theta                    # vacuum part of V0 · T
        self._v0th_T5 = (-c.THERMAL_POTENTIAL_COEFF * c.G_F * n_gamma_per_T3 * params.mean_p_over_T
                         / (2.0 * c.M_Z ** 2))                        # thermal part of V0 / T⁵
        self._kL_T3 = math.sqrt(2.0) * c.G_F * n_gamma_per_T3         # k_L / T³
        self._D_T5 = c.D_COEFF * c.G_F ** 2                           # D / T⁵
        self._G_T5 = c.GAMMA_TT_COEFF * c.G_F ** 2                    # Γ / T⁵

    # -- coefficients: each is a power law in T ------------------------------------------------
    def coefficients(self, T: float) -> LocalCoefficients:
        """Rates at temperature T [MeV] (see LocalCoefficients)."""
        inv_T, T3 = 1.0 / T, T * T * T
        T5 = T3 * T * T
        return LocalCoefficients(self._vx_T * inv_T, self._v0vac_T * inv_T + self._v0th_T5 * T5,
                                 self._kL_T3 * T3, self._D_T5 * T5, self._G_T5 * T5)

    def coefficient_rates(self, T: float) -> LocalCoefficients:
        """Time derivatives of the rates, d/dt at fixed state [MeV²].

        Each rate is a power law T^n and dT/dt = −H T, so d(T^n)/dt = −n H T^n:
        vacuum terms n = −1, thermal potential n = 5, k_L n = 3, D and Γ n = 5.
        """
        H = self.cosmology.hubble(T)
        inv_T, T3 = 1.0 / T, T * T * T
        T5 = T3 * T * T
        return LocalCoefficients(H * self._vx_T * inv_T,
                                 H * (self._v0vac_T * inv_T - 5.0 * self._v0th_T5 * T5),
                                 -3.0 * H * self._kL_T3 * T3, -5.0 * H * self._D_T5 * T5,
                                 -5.0 * H * self._G_T5 * T5)

    def temperature(self, t: float) -> float:
        """T [MeV] at cosmic time t [MeV^-1]."""
        return self.cosmology.temperature(t)

    # -- observables ----------------------------------------------------------------------
    @staticmethod
    def L_nutau(y):
        """ν_τ asymmetry per photon, (3/16)(P0⁻ + Pz⁻)."""
        return 0.1875 * (y[P0M] + y[PZM])

    def asymmetry(self, y):
        """Effective asymmetry L = L0 + 2 L_ντ [per photon]."""
        return self.L0 + 0.375 * (y[P0M] + y[PZM])

    def derived_fields(self, y):
        """L [per photon], stored in snapshots beside the eight fields."""
        return {"L": self.asymmetry(y)}

    @property
    def cell_field(self):
        """The seed L0 per cell [per photon] (grid doubling coarsens it in place)."""
        return self.L0

    @staticmethod
    def sterile_density(y):
        """ρ_ss + ρ̄_ss = (P0⁺ − Pz⁺)/2 [units of the equilibrium active density]."""
        return 0.5 * (y[P0P] - y[PZP])

    @staticmethod
    def active_density(y):
        """ρ_ττ + ρ̄_ττ = (P0⁺ + Pz⁺)/2 [units of the equilibrium active density]."""
        return 0.5 * (y[P0P] + y[PZP])

    @staticmethod
    def initial_state(grid_shape=()) -> np.ndarray:
        """All active, no sterile, no coherence: P0⁺ = Pz⁺ = 2, the rest 0."""
        y = np.zeros((N_FIELDS,) + tuple(grid_shape))
        y[P0P] = 2.0
        y[PZP] = 2.0
        return y

    # -- right-hand side --------------------------------------------------------------------
    def rhs(self, y, k: LocalCoefficients, out=None):
        """f(y) for rates k; pass coefficient_rates(T) as k to get ∂f/∂t. Shape of y."""
        if out is None:
            out = np.empty_like(y)
        VL = k.kL * self.asymmetry(y)
        s_plus = y[P0P] + y[PZP]
        s_minus = y[P0M] + y[PZM]
        two_C = (2.0 * k.Gamma) * (1.0 - 0.0625 * (s_plus * s_plus - s_minus * s_minus))
        x, x_swapped = y[PXP:PXM + 1], y[PXM:PXP - 1 if PXP else None:-1]   # (Px+, Px-), (Px-, Px+)
        yy, yy_swapped = y[PYP:PYM + 1], y[PYM:PYP - 1:-1]                  # (Py+, Py-), (Py-, Py+)
        z = y[PZP:PZM + 1]
        out[P0P] = two_C
        out[P0M] = 0.0
        out[PXP:PXM + 1] = -k.V0 * yy - VL * yy_swapped - k.D * x
        out[PYP:PYM + 1] = k.V0 * x + VL * x_swapped - k.D * yy - k.Vx * z
        out[PZP:PZM + 1] = k.Vx * yy
        out[PZP] += two_C
        return out

    def jacobian_terms(self, y, k: LocalCoefficients) -> JacobianTerms:
        """∂f/∂y per site as fixed 8×8 patterns (_JACOBIAN_PATTERNS) weighted by the rates
        (uniform) and by 7 per-site scalars (V_L, ∂(2C)/∂P0^±, ∂V_L/∂Pz⁻ times a transverse
        field) [MeV]."""
        P = self._patterns
        uniform = k.D * P["D"] + k.V0 * P["V0"] + k.Vx * P["Vx"]
        dVL = 0.375 * k.kL  # ∂V_L/∂P0⁻ = ∂V_L/∂Pz⁻
        scalars = np.stack([k.kL * self.asymmetry(y), -0.25 * k.Gamma * (y[P0P] + y[PZP]),
                            0.25 * k.Gamma * (y[P0M] + y[PZM]), dVL * y[PYM], dVL * y[PYP], dVL * y[PXM],
                            dVL * y[PXP]])       # NumPy's stack dispatches to CuPy's for device arrays
        return JacobianTerms(uniform, self._site_patterns, scalars)

    def jacobian(self, y, k: LocalCoefficients):
        """∂f/∂y per site, shaped (*grid, 8, 8) [MeV]: `jacobian_terms` added up."""
        return self.jacobian_terms(y, k).blocks()

    # -- the interface the time integrator uses (t in MeV^-1) ---------------------------------
    def f(self, t, y):
        """dy/dt at cosmic time t [MeV^-1]; rates in MeV."""
        return self.rhs(y, self.coefficients(self.temperature(t)))

    def jac(self, t, y):
        """∂f/∂y at cosmic time t, shaped (*grid, 8, 8) [MeV]."""
        return self.jacobian(y, self.coefficients(self.temperature(t)))

    def jac_terms(self, t, y):
        """∂f/∂y at cosmic time t as JacobianTerms (7 scalars per site) [MeV]."""
        return self.jacobian_terms(y, self.coefficients(self.temperature(t)))

    def dfdt(self, t, y):
        """∂f/∂t at fixed y [MeV²]."""
        return self.rhs(y, self.coefficient_rates(self.temperature(t)))

    # -- time-series observables ---------------------------------------------------------------
    observable_units = {
        "L": "per photon (space average)",
        "L_abs": "per photon (space average of |L|)",
        "L_nutau": "per photon (space average)",
        "sterile_over_active": "dimensionless, <P0+ - Pz+>/<P0+ + Pz+>",
    }

    def observable_terms(self, y):
        """Per-site terms of observable_sums (6, *sites), arrays of y's library (NumPy's functions
        dispatch to CuPy's for device arrays)."""
        L = self.asymmetry(y)
        return np.stack([L, np.abs(L), self.L_nutau(y), self.sterile_density(y), self.active_density(y),
                         np.ones_like(L)])

    def observable_sums(self, y):
        """Sums over this rank's sites: L, |L|, L_ντ, sterile and active densities, site count."""
        L = self.asymmetry(y)
        return np.array([float(L.sum()), float(np.abs(L).sum()), float(self.L_nutau(y).sum()),
                         float(self.sterile_density(y).sum()), float(self.active_density(y).sum()),
                         L.size], dtype=float)

    @staticmethod
    def observables_from_sums(sums):
        """Space averages from globally summed observable_sums."""
        n = sums[5]
        return {"L": sums[0] / n, "L_abs": sums[1] / n, "L_nutau": sums[2] / n,
                "sterile_over_active": sums[3] / sums[4]}

    def error_norm(self, rtol, tolerances):
        """The step-error measure this model is integrated with (see QKEErrorNorm); tolerances:
        the integrator section's atol_plus and atol_minus."""
        return QKEErrorNorm(self.L0, rtol, tolerances.atol_plus, tolerances.atol_minus)

    # -- compiled per-site kernels (physics.qke_kernels) ---------------------------------------
    def compiled_site_kernels(self, error_norm):
        """This model's compiled per-site kernels for the given error norm, as a
        lattice.model.SiteKernels, for a single site with a scalar L0 measured by a
        QKEErrorNorm with that L0; None otherwise (a lattice, another norm): the caller then
        integrates with the NumPy path (lattice.rosenbrock.Rodas4)."""
        if (np.ndim(self.L0) != 0 or not isinstance(error_norm, QKEErrorNorm)
                or np.ndim(error_norm.L0) != 0 or float(error_norm.L0) != float(self.L0)):
            return None
        from physics import qke_kernels as k

        rtol, ap, am = error_norm.rtol, error_norm.atol_plus, error_norm.atol_minus
        return SiteKernels(k.site_rhs, k.site_jac, k.site_dfdt, k.site_error, k.params(self, rtol, ap, am),
                           N_FIELDS, k.CONSTANT_FIELDS, lambda factor: k.params(self, rtol * factor, ap, am))


    def fused_cell(self, diffusion):
        """This model's cell function for the fused explicit stage on a device
        (lattice.model.FusedCell): physics.qke_kernels.lattice_cell_rhs with the coefficients of
        a time computed here as f and QKEDiffusion.tendency compute them (so the device stage is
        bitwise the NumPy path's), and the cells' L0 (a view of this system's, seen after grid
        doubling coarsens it in place); None for another diffusion or a scalar L0. The cell's
        error is physics.qke_kernels.lattice_cell_error, for a QKEErrorNorm on this system's L0
        (its tolerances the constants): bitwise QKEErrorNorm.local."""
        if not isinstance(diffusion, QKEDiffusion) or np.ndim(self.L0) == 0:
            return None
        from physics import qke_kernels as k

        def coefficients(t):
            T = self.temperature(t)
            return tuple(self.coefficients(T)) + diffusion.scaled_coefficients(T)

        def error_constants(norm):
            if type(norm) is not QKEErrorNorm or norm.L0 is not self.L0:
                return None
            return norm.rtol, norm.atol_plus, norm.atol_minus

        return FusedCell(k.lattice_cell_rhs, coefficients, lambda: self.L0[None], 8, 1,
                         k.lattice_cell_error, error_constants, 3)

    def compiled_line_kernels(self, error_norm, diffusion):
        """This model's compiled kernels for a 1D lattice (lattice.model.LineKernels)
        measured by a QKEErrorNorm with these tolerances and coupled by `diffusion` (a
        QKEDiffusion); None for another norm or diffusion, when the NumPy path runs instead."""
        if not isinstance(error_norm, QKEErrorNorm) or not isinstance(diffusion, QKEDiffusion):
            return None
        from physics import qke_kernels as k

        ap, am = error_norm.atol_plus, error_norm.atol_minus

        def cell_params(L0_cells, rtol):
            return k.cell_params(self, rtol, ap, am, diffusion, L0_cells)

        return LineKernels(k.site_coefficients, k.cell_rhs, k.cell_jac, k.cell_dfdt, k.site_error,
                           k.diffusion_matrix, k.apply_diffusion, k.N_COEFFICIENTS, N_FIELDS, k.CONSTANT_FIELDS,
                           cell_params)

class QKEErrorNorm:
    """Local error measured on what the physics needs, per site, maximum over sites.

    Components and their scales (tolerance = atol + rtol·scale):
      - active density P0⁺ + Pz⁺ and sterile density P0⁺ − Pz⁺, each relative to itself
        (atol_plus), so the sterile/active ratio is controlled even when it is tiny;
      - the asymmetry L = L0 + (3/8)(P0⁻ + Pz⁻) relative to |L| itself, and P0⁻ − Pz⁻
        relative to itself (atol_minus);
      - the transverse components Px^±, Py^± relative to the length of their Bloch vector
        (P_x, P_y, P_z)^±: a precession is accurate when the rotated vector is, and the
        transverse parts are slaved to the diagonal ones by damping and precession ≫ H, so
        demanding relative accuracy of their tiny slaved values would force h ≲ 1/V0 for
        nothing the diagonal fields (which carry L and the sterile density) can feel.
    """

    def __init__(self, L0, rtol, atol_plus, atol_minus):
        self.L0 = L0
        self.rtol = float(rtol)
        self.atol_plus = float(atol_plus)
        self.atol_minus = float(atol_minus)

    def __call__(self, err, y, y_new):
        return float(self.local(err, y, y_new))

    def local(self, err, y, y_new):
        """The norm as a 0-d array where the state is (on the device for a CuPy state: no sync).
        One combination at a time, so its temporaries are a few fields' worth, not states'."""
        rtol, ap, am = self.rtol, self.atol_plus, self.atol_minus

        def larger(combination):        # max(|c(y)|, |c(y_new)|) per site
            return np.maximum(np.abs(combination(y)), np.abs(combination(y_new)))

        len_p = larger(lambda s: np.sqrt(s[PXP] ** 2 + s[PYP] ** 2 + s[PZP] ** 2))
        len_m = larger(lambda s: np.sqrt(s[PXM] ** 2 + s[PYM] ** 2 + s[PZM] ** 2))
        measured = (
            (err[P0P] + err[PZP], ap, larger(lambda s: s[P0P] + s[PZP])),               # active
            (err[P0P] - err[PZP], ap, larger(lambda s: s[P0P] - s[PZP])),               # sterile
            (0.375 * (err[P0M] + err[PZM]), am, larger(lambda s: self.L0 + 0.375 * (s[P0M] + s[PZM]))),  # L
            (err[P0M] - err[PZM], am, larger(lambda s: s[P0M] - s[PZM])),
            (err[PXP], ap, len_p), (err[PYP], ap, len_p), (err[PXM], am, len_m), (err[PYM], am, len_m))
        worst = None
        for error, atol, size in measured:
            ratio = np.max(np.abs(error) / (atol + rtol * size))
            worst = ratio if worst is None else np.maximum(worst, ratio)
        return worst

    def field_weights(self, y):
        """Per-field error allowances (8, *grid) at state y, for scaling linear solves.

        An error of one allowance in every field keeps each combination above within about
        one tolerance: the densities and L are sums and differences of two fields.
        """
        rtol, ap, am = self.rtol, self.atol_plus, self.atol_minus
        w = np.empty_like(y)
        w[P0P] = 0.5 * (ap + rtol * np.minimum(np.abs(y[P0P] + y[PZP]), np.abs(y[P0P] - y[PZP])))
        w[PZP] = w[P0P]
        L = self.L0 + 0.375 * (y[P0M] + y[PZM])
        w[P0M] = np.minimum((am + rtol * np.abs(L)) / 0.75, 0.5 * (am + rtol * np.abs(y[P0M] - y[PZM])))
        w[PZM] = w[P0M]
        w[PXP] = ap + rtol * np.sqrt(y[PXP] ** 2 + y[PYP] ** 2 + y[PZP] ** 2)
        w[PYP] = w[PXP]
        w[PXM] = am + rtol * np.sqrt(y[PXM] ** 2 + y[PYM] ** 2 + y[PZM] ** 2)
        w[PYM] = w[PXM]
        return w


class QKEDiffusion(Diffusion):
    """Diffusion terms of the QKE (docs/models/diffusion-qke.md §3–4), comoving lattice.

    dP0^± += 𝒟₊∇²P0^± + 𝒟₋∇²Pz^±,  dPz^± += 𝒟₋∇²P0^± + 𝒟₊∇²Pz^±,  dP_{x,y}^± += 𝒟_τs∇²P_{x,y}^±
    with 𝒟± = ½(1/Γ^el_ττ ± 1/Γ^el_ss), 𝒟_τs = 2/(Γ^el_ττ + Γ^el_ss), Γ^el_ττ = 2D = 2.8 G_F² T⁵,
    Γ^el_ss = ε Γ^el_ττ, and ∇²_phys = (T/T_ref)² ∇²_χ on the comoving grid (χ = physical length
    at T_ref). Coefficients in MeV^-1 (physical length² per time).

    Args:
        params: mixing parameters (ε = sterile_elastic_fraction).
        T_ref: temperature at which comoving and physical lengths coincide [MeV].
    """

    def __init__(self, params: MixingParameters, T_ref: float):
        self.eps = params.sterile_elastic_fraction
        self.T_ref = float(T_ref)

    @staticmethod
    def elastic_rate(T):
        """Γ^el_ττ = 2D = 2.8 G_F² T⁵ at temperature T [MeV]."""
        return 2.0 * c.D_COEFF * c.G_F ** 2 * T ** 5

    def coefficients(self, T):
        """(𝒟₊, 𝒟₋, 𝒟_τs) at temperature T [MeV^-1]."""
        gamma_tt = self.elastic_rate(T)
        gamma_ss = self.eps * gamma_tt
        return (0.5 * (1.0 / gamma_tt + 1.0 / gamma_ss), 0.5 * (1.0 / gamma_tt - 1.0 / gamma_ss),
                2.0 / (gamma_tt + gamma_ss))

    def comoving_diffusion_length(self, T, hubble):
        """Active diffusion length ℓ_D = √(𝒟_ττ/H), 𝒟_ττ = 1/Γ^el_ττ, as a comoving length [MeV^-1].

        Args:
            T: temperature [MeV].
            hubble: expansion rate H(T) [MeV].
        """
        return math.sqrt(1.0 / (self.elastic_rate(T) * hubble)) * T / self.T_ref

    def doubling_length(self, T, hubble):
        """The length grid doubling resolves: the active diffusion length ℓ_D [MeV^-1]."""
        return self.comoving_diffusion_length(T, hubble)

    def comoving_mean_free_path(self, T):
        """Active elastic mean free path 1/Γ^el_ττ at T, as a comoving length [MeV^-1] (c = 1)."""
        return (1.0 / self.elastic_rate(T)) * T / self.T_ref

    temperature_exponent = -3.0
    """Every coefficient times (T/T_ref)² scales as T^-3 (1/Γ^el ∝ T^-5): d/dt = 3 H × itself."""

    def matrix(self, T):
        """The 8×8 matrix K with tendency = K · (comoving Laplacian), at temperature T [MeV^-1]."""
        return self.tendency(np.eye(N_FIELDS), T)

    def max_rate_coefficient(self, T):
        """Largest eigenvalue of the diffusion matrix times (T/T_ref)²: 1/Γ^el_ss · (T/T_ref)² [MeV^-1]."""
        Dp, Dm, Dts = self.coefficients(T)
        return max(Dp + abs(Dm), Dts) * (T / self.T_ref) ** 2

    def scaled_coefficients(self, T):
        """(𝒟₊, 𝒟₋, 𝒟_τs) times (T/T_ref)² at temperature T [MeV^-1]: the entries of the matrix
        `tendency` applies to the comoving Laplacians."""
        Dp, Dm, Dts = self.coefficients(T)
        f = (T / self.T_ref) ** 2
        return Dp * f, Dm * f, Dts * f

    def tendency(self, lap, T, out=None):
        """d/dt of the 8 fields from their comoving Laplacians `lap` (8, *grid) [MeV^-1 · lap]."""
        Dp, Dm, Dts = self.scaled_coefficients(T)
        if out is None:
            out = np.empty_like(lap)
        zero, z, transverse = lap[P0P:P0M + 1], lap[PZP:PZM + 1], lap[PXP:PYM + 1]   # (P0±), (Pz±), (Px±, Py±)
        # the transverse rows of `out` serve as scratch for the cross terms (no temporaries)
        cross = out[PXP:PXP + 2]
        np.multiply(zero, Dp, out=out[P0P:P0M + 1])
        out[P0P:P0M + 1] += np.multiply(z, Dm, out=cross)
        np.multiply(z, Dp, out=out[PZP:PZM + 1])
        out[PZP:PZM + 1] += np.multiply(zero, Dm, out=cross)
        np.multiply(transverse, Dts, out=out[PXP:PYM + 1])
        return out

    @staticmethod
    def transverse_fields():
        """Fields held at zero on the boundary planes by the `offdiag_zero` condition."""
        return (PXP, PXM, PYP, PYM)
