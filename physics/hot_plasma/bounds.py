"""The paper's BBN bounds as formula functions: the printed expressions (4.6)–(4.12) and
(5.1)–(5.6), their constants re-derived, and the variants a first-principles Γ_W/H gives
(paper 003 §4.3, §5; docs/models/hot-plasma.md §1.4).

Pitfall P1 of the model note: (4.4) is already the cumulative probability P(t) = Γ_s^EKT t;
(4.10) multiplies it by Γ_W again (Γ_s = P Γ_W) and so counts Γ_W/H twice. new_bound_printed
reproduces the printed formula (1.6e-6 eV²) as printed; no run of the QKE produces it.
Masses squared in eV², temperatures in MeV.
"""

from __future__ import annotations

import math

from physics.hot_plasma import plasma


def f1(y, cos2theta=1.0):
    """f₁(y) = √y/(1 + 2y cos2θ₀ + y²) (4.8) [dimensionless]."""
    return math.sqrt(y) / (1.0 + 2.0 * y * cos2theta + y * y)


def f2(y, cos2theta=1.0):
    """f₂(y) = y/(1 + 2y cos2θ₀ + y²) (4.11) [dimensionless]."""
    return y / (1.0 + 2.0 * y * cos2theta + y * y)


def f1_argmax(cos2theta=1.0):
    """y of the maximum of f₁: (√(3 + cos²2θ₀) − cos2θ₀)/3 (→ 1/3)."""
    return (math.sqrt(3.0 + cos2theta ** 2) - cos2theta) / 3.0


def f1_max_printed():
    """f₁^max = 3√3/16 (small mixing) as the paper states it."""
    return 3.0 * math.sqrt(3.0) / 16.0


def f2_max_printed(cos2theta=1.0):
    """f₂^max = 1/(4 cos²θ₀) at y = 1 (4.11); 4cos²θ₀ = 2(1 + cos2θ₀)."""
    return 1.0 / (2.0 * (1.0 + cos2theta))


def gamma_w_over_h_per_T3():
    """(Γ_W/H)/(T/MeV)³ with Γ_W = 4.0 G_F² T⁵ and H = 1.66 √g* T²/M_Pl (1.22)."""
    return plasma.collision_rate(1.0) / plasma.hubble(1.0)


def temperature_coefficient():
    """C in T⁶ = C x Δm² of eq. (4.6), from V^(vec) = −3.4e-20 T⁵ and k = 3.15 T (4.67e6;
    printed 10⁷/2) [MeV⁶/eV²]."""
    return 1e-12 / (plasma.V_VEC_COEFF * 2.0 * 3.15)


def old_bound_printed(f1max=None):
    """|Δm²| sin⁴2θ₀ [eV²] from (4.7): 0.6 sin²2θ₀ √(10⁷|Δm²|/2) f₁^max ≤ 1 (5.27e-6; printed
    "5e-6")."""
    f = f1_max_printed() if f1max is None else f1max
    return (1.0 / (0.6 * f)) ** 2 / 5e6


def new_bound_printed(cos2theta=1.0):
    """|Δm²| sin²2θ₀ [eV²] from (4.10): 2.5e6 sin²2θ₀ |Δm²| f₂^max ≤ 1 (1.6e-6 for cos θ₀ → 1).
    Counts Γ_W/H twice (pitfall P1)."""
    return 1.0 / (2.5e6 * f2_max_printed(cos2theta))


def new_bound_coefficient(gamma_w_over_h_per_T3=1.0, t_hubble=1.0):
    """The coefficient of (4.10): Γ_s/H = P(t)Γ_W/H with P(t) = (V_x²/2Δ_m²)Γ_W t, t = t_hubble/H
    and T⁶ = 5e6 y Δm²: ½ · 5e6 · t_hubble · (Γ_W/H per T³)² (2.5e6 with the paper's 1 and 1)."""
    return 0.5 * 5e6 * t_hubble * gamma_w_over_h_per_T3 ** 2


def new_bound(gamma_w_over_h_per_T3=1.0, t_hubble=1.0, cos2theta=1.0):
    """|Δm²| sin²2θ₀ [eV²] of (4.10) with a given Γ_W/H per T³ and t = t_hubble/H (1.07e-6 with
    1.22 and H = 1/t, 2.1e-6 with 1.22 and t = 1/2H)."""
    return 1.0 / (new_bound_coefficient(gamma_w_over_h_per_T3, t_hubble) * f2_max_printed(cos2theta))


def gamma_min_prefactor_from_T_min():
    """(V^(vec))²/(2 Γ_min Γ_W) per unit of the (5.2) condition at p-independent order:
    (3.4e-20)²/(2 · 3.5/π · 10⁻¹² · 4.0 G_F²), compared with the printed 3π × 10⁻⁷ (9.53e-7)."""
    return plasma.V_VEC_COEFF ** 2 / (2.0 * 3.5 / math.pi * 1e-12 * plasma.collision_rate(1.0))


def T_min(p):
    """T_min [MeV] of (5.2) above which magnetic damping dominates: (3π(3−2p))^(1/2p)/2.3 ×
    10^(8 − 7/2p)."""
    return (3.0 * math.pi * (3.0 - 2.0 * p)) ** (1.0 / (2.0 * p)) / 2.3 * 10.0 ** (8.0 - 7.0 / (2.0 * p))


def magnetic_bound(T, p):
    """|Δm²| sin2θ₀ [eV²] ≲ 8 × 10^(−2−8p) (2.3)^p/√(3−2p) (T/MeV)^(3+p), eq. (5.5) as printed."""
    return 8.0 * 10.0 ** (-2.0 - 8.0 * p) * 2.3 ** p / math.sqrt(3.0 - 2.0 * p) * T ** (3.0 + p)


def magnetic_bound_final(p):
    """|Δm²| sin2θ₀ [eV²] ≲ 2(3π(3−2p))^(1/2p) × 10^(33/2 − 21/2p), eq. (5.6) as printed (not
    (5.5) at T_min: note T10)."""
    return 2.0 * (3.0 * math.pi * (3.0 - 2.0 * p)) ** (1.0 / (2.0 * p)) * 10.0 ** (16.5 - 10.5 / p)


def p_where_T_min_is(T, lo=0.3, hi=0.7):
    """The p with T_min(p) = T [MeV] (bisection; T_min grows with p on [lo, hi])."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if T_min(mid) < T else (lo, mid)
    return 0.5 * (lo + hi)
