"""The lepton asymmetry at third order: the exact coefficient C(ε) and the small-coupling
dimensionless problem it is measured on (docs/models/ars.md §2.4, §3).

In the dimensionless time v = ω₀ t^{3/2} (unit 1–2 oscillation frequency), with μ = (0, −1, −ε)
(ε = ΔM_13²/ΔM_12², 0 < ε < 1), y_a = g h_a², Y' = U† diag(y_a) U and s = sin φ, the
singlets' evolution operator obeys

    i dS/dv = [diag(μ) + (1 − i s) v^{−2/3} Y'] S,     ρ̃ = 1 − S S†,

the antiparticles' with Y'* (δ → −δ), and Δ_L = ½[(S S†)_33 − (S̄ S̄†)_33]. At order s y³,

    Δ_L = −C(ε) Γ(1/3)³ s J Π(y) ε^{−1/3},   Π(y) = (y_A − y_C)(y_A − y_B)(y_B − y_C),

with C(ε) → 6 as ε → 0 (the paper's eq. (12)); `c_of_epsilon` is the exact C(ε), a
principal-value double integral, and `measured_c` integrates the equation above.
Everything in this module is dimensionless.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from physics.ars.mixing import jarlskog, pdg_matrix, to_mass_basis
from physics.ars.parameters import GAMMA_THIRD

# -- the exact third-order coefficient ----------------------------------------------------------


def _inner(c0, c1):
    """PV ∫₀¹ a^{−2/3} da/(c0 + c1 a) in closed form (a = w³ and partial fractions of
    1/(w³ − r³), r³ = −c0/c1), elementwise for arrays c0 ≠ 0, c1 ≠ 0; where |c1/c0| < 1e-3 the
    series (1/c0) Σ_n (−c1/c0)^n/(n + 1/3) instead (the closed form cancels there)."""
    x = c1 / c0
    small = np.abs(x) < 1e-3
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.cbrt(-c0 / np.where(small, 1.0, c1))
        ar, sg = np.abs(r), np.sign(r)
        J = (np.log(np.abs(1 - r)) - np.log(ar)
             - (0.5 * np.log((1 + r + r * r) / (r * r))
                + math.sqrt(3) * sg * (np.arctan((2 + r) / (math.sqrt(3) * ar)) - np.arctan(sg / math.sqrt(3)))))
        J /= 3 * r * r
        closed = 3.0 / c1 * J
    series = (3.0 - 0.75 * x + 3.0 / 7.0 * x * x - 0.3 * x ** 3) / c0
    return np.where(small, series, closed)


def _tanh_sinh(g, lo, hi, h=1.0 / 64, t_max=3.6):
    """∫_lo^hi g(b, c) db by the tanh–sinh rule (end-point singularities allowed): g gets the
    nodes b and their signed distances c to the nearer end (b − lo or b − hi), formed directly,
    so that an integrand singular at an end can be evaluated there without cancellation."""
    t = np.arange(h, t_max + h / 2, h)
    u = 0.5 * math.pi * np.sinh(t)
    half = 0.5 * (hi - lo)
    dist = 2 * half / (1 + np.exp(2 * u))              # distance of node t > 0 to hi (and of −t to lo)
    weight = half * 0.5 * math.pi * np.cosh(t) / np.cosh(u) ** 2 * h
    total = half * 0.5 * math.pi * h * g(np.array([lo + half]), np.array([half]))[0]
    total += np.sum(weight * (g(hi - dist, -dist) + g(lo + dist, dist)))
    return float(total)


def im_k12(eps):
    """Im K_12(ε) = Σ_i σ_i PV ∫₀¹∫₀¹ a^{−2/3} b^{−1/3} da db / Λ_i(a, b), σ = (+, −, −, +),
    for μ = (0, −1, −ε), 0 < ε < 1 (docs/models/ars.md §2.4). Λ_i = c0(b) + c1(b) a with
    c0 = α + β b; the b-range is cut where c0 = 0 (Λ_i(0, b) changes sign), and there c0 is
    formed from the node's distance to the cut."""
    if not 0.0 < eps < 1.0:
        raise ValueError(f"epsilon = {eps!r}: the exact C(ε) is for 0 < ε < 1")
    terms = [(+1, (-eps, 1.0), lambda b: (eps - 1) * b),          # Λ_1 = −ε + b + (ε−1) a b
             (-1, (-eps, eps - 1), lambda b: b),                   # Λ_2 = −ε + (ε−1) b + a b
             (-1, (eps - 1, -eps), lambda b: b),                   # Λ_3 = (ε−1) − ε b + a b
             (+1, (eps - 1, 1.0), lambda b: -eps * b)]             # Λ_4 = (ε−1) + b − ε a b
    total = 0.0
    for sign, (alpha, beta), c1 in terms:
        cut = -alpha / beta
        edges = [0.0, cut, 1.0] if 0.0 < cut < 1.0 else [0.0, 1.0]
        for lo, hi in zip(edges[:-1], edges[1:]):
            def g(b, d, lo=lo, hi=hi, alpha=alpha, beta=beta, c1=c1, cut=cut):
                end = np.where(d > 0, lo, hi)
                c0 = np.where(end == cut, beta * d, alpha + beta * b)
                bb = np.where(end == 0.0, np.abs(d), b)
                val = bb ** (-1 / 3) * _inner(c0, c1(bb))
                return np.where(np.isfinite(val), val, 0.0)   # a node rounded onto b = 1 (log singular)
            total += sign * _tanh_sinh(g, lo, hi)
    return total


def c_of_epsilon(eps):
    """C(ε) = 4 ε^{1/3} Im K_12(ε)/Γ(1/3)³ (→ 6 as ε → 0), the exact O(s y³) coefficient."""
    return 4.0 * eps ** (1 / 3) * im_k12(eps) / GAMMA_THIRD ** 3


# -- the dimensionless problem ------------------------------------------------------------------


@njit(cache=True)
def _tendency(Y, mu, s, w, X, out):
    """out = −3i(1 − is) Y_I(w) (1 + X), Y_I(w)_jk = Y_jk e^{i(μ_j − μ_k) w³}: dX/dw for
    X = S_I − 1 in the interaction picture, with v = w³ (v^{−2/3} dv = 3 dw)."""
    v = w * w * w
    c = -3j * (1 - 1j * s)
    for j in range(3):
        for k in range(3):
            acc = 0j
            for m in range(3):
                acc += Y[j, m] * np.exp(1j * (mu[j] - mu[m]) * v) * (X[m, k] + (1.0 if m == k else 0.0))
            out[j, k] = c * acc


@njit(cache=True)
def _n33(X):
    """(S S†)_33 − 1 = 2 Re X_33 + Σ_k |X_3k|² for S = 1 + X (no O(1) cancellation)."""
    return 2 * X[2, 2].real + abs(X[2, 0]) ** 2 + abs(X[2, 1]) ** 2 + abs(X[2, 2]) ** 2


@njit(cache=True)
def _evolve(Y, mu, s, w_max, h0, alpha, v_average):
    """Classical RK4 in w for X and X̄ (Y and conj(Y)) from w = 0 to w_max; the step is
    min(h0, alpha/(3 w² ω)), alpha radians of the fastest phase ω = max|μ_j − μ_k|. Returns
    (Δ_L at w_max, the mean of Δ_L over v in [v_average, w_max³], steps)."""
    omega = 0.0
    for j in range(3):
        for k in range(3):
            omega = max(omega, abs(mu[j] - mu[k]))
    Yb = np.conj(Y)
    X, Xb = np.zeros((3, 3), np.complex128), np.zeros((3, 3), np.complex128)
    k = np.zeros((4, 3, 3), np.complex128)
    kb = np.zeros((4, 3, 3), np.complex128)
    w, steps = 0.0, 0
    d_prev = 0.0
    integral, span = 0.0, 0.0
    while w < w_max:
        h = h0 if w == 0.0 else min(h0, alpha / (3 * w * w * omega))
        h = min(h, w_max - w)
        for Ym, Z, kk in ((Y, X, k), (Yb, Xb, kb)):
            _tendency(Ym, mu, s, w, Z, kk[0])
            _tendency(Ym, mu, s, w + h / 2, Z + h / 2 * kk[0], kk[1])
            _tendency(Ym, mu, s, w + h / 2, Z + h / 2 * kk[1], kk[2])
            _tendency(Ym, mu, s, w + h, Z + h * kk[2], kk[3])
            Z += h / 6 * (kk[0] + 2 * kk[1] + 2 * kk[2] + kk[3])
        v0, v1 = w ** 3, (w + h) ** 3
        w += h
        steps += 1
        d = 0.5 * (_n33(X) - _n33(Xb))
        if v1 > v_average:
            lo = max(v0, v_average)
            integral += 0.5 * (d + d_prev) * (v1 - lo)
            span += v1 - lo
        d_prev = d
    return d_prev, integral / span, steps


def small_coupling_problem(eps, y=(3e-4, 1.5e-4, 0.5e-4), angles=(0.5, 0.3, 0.7, 1.0), s=1e-3):
    """(Y', μ, s, J, Π(y)) of the dimensionless problem at ε (angles θ12, θ13, θ23, δ [rad])."""
    U = pdg_matrix(*angles)
    Y = to_mass_basis(U, y)
    yA, yB, yC = y
    return Y, np.array([0.0, -1.0, -eps]), s, float(jarlskog(*angles)), (yA - yC) * (yA - yB) * (yB - yC)


def delta_L_dimensionless(eps, v_max_eps=400.0, alpha=0.2, y=(3e-4, 1.5e-4, 0.5e-4),
                          angles=(0.5, 0.3, 0.7, 1.0), s=1e-3):
    """(Δ_L at v_max, Δ_L averaged over v ∈ [v_max/2, v_max], steps) of the dimensionless
    problem at ε, v_max = v_max_eps/ε (averaging removes the tail's oscillation at the slow
    frequency ε, which decays only as (ε v)^{−2/3})."""
    Y, mu, s, _, _ = small_coupling_problem(eps, y, angles, s)
    v_max = v_max_eps / eps
    end, mean, steps = _evolve(np.ascontiguousarray(Y), mu, float(s), v_max ** (1 / 3), 0.02, alpha, v_max / 2)
    return end, mean, steps


def measured_c(eps, **kw):
    """C measured: −⟨Δ_L⟩/(Γ(1/3)³ s J Π(y) ε^{−1/3}) from `delta_L_dimensionless` (keywords
    passed on)."""
    y = kw.get("y", (3e-4, 1.5e-4, 0.5e-4))
    angles, s = kw.get("angles", (0.5, 0.3, 0.7, 1.0)), kw.get("s", 1e-3)
    _, _, _, J, Pi = small_coupling_problem(eps, y, angles, s)
    _, mean, _ = delta_L_dimensionless(eps, **kw)
    return -mean / (GAMMA_THIRD ** 3 * s * J * Pi * eps ** (-1 / 3))
