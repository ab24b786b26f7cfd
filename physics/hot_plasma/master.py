"""The master equation (3.13), its exact solution, and the paper's closed forms and asymptotic
roots (paper 003 §3.2, §4.1, §5; docs/models/hot-plasma.md §1.3).

    d³P/dt³ + a₂ d²P/dt² + a₁ dP/dt + a₀ P = a₀/2,
    a₂ = 2(Γ + Γ_W), a₁ = Δ_m² + 2ΓΓ_W + Γ_W1², a₀ = Γ_W V_x²        (3.17)

with P(0) = 0, Ṗ(0) = 0, P̈(0) = V_x²/2 (3.15), so P(t) = ½ + Σ C_i e^{k_i t} (3.16). Every
function takes a plasma.Rates (rates [MeV]) and times t [MeV^-1]; Γ_W1² = ⟨D²⟩ defaults to
Γ_W² (one momentum mode, where the Bloch system of bloch.py is the same equation).
"""

from __future__ import annotations

import numpy as np


def cubic(rates, Gamma_W1_sq=None):
    """(a₂, a₁, a₀) of eq. (3.17) [MeV, MeV², MeV³]."""
    G, GW = rates.Gamma, rates.Gamma_W
    W1 = GW * GW if Gamma_W1_sq is None else Gamma_W1_sq
    return 2.0 * (G + GW), rates.delta_m ** 2 + 2.0 * G * GW + W1, GW * rates.V_x ** 2


def roots(rates, Gamma_W1_sq=None):
    """The three roots k_i [MeV] of k³ + a₂k² + a₁k + a₀ = 0 (numpy.roots: no branch choice)."""
    return np.roots([1.0, *cubic(rates, Gamma_W1_sq)]).astype(complex)


def cardano_roots(rates, Gamma_W1_sq=None):
    """The roots by the paper's Cardano formula (3.18), with s₂ chosen so that s₁s₂ = −q [MeV]."""
    a2, a1, a0 = cubic(rates, Gamma_W1_sq)
    r = (a1 * a2 - 3.0 * a0) / 6.0 - a2 ** 3 / 27.0
    q = a1 / 3.0 - a2 ** 2 / 9.0
    s1 = complex(r + np.sqrt(complex(r * r + q ** 3))) ** (1.0 / 3.0)
    s2 = -q / s1 if s1 != 0 else complex(r - np.sqrt(complex(r * r + q ** 3))) ** (1.0 / 3.0)
    shift = -a2 / 3.0
    return np.array([shift + s1 + s2,
                     shift - 0.5 * (s1 + s2) + 0.5j * np.sqrt(3.0) * (s1 - s2),
                     shift - 0.5 * (s1 + s2) - 0.5j * np.sqrt(3.0) * (s1 - s2)])


def coefficients(rates, k):
    """C_i of (3.16) from the initial conditions (3.15): the Vandermonde system
    [1,1,1; k; k²] C = [−½, 0, V_x²/2]."""
    V = np.vstack([np.ones(3), k, k * k]).astype(complex)
    return np.linalg.solve(V, np.array([-0.5, 0.0, 0.5 * rates.V_x ** 2], dtype=complex))


def master_solution(rates, t, Gamma_W1_sq=None):
    """P(t) = ½ + Σ C_i e^{k_i t} (3.16), the exact solution of the master equation."""
    k = roots(rates, Gamma_W1_sq)
    C = coefficients(rates, k)
    t = np.asarray(t, dtype=float)
    return 0.5 + np.real(np.exp(np.multiply.outer(t, k)) @ C)


def slow_root(rates, Gamma_W1_sq=None):
    """The real root of smallest magnitude (the aperiodic 'spin-shrinkage' mode) [MeV]."""
    k = roots(rates, Gamma_W1_sq)
    real = k[np.abs(k.imag) <= 1e-12 * np.abs(k)].real
    return float(real[np.argmin(np.abs(real))])


def msw(rates, t):
    """Collisionless MSW, Γ_W = Γ = 0: P = (V_x²/Δ_m²) sin²(Δ_m t/2) (3.20)."""
    dm = rates.delta_m
    return (rates.V_x / dm) ** 2 * np.sin(0.5 * dm * np.asarray(t)) ** 2


def collisionless_magnetic(rates, t):
    """Γ_W = 0, random field Γ > 0: eq. (3.19) with the t in sinh restored,
    P = (V_x²/2Δ_m²){1 − e^{−Γt}[cosh ωt + (Γ/ω) sinh ωt]}, ω = √(Γ² − Δ_m²) (ω imaginary,
    cosh → cos, below Γ = Δ_m; the limit ω → 0 at Γ = Δ_m)."""
    G, dm, t = rates.Gamma, rates.delta_m, np.asarray(t, dtype=float)
    w2 = G * G - dm * dm
    if w2 > 0:
        w = np.sqrt(w2)
        bracket = np.exp((w - G) * t) * 0.5 * (1 + G / w) + np.exp(-(w + G) * t) * 0.5 * (1 - G / w)
    elif w2 < 0:
        w = np.sqrt(-w2)
        bracket = np.exp(-G * t) * (np.cos(w * t) + G / w * np.sin(w * t))
    else:
        bracket = np.exp(-G * t) * (1.0 + G * t)
    return 0.5 * (rates.V_x / dm) ** 2 * (1.0 - bracket)


def paper_slow_root(rates):
    """B = 0, far from resonance: k₁ = −Γ_W V_x²/Δ_m² (§4.1) [MeV]."""
    return -rates.Gamma_W * (rates.V_x / rates.delta_m) ** 2


def depolarisation_time(rates):
    """t_d = Δ_m²/(V_x² Γ_W) (4.2) [MeV^-1]."""
    return 1.0 / -paper_slow_root(rates)


def shrinking(rates, t):
    """B = 0, Γ_W ≪ Δ_m: eq. (4.1), P = ½{1 − e^{−t/t_d} + (V_x²/Δ_m²)[e^{−t/t_d} − e^{−Γ_W t}
    cos Δ_m t]}."""
    t = np.asarray(t, dtype=float)
    slow = np.exp(paper_slow_root(rates) * t)
    ratio = (rates.V_x / rates.delta_m) ** 2
    return 0.5 * (1.0 - slow + ratio * (slow - np.exp(-rates.Gamma_W * t) * np.cos(rates.delta_m * t)))


def aperiodic(rates, t):
    """Γ_W⁻¹ ≪ t ≪ t_d: P ≃ t/(2t_d) = (V_x²/2Δ_m²) Γ_W t (4.3)–(4.4)."""
    return 0.5 * np.asarray(t) / depolarisation_time(rates)


def strong_field_roots(rates):
    """Γ ≫ Δ_m, Δ_m² ≪ ΓΓ_W: the paper's roots (5.3) without the dropped term of k₃ [MeV]:
    (−2Γ − Γ_W + Δ_m²/2Γ, −Γ_W − Δ_m²/2Γ, −V_x²/2Γ)."""
    G, GW, dm2 = rates.Gamma, rates.Gamma_W, rates.delta_m ** 2
    return np.array([-2 * G - GW + dm2 / (2 * G), -GW - dm2 / (2 * G), -rates.V_x ** 2 / (2 * G)])


def strong_field(rates, t):
    """Γ ≫ Δ_m, t ≫ Γ_W⁻¹: P ≃ ½[1 − e^{−V_x² t/2Γ}] (5.4)."""
    return 0.5 * (1.0 - np.exp(-rates.V_x ** 2 * np.asarray(t) / (2.0 * rates.Gamma)))


def rate_equation_decay(rates):
    """2Γ_s [MeV]: the decay rate of f_a − f_s in the rate equation df_s/dt = Γ_s(f_a − f_s),
    with Γ_s = ½Γ_W V_x²/(Δ_m² + Γ_W(Γ_W + 2Γ)): the first iterate k = −a₀/a₁ of the cubic's
    slow root, → the EKT rate (V_x²/2Δ_m²)Γ_W of (4.5) for Γ_W, Γ ≪ Δ_m."""
    return rates.Gamma_W * rates.V_x ** 2 / (rates.delta_m ** 2 + rates.Gamma_W * (rates.Gamma_W + 2 * rates.Gamma))


def rate_equation(rates, t):
    """P(t) = ½(1 − e^{−2Γ_s t}) of the rate equation from a pure active state."""
    return 0.5 * (1.0 - np.exp(-rate_equation_decay(rates) * np.asarray(t)))
