"""The ν̄ momentum cells and the forward-only adiabatic resonance sweep (note §5.3, §8.5).

Cells of width Δ in y = p/T_ν, centres y_j = (j + ½)Δ, j = 0 … N−1, hold occupations g_j
(f_ν̄(y_j), dimensionless). A cell holds n_j/n_γ = w_j g_j with w_j = y_j² Δ / (4 ζ(3)).

Complete MSW conversion of the cells a resonance crosses (paper's swap rules):

- p₁ (ν̄_{τ,μ}–ν̄_s): g_s ← g_τ,  g_τ (= g_μ) ← ½(g_s + g_τ);
- p₂ (ν̄_{τ,μ}–ν̄_e): g_e ← g_τ,  g_τ (= g_μ) ← ½(g_e + g_τ).

L_τ (= L_μ) and L_e [per photon/h] change only by the swaps, by minus the change of the ν̄
number: ΔL = −Σ w Δg. Each swap keeps the number of ν̄ over the four species, so
2 L_τ + L_e + L_s with L_s = −Σ w g_s (the sterile lepton number, no ν_s) is exact to round-off.

`sweep` advances the fronts (the largest y each resonance has reached) forward only, to the
resonance positions of the current L, re-evaluated after every swap until no cell moves (the
jump-safe form of the paper's eqs. L1/L3; note §4.5).
"""

from __future__ import annotations

import math

import numpy as np

from physics.constants import ZETA3
from physics.bfv import potentials


def dot(a, b) -> float:
    """Σ a b over 1D arrays (einsum's own loop: BLAS dot is slow on a loaded shared machine)."""
    return float(np.einsum("i,i->", a, b))


class CellGrid:
    """N = round(y_max/Δ) uniform cells in y = p/T_ν [dimensionless].

    Attributes: y (centres), dy (Δ), w (= y² Δ/(4ζ3): n/n_γ per unit occupation), f0 (1/(1+e^y)),
    n0 (Σ w f0 = 3/8 up to the quadrature), e0 (Σ w y f0).
    """

    def __init__(self, dy: float, y_max: float):
        self.dy = float(dy)
        self.n = int(round(y_max / dy))
        self.y = (np.arange(self.n) + 0.5) * self.dy
        self.w = self.y ** 2 * self.dy / (4.0 * ZETA3)
        self.f0 = 1.0 / (1.0 + np.exp(self.y))
        self.n0 = dot(self.w, self.f0)
        self.e0 = dot(self.w * self.y, self.f0)

    def __len__(self):
        return self.n

    def crossed(self, a: float, b: float) -> slice:
        """The cells whose centre lies in (a, b]."""
        return slice(int(np.searchsorted(self.y, a, side="right")),
                     int(np.searchsorted(self.y, b, side="right")))

    def number(self, g) -> float:
        """n/n_γ [per photon/h] of occupations g."""
        return dot(self.w, g)

    def density_ratios(self, g) -> tuple:
        """(n/n₀, ⟨E⟩/⟨E⟩₀) of occupations g against the μ = 0 Fermi–Dirac (on this grid)."""
        n = dot(self.w, g)
        e = dot(self.w * self.y, g)
        return n / self.n0, (e / n) / (self.e0 / self.n0) if n > 0 else 0.0


def swap(g_tau, g_other, cells: slice, w):
    """Complete conversion at a resonance over `cells` (in place): g_other ← g_τ,
    g_τ ← ½(g_other + g_τ). Returns (ΔL_τ, ΔL_other) = (−Σ w Δg_τ, −Σ w Δg_other)."""
    a, b = g_tau[cells].copy(), g_other[cells].copy()
    g_other[cells] = a
    g_tau[cells] = 0.5 * (a + b)
    ww = w[cells]
    return -dot(ww, g_tau[cells] - a), -dot(ww, g_other[cells] - b)


def advance(grid: CellGrid, target, g_tau, g_other, front: float):
    """Move one resonance forward from `front`, swapping cells one after another while each next
    cell centre lies at or below the resonance position that the swaps so far give.

    target: (dL_τ, dL_other) -> resonance y after adding those changes to L (inf: none).
    Returns (ΔL_τ, ΔL_other, new front, cells swapped). The new front is the resonance position
    after the last swap (or that cell's centre, if the swap moved the resonance below it), or,
    when every cell up to the first target swapped, that target (the caller calls again: the
    swaps may have moved the resonance further, as p₂'s do).
    """
    t0 = target(0.0, 0.0)
    if not math.isfinite(t0) or t0 <= front:
        return 0.0, 0.0, front, 0
    cand = grid.crossed(front, t0)
    n = cand.stop - cand.start
    if n == 0:
        return 0.0, 0.0, t0, 0
    a, b, ww = g_tau[cand], g_other[cand], grid.w[cand]
    d_tau = np.cumsum(-ww * (0.5 * (a + b) - a))          # ΔL_τ after swapping cells ≤ k
    d_oth = np.cumsum(-ww * (a - b))
    t = np.array([target(x, z) for x, z in zip(d_tau, d_oth)])   # resonance after cells ≤ k
    ys = grid.y[cand]
    reach = np.concatenate([[t0], t[:-1]]) >= ys        # cell k reached given the swaps before it
    k = n if reach.all() else int(np.argmin(reach))     # cells 0 … k−1 swap
    if k == 0:
        return 0.0, 0.0, t0, 0
    sl = slice(cand.start, cand.start + k)
    d1, d2 = swap(g_tau, g_other, sl, grid.w)
    if k == n:          # every candidate swapped: the cells beyond t0 are the next call's
        return d1, d2, t0, k
    return d1, d2, max(t[k - 1], ys[k - 1]), k


def sweep(grid: CellGrid, K: float, T: float, g_tau, g_e, g_s, L_tau: float, L_e: float,
          front1: float, front2: float):
    """Move both resonances forward to their self-consistent positions at T [MeV] (in place on
    the g's), alternating p₁ (which drives L_τ) and p₂ (`advance`) until neither moves a cell.

    Args: K [MeV⁴] (potentials.K_coefficient), occupations g_τ, g_e, g_s (arrays, changed in
    place), L_τ, L_e [per photon/h], the fronts y₁, y₂ reached so far.
    Returns (L_τ, L_e, front1, front2, swept cells).
    """
    swept = 0
    while True:
        d_tau, _, front1, n1 = advance(
            grid, lambda x, z: potentials.y1(K, T, L_tau + x, L_e), g_tau, g_s, front1)
        L_tau += d_tau
        d_tau, d_e, front2, n2 = advance(
            grid, lambda x, z: potentials.y2(K, T, L_tau + x, L_e + z), g_tau, g_e, front2)
        L_tau, L_e = L_tau + d_tau, L_e + d_e
        swept += n1 + n2
        if not n1 + n2:
            return L_tau, L_e, front1, front2, swept
