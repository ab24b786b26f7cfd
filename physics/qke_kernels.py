"""Compiled per-site kernels of the momentum-averaged QKE (physics.qke), written once.

One site's right-hand side, 8×8 Jacobian, ∂f/∂t and error-norm contribution as Numba
`register_jitable` bodies: plain scalar arithmetic on 1-D arrays of 8 (and one 8×8), no
allocation, no NumPy calls, so that a CPU `njit` loop (lattice.compiled_rodas) and a
`numba.cuda.jit` kernel (lattice.device_batch) can both call them. The small ones evaluated per
cell of a line are inlined into their caller on the host (`site_function(inline=True)`,
kernels.site_functions): as separate functions, each call passing its array views costs as much
as the arithmetic; inlining does not change the arithmetic. They compute exactly what the NumPy
reference path computes (QKELocal.coefficients / coefficient_rates / rhs / jacobian,
QKEErrorNorm), in the same order of operations where that order is visible; the tests
(tests/lattice/test_compiled_site.py) compare them at several (T, y) to round-off.

Why: on one site the NumPy path spends over 97 % of a Rodas4 attempt in call overhead on
(8, 1) arrays; compiled, an attempt costs a few µs (docs/results/performance.md).

The model's constants travel in one float64 vector `p` (`params`), so that a kernel's
signature does not depend on the model's parameters and one compiled loop serves every deck:

    p[VX_T]      V_x · T                 [MeV²]
    p[V0VAC_T]   vacuum part of V0 · T   [MeV²]
    p[V0TH_T5]   thermal part of V0 / T⁵ [MeV⁻⁴]
    p[KL_T3]     k_L / T³                [MeV⁻²]
    p[D_T5]      D / T⁵                  [MeV⁻⁴]
    p[G_T5]      Γ / T⁵                  [MeV⁻⁴]
    p[HUBBLE]    H / T²                  [MeV⁻¹]
    p[L0]        background asymmetry L0 [per photon]
    p[RTOL], p[ATOL_PLUS], p[ATOL_MINUS]  the error norm's tolerances (QKEErrorNorm)
    p[GEL_T5]    Γ^el_ττ / T⁵            [MeV⁻⁴]   (lattice: the diffusion matrix, QKEDiffusion)
    p[EPS]       Γ^el_ss / Γ^el_ττ       [dimensionless]
    p[T_REF]     T where comoving = physical length [MeV]

On a lattice every cell has its own row of parameters (its L0); the coefficients of a time t
are computed once for all cells (`site_coefficients`) and the per-cell kernels (`cell_rhs`,
`cell_jac`, `cell_dfdt`) take them, with the diffusion matrix K(t) and dK/dt from
`diffusion_matrix` (lattice.compiled_line).

Time is cosmic time t [MeV⁻¹], T(t) = (1/(2 (H/T²) t))^½ (physics.cosmology). Compiled as
plain IEEE double arithmetic (no fastmath), `error_model="numpy"` (a division by zero gives
inf/NaN, which the step control rejects, as it does in the NumPy path).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.extending import register_jitable

from kernels.site_functions import site_function
from physics.qke import P0M, P0P, PXM, PXP, PYM, PYP, PZM, PZP

VX_T, V0VAC_T, V0TH_T5, KL_T3, D_T5, G_T5, HUBBLE, L0, RTOL, ATOL_PLUS, ATOL_MINUS = range(11)
GEL_T5, EPS, T_REF = 11, 12, 13
N_PARAMS = 14
N_COEFFICIENTS = 10
"""Length of the coefficient vector of one time: (V_x, V0, k_L, D, Γ) and their rates."""


def params(local, rtol, atol_plus, atol_minus, diffusion=None) -> np.ndarray:
    """The parameter vector `p` of a QKELocal with a scalar L0 and the error norm's tolerances;
    with a QKEDiffusion, also its constants (NaN otherwise)."""
    p = np.full(N_PARAMS, np.nan)
    p[VX_T], p[V0VAC_T], p[V0TH_T5] = local._vx_T, local._v0vac_T, local._v0th_T5
    p[KL_T3], p[D_T5], p[G_T5] = local._kL_T3, local._D_T5, local._G_T5
    p[HUBBLE] = local.cosmology.hubble_coeff
    p[L0] = float(local.L0) if np.ndim(local.L0) == 0 else np.nan   # a lattice: see cell_params
    p[RTOL], p[ATOL_PLUS], p[ATOL_MINUS] = rtol, atol_plus, atol_minus
    if diffusion is not None:
        p[GEL_T5], p[EPS], p[T_REF] = diffusion.elastic_rate(1.0), diffusion.eps, diffusion.T_ref
    return p


def cell_params(local, rtol, atol_plus, atol_minus, diffusion, L0_cells) -> np.ndarray:
    """Per-cell parameter rows (cells, N_PARAMS): `params` with each cell's own L0."""
    rows = np.tile(params(local, rtol, atol_plus, atol_minus, diffusion), (len(L0_cells), 1))
    rows[:, L0] = L0_cells
    return rows


# -- coefficients: power laws in T (QKELocal.coefficients, coefficient_rates) --------------------
@register_jitable
def temperature(t, p):
    """T [MeV] at cosmic time t [MeV⁻¹] (Cosmology.temperature)."""
    return (0.5 / (p[HUBBLE] * t)) ** 0.5


@register_jitable
def coefficients(T, p):
    """(V_x, V0, k_L, D, Γ) at T [MeV], as QKELocal.coefficients."""
    inv_T, T3 = 1.0 / T, T * T * T
    T5 = T3 * T * T
    return (p[VX_T] * inv_T, p[V0VAC_T] * inv_T + p[V0TH_T5] * T5, p[KL_T3] * T3, p[D_T5] * T5,
            p[G_T5] * T5)


@register_jitable
def coefficient_rates(T, p):
    """d/dt of (V_x, V0, k_L, D, Γ) at fixed state [MeV²], as QKELocal.coefficient_rates."""
    H = p[HUBBLE] * T * T
    inv_T, T3 = 1.0 / T, T * T * T
    T5 = T3 * T * T
    return (H * p[VX_T] * inv_T, H * (p[V0VAC_T] * inv_T - 5.0 * p[V0TH_T5] * T5),
            -3.0 * H * p[KL_T3] * T3, -5.0 * H * p[D_T5] * T5, -5.0 * H * p[G_T5] * T5)


# -- right-hand side, Jacobian, ∂f/∂t of one site --------------------------------------------------
@site_function(inline=True)
def rhs_with(y, Vx, V0, kL, D, G, L0_value, out):
    """f(y) of one site for the rates (Vx, V0, kL, D, Γ) into out (8,); with the coefficients'
    time derivatives as rates it is ∂f/∂t (the right-hand side is linear in them)."""
    VL = kL * (L0_value + 0.375 * (y[P0M] + y[PZM]))
    s_plus = y[P0P] + y[PZP]
    s_minus = y[P0M] + y[PZM]
    two_C = (2.0 * G) * (1.0 - 0.0625 * (s_plus * s_plus - s_minus * s_minus))
    out[P0P] = two_C
    out[P0M] = 0.0
    out[PXP] = -V0 * y[PYP] - VL * y[PYM] - D * y[PXP]
    out[PXM] = -V0 * y[PYM] - VL * y[PYP] - D * y[PXM]
    out[PYP] = V0 * y[PXP] + VL * y[PXM] - D * y[PYP] - Vx * y[PZP]
    out[PYM] = V0 * y[PXM] + VL * y[PXP] - D * y[PYM] - Vx * y[PZM]
    out[PZP] = Vx * y[PYP] + two_C
    out[PZM] = Vx * y[PYM]


@register_jitable
def site_rhs(t, y, p, out):
    """dy/dt at cosmic time t into out (8,) [MeV] (QKELocal.f)."""
    Vx, V0, kL, D, G = coefficients(temperature(t, p), p)
    rhs_with(y, Vx, V0, kL, D, G, p[L0], out)


@register_jitable
def site_dfdt(t, y, p, out):
    """∂f/∂t at fixed y into out (8,) [MeV²] (QKELocal.dfdt)."""
    Vx, V0, kL, D, G = coefficient_rates(temperature(t, p), p)
    rhs_with(y, Vx, V0, kL, D, G, p[L0], out)


@register_jitable
def site_coefficients(t, p, c):
    """The coefficients of time t into c (N_COEFFICIENTS,): (V_x, V0, k_L, D, Γ) [MeV] and their
    time derivatives [MeV²], computed once for all cells of a lattice."""
    T = temperature(t, p)
    c[0], c[1], c[2], c[3], c[4] = coefficients(T, p)
    c[5], c[6], c[7], c[8], c[9] = coefficient_rates(T, p)


@site_function(inline=True)
def cell_rhs(c, y, p, out):
    """f of one cell (8,) for the coefficients c of `site_coefficients` and the cell's p."""
    rhs_with(y, c[0], c[1], c[2], c[3], c[4], p[L0], out)


@site_function(inline=True)
def cell_dfdt(c, y, p, out):
    """∂f/∂t of one cell at fixed y (8,) from the coefficients' rates in c."""
    rhs_with(y, c[5], c[6], c[7], c[8], c[9], p[L0], out)


@register_jitable
def cell_jac(c, y, p, J):
    """∂f/∂y of one cell into J (8, 8)."""
    jac_with(y, c[0], c[1], c[2], c[3], c[4], p[L0], J)


@register_jitable
def diffusion_matrix(t, p, K, K_rate):
    """K(T(t)) (8, 8) with tendency = K · (comoving Laplacian) [MeV⁻¹], and dK/dt [dimensionless],
    as QKEDiffusion.tendency and ImplicitLattice.dfdt: 𝒟± = ½(1/Γ_ττ ± 1/Γ_ss),
    𝒟_τs = 2/(Γ_ττ + Γ_ss), times (T/T_ref)²; K ∝ T⁻³, so dK/dt = 3 H K."""
    T = temperature(t, p)
    T2 = T * T
    gamma_tt = p[GEL_T5] * (T2 * T2 * T)
    gamma_ss = p[EPS] * gamma_tt
    Dp = 0.5 * (1.0 / gamma_tt + 1.0 / gamma_ss)
    Dm = 0.5 * (1.0 / gamma_tt - 1.0 / gamma_ss)
    Dts = 2.0 / (gamma_tt + gamma_ss)
    f = (T / p[T_REF]) ** 2
    Dp, Dm, Dts = Dp * f, Dm * f, Dts * f
    for i in range(8):
        for j in range(8):
            K[i, j] = 0.0
    for zero, z in ((P0P, PZP), (P0M, PZM)):
        K[zero, zero] = Dp
        K[zero, z] = Dm
        K[z, z] = Dp
        K[z, zero] = Dm
    for r in (PXP, PXM, PYP, PYM):
        K[r, r] = Dts
    rate = 3.0 * p[HUBBLE] * T2
    for i in range(8):
        for j in range(8):
            K_rate[i, j] = rate * K[i, j]


@site_function(inline=True)
def apply_diffusion(K, lap, out):
    """out += K · lap for one cell (8,), over the entries `diffusion_matrix` can make nonzero,
    in increasing column order: P0^± and Pz^± pairwise, the transverse fields each alone. K is
    diffusion_matrix's, so it has three distinct entries: diffusion_with's terms (a + b = b + a
    exactly in IEEE arithmetic, so the order of a row's two products does not matter)."""
    diffusion_with(K[P0P, P0P], K[P0P, PZP], K[PXP, PXP], lap, out)


@site_function(inline=True)
def diffusion_with(Dp, Dm, Dts, lap, out):
    """out += K · lap for one cell (8,), K given by its three coefficients (𝒟₊, 𝒟₋, 𝒟_τs) times
    (T/T_ref)² [MeV⁻¹] (QKEDiffusion.scaled_coefficients): the terms of apply_diffusion for the K
    of diffusion_matrix, added as QKEDiffusion.tendency forms them and ImplicitLattice.f adds
    them (each row's two products summed, then added to out)."""
    for zero, z in ((P0P, PZP), (P0M, PZM)):
        out[zero] += Dp * lap[zero] + Dm * lap[z]
        out[z] += Dp * lap[z] + Dm * lap[zero]
    for r in (PXP, PXM, PYP, PYM):
        out[r] += Dts * lap[r]


@site_function(inline=True)
def lattice_cell_rhs(c, y, lap, q, out):
    """f of one lattice cell, local terms plus diffusion, into out (8,) [MeV]: ImplicitLattice.f
    for one cell, operation by operation, so that the fused explicit stage on a device
    (kernels.explicit_stage, translated by kernels.cuda_source) gives the NumPy path's bits.
    c: (V_x, V0, k_L, D, Γ) [MeV] and (𝒟₊, 𝒟₋, 𝒟_τs)·(T/T_ref)² [MeV⁻¹] of the time, as the
    NumPy path computes them on the host (QKELocal.fused_cell); y, lap: the cell's state and
    comoving Laplacian [MeV² · state] (8,); q: (L0,) of the cell."""
    rhs_with(y, c[0], c[1], c[2], c[3], c[4], q[0], out)
    diffusion_with(c[5], c[6], c[7], lap, out)


@register_jitable
def site_jac(t, y, p, J):
    """∂f/∂y at cosmic time t into J (8, 8) [MeV] (QKELocal.jac: every entry written)."""
    Vx, V0, kL, D, G = coefficients(temperature(t, p), p)
    jac_with(y, Vx, V0, kL, D, G, p[L0], J)


@register_jitable
def jac_with(y, Vx, V0, kL, D, G, L0_value, J):
    """∂f/∂y of one site for the rates (Vx, V0, kL, D, Γ) into J (8, 8), every entry written."""
    for i in range(8):
        for j in range(8):
            J[i, j] = 0.0
    VL = kL * (L0_value + 0.375 * (y[P0M] + y[PZM]))
    dVL = 0.375 * kL                                  # ∂V_L/∂P0⁻ = ∂V_L/∂Pz⁻
    c_plus = -0.25 * G * (y[P0P] + y[PZP])            # ∂(2C)/∂P0⁺ = ∂(2C)/∂Pz⁺
    c_minus = 0.25 * G * (y[P0M] + y[PZM])            # ∂(2C)/∂P0⁻ = ∂(2C)/∂Pz⁻
    for r in (P0P, PZP):
        J[r, P0P] = c_plus
        J[r, PZP] = c_plus
        J[r, P0M] = c_minus
        J[r, PZM] = c_minus
    J[PXP, PXP] = -D
    J[PXP, PYP] = -V0
    J[PXP, PYM] = -VL
    J[PXP, P0M] = -dVL * y[PYM]
    J[PXP, PZM] = -dVL * y[PYM]
    J[PXM, PXM] = -D
    J[PXM, PYM] = -V0
    J[PXM, PYP] = -VL
    J[PXM, P0M] = -dVL * y[PYP]
    J[PXM, PZM] = -dVL * y[PYP]
    J[PYP, PYP] = -D
    J[PYP, PXP] = V0
    J[PYP, PXM] = VL
    J[PYP, PZP] = -Vx
    J[PYP, P0M] = dVL * y[PXM]
    J[PYP, PZM] = dVL * y[PXM]
    J[PYM, PYM] = -D
    J[PYM, PXM] = V0
    J[PYM, PXP] = VL
    J[PYM, P0M] = dVL * y[PXP]
    J[PYM, PZM] = -Vx + dVL * y[PXP]
    J[PZP, PYP] = Vx
    J[PZM, PYM] = Vx


# -- error norm (QKEErrorNorm) --------------------------------------------------------------------
@site_function(inline=True)
def _worst(worst, e, scale):
    """max(worst, |e|/scale) for scale > 0, dividing only when the ratio can exceed worst (the
    norm is evaluated on every cell of a line at every attempt). Non-finite values are caught
    by the caller's guard."""
    a = abs(e)
    if a > worst * scale:
        return a / scale
    return worst


@site_function(inline=True)
def site_error(e, y, y_new, p):
    """This site's weighted local error (≤ 1: acceptable; NaN when any error or scale is not
    finite), as QKEErrorNorm for one site: the error `e` (8,) measured on the active and sterile
    densities, L and P0⁻ − Pz⁻, and the transverse fields relative to the length of their Bloch
    vector, each scale taken at the larger of its values at y and y_new."""
    rtol, ap, am = p[RTOL], p[ATOL_PLUS], p[ATOL_MINUS]
    active = max(abs(y[P0P] + y[PZP]), abs(y_new[P0P] + y_new[PZP]))
    sterile = max(abs(y[P0P] - y[PZP]), abs(y_new[P0P] - y_new[PZP]))
    L = max(abs(p[L0] + 0.375 * (y[P0M] + y[PZM])), abs(p[L0] + 0.375 * (y_new[P0M] + y_new[PZM])))
    diff = max(abs(y[P0M] - y[PZM]), abs(y_new[P0M] - y_new[PZM]))
    # √ is monotonic and correctly rounded: √max(a, b) = max(√a, √b) exactly
    len_p = math.sqrt(max(y[PXP] * y[PXP] + y[PYP] * y[PYP] + y[PZP] * y[PZP],
                          y_new[PXP] * y_new[PXP] + y_new[PYP] * y_new[PYP] + y_new[PZP] * y_new[PZP]))
    len_m = math.sqrt(max(y[PXM] * y[PXM] + y[PYM] * y[PYM] + y[PZM] * y[PZM],
                          y_new[PXM] * y_new[PXM] + y_new[PYM] * y_new[PYM] + y_new[PZM] * y_new[PZM]))
    s_active, s_sterile = ap + rtol * active, ap + rtol * sterile
    s_L, s_diff = am + rtol * L, am + rtol * diff
    s_p, s_m = ap + rtol * len_p, am + rtol * len_m
    e_active, e_sterile = e[P0P] + e[PZP], e[P0P] - e[PZP]
    e_L, e_diff = 0.375 * (e[P0M] + e[PZM]), e[P0M] - e[PZM]
    guard = (abs(e_active) + abs(e_sterile) + abs(e_L) + abs(e_diff) + abs(e[PXP]) + abs(e[PYP])
             + abs(e[PXM]) + abs(e[PYM]) + s_active + s_sterile + s_L + s_diff + s_p + s_m)
    if guard - guard != 0.0:            # NaN or ±inf somewhere: as np.max of the ratios would say
        return math.nan
    worst = _worst(0.0, e_active, s_active)
    worst = _worst(worst, e_sterile, s_sterile)
    worst = _worst(worst, e_L, s_L)
    worst = _worst(worst, e_diff, s_diff)
    worst = _worst(worst, e[PXP], s_p)
    worst = _worst(worst, e[PYP], s_p)
    worst = _worst(worst, e[PXM], s_m)
    worst = _worst(worst, e[PYM], s_m)
    return worst


@site_function
def larger(a, b):
    """np.maximum(a, b) of two floats: the larger, NaN when either is NaN (the builtin max(a, b)
    returns a when b is NaN). For equal operands b (the two differ only for ±0, which the error
    norm's non-negative values never mix)."""
    return a if a > b or a != a else b


@site_function(inline=True)
def _ratio(e, atol, rtol, size):
    """|e| / (atol + rtol·size): an error component over its tolerance, as QKEErrorNorm.local
    forms it."""
    return abs(e) / (atol + rtol * size)


@site_function(inline=True)
def lattice_cell_error(c, e, y, y_new, q):
    """One lattice cell's weighted error [dimensionless]: QKEErrorNorm.local restricted to the
    cell, operation by operation, so that its maximum over cells is bitwise the norm (the fused
    explicit stage measures the error estimate with it on a device, translated by
    kernels.cuda_source). The largest |component| / (atol + rtol·size) of the eight (active and
    sterile densities, L, P0⁻ − Pz⁻, Px^±, Py^±), each size the larger of its values at y and
    y_new (QKEErrorNorm: x ** 2 is x * x; NaN anywhere gives NaN, as np.maximum/np.max do).
    c: (rtol, atol_plus, atol_minus) of the norm; e, y, y_new: the error estimate and the two
    states (8,); q: (L0,) of the cell [per photon]. (site_error, the compiled loops' norm, is
    the same measure with fewer divisions: not bitwise this.)"""
    rtol, ap, am = c[0], c[1], c[2]
    active = larger(abs(y[P0P] + y[PZP]), abs(y_new[P0P] + y_new[PZP]))
    sterile = larger(abs(y[P0P] - y[PZP]), abs(y_new[P0P] - y_new[PZP]))
    L = larger(abs(q[0] + 0.375 * (y[P0M] + y[PZM])), abs(q[0] + 0.375 * (y_new[P0M] + y_new[PZM])))
    diff = larger(abs(y[P0M] - y[PZM]), abs(y_new[P0M] - y_new[PZM]))
    len_p = larger(abs(math.sqrt(y[PXP] * y[PXP] + y[PYP] * y[PYP] + y[PZP] * y[PZP])),
                   abs(math.sqrt(y_new[PXP] * y_new[PXP] + y_new[PYP] * y_new[PYP] + y_new[PZP] * y_new[PZP])))
    len_m = larger(abs(math.sqrt(y[PXM] * y[PXM] + y[PYM] * y[PYM] + y[PZM] * y[PZM])),
                   abs(math.sqrt(y_new[PXM] * y_new[PXM] + y_new[PYM] * y_new[PYM] + y_new[PZM] * y_new[PZM])))
    worst = _ratio(e[P0P] + e[PZP], ap, rtol, active)
    worst = larger(worst, _ratio(e[P0P] - e[PZP], ap, rtol, sterile))
    worst = larger(worst, _ratio(0.375 * (e[P0M] + e[PZM]), am, rtol, L))
    worst = larger(worst, _ratio(e[P0M] - e[PZM], am, rtol, diff))
    worst = larger(worst, _ratio(e[PXP], ap, rtol, len_p))
    worst = larger(worst, _ratio(e[PYP], ap, rtol, len_p))
    worst = larger(worst, _ratio(e[PXM], am, rtol, len_m))
    worst = larger(worst, _ratio(e[PYM], am, rtol, len_m))
    return worst


CONSTANT_FIELDS = np.array([P0M], dtype=np.int64)
"""QKELocal.locally_constant as the index array the compiled stepper takes."""


# -- callable from Python (tests, checks): the bodies above, compiled --------------------------
@njit(cache=True, error_model="numpy")
def rhs_at(t, y, p):
    """site_rhs as a function of (t, y (8,), p) returning f (8,)."""
    out = np.empty(8)
    site_rhs(t, y, p, out)
    return out


@njit(cache=True, error_model="numpy")
def dfdt_at(t, y, p):
    """site_dfdt returning ∂f/∂t (8,)."""
    out = np.empty(8)
    site_dfdt(t, y, p, out)
    return out


@njit(cache=True, error_model="numpy")
def jac_at(t, y, p):
    """site_jac returning J (8, 8)."""
    J = np.empty((8, 8))
    site_jac(t, y, p, J)
    return J


@njit(cache=True, error_model="numpy")
def error_at(e, y, y_new, p):
    """site_error of one site."""
    return site_error(e, y, y_new, p)


@njit(cache=True, error_model="numpy")
def coefficients_at(T, p):
    """(coefficients(T), coefficient_rates(T)) as two arrays of 5."""
    a, b = np.empty(5), np.empty(5)
    a[0], a[1], a[2], a[3], a[4] = coefficients(T, p)
    b[0], b[1], b[2], b[3], b[4] = coefficient_rates(T, p)
    return a, b


@njit(cache=True, error_model="numpy")
def temperature_at(t, p):
    """temperature(t) compiled."""
    return temperature(t, p)
