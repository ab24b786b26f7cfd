"""Regions of the (sin²2θ, δm² < 0) plane: what the homogeneous QKE does at one point.

The paper's Fig. 1 (Enqvist, Kainulainen & Sorri 2000, start of section 3) divides the plane
into regions it describes in words. Here each region is a measurable criterion on a point's
runs (docs/results/fig1.md §2); every threshold is a named constant below. A point is run from
2 T_res with the background asymmetry L0 and, to test the sign's sensitivity, with
L0(1 + ε) and L0(1 − ε); the *central* run is the one with L0.

Codes (REGION_NAMES), decided in this order (classify):

- UNRESOLVED: one of the point's runs failed (no final state to classify).
- no growth of L: max|L| over the central run's samples stays below GROWTH_FACTOR·|L0|. Split
  by why:
    - THERMALISED (thermalised before the resonance): the sterile/active ratio of the central run
      at T_res exceeds THERMALISED_RATIO;
    - NO_GROWTH (the nonadiabatic small-mixing region): otherwise.
- growth (the rest):
    - LASTING (oscillations lasting to the end): the central run's L still changes sign below
      LASTING_BELOW_MEV;
    - CHAOTIC: the final sign of L differs between the three runs, or the central run's L changes
      sign at least CHAOTIC_SIGN_CHANGES times after the growth onset;
    - STABLE: otherwise (the final sign follows L0's and no period of rapid sign changes).

Units: temperatures in MeV, asymmetries per photon, ratios dimensionless. Every function is a
pure function of arrays and numbers (no I/O). Sign changes are counted between consecutive
output samples, so a count is a lower bound at the sample resolution (two changes between
two samples are not seen), and a temperature range of sign changes is bracketed by samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physics import constants as c

GROWTH_FACTOR = 1e3
"""Growth of L: |L| above this multiple of |L0| [dimensionless]. The same factor defines the growth
onset of a run's summary (physics.analysis.growth_onset): a point without an onset has not grown.
Away from the no-growth boundary max|L| stays near |L0| without growth (|L| relaxes towards 0
before the resonance) and reaches 1e4–5e9 |L0| with it; across the boundary the change is
continuous (64 × 64 map: max|L| up to 740 |L0| without growth, from 1.01e3 |L0| with it), and
any factor from 1e2 to 1e4 would change the class of at most 55 of its 4096 points (about one
cell per row of |δm²|)."""

THERMALISED_RATIO = 0.9
"""Thermalised before the resonance: sterile/active number ratio ⟨P0⁺ − Pz⁺⟩/⟨P0⁺ + Pz⁺⟩ above this
at T_res [dimensionless; 1 is full equilibrium of the sterile states]. It only names the cause of
a point without growth: where L does not grow the ratio at T_res is either below 3e-6 (very
small mixing) or within 1e-5 of 1 (64 × 64 map), so any value between separates them. Points
with a ratio above 0.9 whose L still grows exist (in this model growth stops only very near full
equilibrium); they are classified by what L does."""

EPSILON = 1e-3
"""Relative change of L0 in the two sensitivity runs, L0(1 ± EPSILON) [dimensionless]."""

CHAOTIC_SIGN_CHANGES = 10
"""Chaotic: at least this many sign changes of L after the growth onset (a period of rapid sign
changes, whose end sign three runs may by chance all share) [count, at the sample resolution]."""

LASTING_BELOW_MEV = 4.0
"""Oscillations lasting to the end: L still changes sign below this temperature [MeV]. At 4 MeV
the repopulation rate Γ_ττ is 6 H (repopulation_freeze_out_T: Γ_ττ = H at 2.2 MeV), so a point
whose L still flips here is still flipping when the active neutrinos decouple; a run must end
below it (the map's T_end, 3 MeV by default)."""

PROBE_T_OVER_T_RES = 0.9
"""End of a point's probe run, as a fraction of its T_res [dimensionless]. A point whose probe run
(central L0, from 2 T_res to 0.9 T_res) is thermalised at T_res and has not grown is classified
THERMALISED from it and not run further: there the solution precesses fast with nothing to damp
it, which costs up to ~1e8 step attempts per run to 3 MeV (δm² = −100 eV², sin²2θ = 1e-2).
Where the sterile states are near equilibrium at T_res (ratio > 0.5), growth, where it happens,
starts within 1.3 % below T_res (onsets 0.9876–0.99995 T_res on the 64 × 64 map), well above
0.9 T_res; only near the no-growth line at small mixing does it start later (down to 0.87 T_res),
and such points are never settled by the probe (their ratio at T_res is below 2e-6)."""

NO_GROWTH, THERMALISED, STABLE, CHAOTIC, LASTING, UNRESOLVED = range(6)
REGION_NAMES = ("no growth", "thermalised before the resonance", "stable", "chaotic",
                "oscillations lasting to the end", "unresolved (a run failed)")
"""Name of each region code (index = code)."""


@dataclass(frozen=True)
class SignChanges:
    """Sign changes of L after the growth onset, between consecutive samples.

    Attributes:
        count: number of sign changes (a lower bound at the sample resolution).
        T_high: temperature of the sample just before the first change [MeV] (NaN if none).
        T_low: temperature of the sample just after the last change [MeV] (NaN if none), so that
            every change lies in [T_low, T_high].
    """

    count: int
    T_high: float
    T_low: float


@dataclass(frozen=True)
class PointMeasures:
    """What classify needs from a point's runs.

    Attributes:
        failed: whether any of the point's runs failed.
        grew: whether L of the central run grew (max|L| ≥ GROWTH_FACTOR |L0|).
        ratio_at_T_res: sterile/active of the central run at T_res [dimensionless].
        final_signs_differ: whether the final sign of L differs between the runs (False with
            one run).
        sign_changes: the central run's SignChanges after the onset.
    """

    failed: bool
    grew: bool
    ratio_at_T_res: float
    final_signs_differ: bool
    sign_changes: SignChanges


def value_at(T, y, T0: float) -> float:
    """y at temperature T0 [MeV], linearly interpolated in ln T between the two samples around it.

    T: sample temperatures [MeV], strictly decreasing; y: values at them. NaN where T0 lies
    outside [T[-1], T[0]] or the bracketing values are NaN.
    """
    T, y = np.asarray(T, dtype=float), np.asarray(y, dtype=float)
    if not len(T) or not T[-1] <= T0 <= T[0]:
        return math.nan
    return float(np.interp(math.log(T0), np.log(T[::-1]), y[::-1]))


def onset_index(L, L0: float, factor: float = GROWTH_FACTOR):
    """Index of the first sample where |L| > factor·|L0| (the growth onset), or None if none.

    L: asymmetry samples [per photon]; L0: background asymmetry [per photon], nonzero. NaN samples
    (after a failed run's last sample) never count.
    """
    above = np.nonzero(np.abs(np.asarray(L, dtype=float)) > factor * abs(L0))[0]
    return int(above[0]) if len(above) else None


def grew(L, L0: float, factor: float = GROWTH_FACTOR) -> bool:
    """Whether |L| exceeded factor·|L0| at some sample (criterion of growth; L0 ≠ 0)."""
    return onset_index(L, L0, factor) is not None


def sign_changes(T, L, start: int) -> SignChanges:
    """Sign changes of L between consecutive samples from sample `start` on.

    A change is a pair (i, i + 1) with L[i]·L[i + 1] < 0 (exact zeros and NaN never count).
    T [MeV] decreasing, L [per photon]. The count is a lower bound at the sample resolution.
    """
    L = np.asarray(L, dtype=float)[start:]
    T = np.asarray(T, dtype=float)[start:]
    flips = np.nonzero(L[:-1] * L[1:] < 0)[0]
    if not len(flips):
        return SignChanges(0, math.nan, math.nan)
    return SignChanges(int(len(flips)), float(T[flips[0]]), float(T[flips[-1] + 1]))


def final_signs_differ(finals) -> bool:
    """Whether the final values of L of a point's runs [per photon] do not all have one sign."""
    signs = np.sign(np.asarray(finals, dtype=float))
    return bool(len(signs) and np.any(signs != signs[0]))


def measure(T, L, ratio, L0: float, T_res: float, finals, failed: bool = False) -> PointMeasures:
    """PointMeasures of one point from its central run's series and every run's final L.

    Args:
        T: the central run's sample temperatures [MeV], decreasing.
        L: its asymmetry L at them [per photon].
        ratio: its sterile/active ratio at them [dimensionless].
        L0: its background asymmetry [per photon], nonzero.
        T_res: the point's resonance temperature [MeV].
        finals: final L of each of the point's runs [per photon] (central first).
        failed: whether any run failed.
    """
    onset = onset_index(L, L0)
    changes = sign_changes(T, L, onset) if onset is not None else SignChanges(0, math.nan, math.nan)
    return PointMeasures(bool(failed), onset is not None, value_at(T, ratio, T_res),
                         final_signs_differ(finals), changes)


def classify(m: PointMeasures) -> int:
    """The region code of a point (module docstring for the order of the criteria)."""
    if m.failed:
        return UNRESOLVED
    if not m.grew:
        return THERMALISED if m.ratio_at_T_res > THERMALISED_RATIO else NO_GROWTH
    if m.sign_changes.count and m.sign_changes.T_low < LASTING_BELOW_MEV:
        return LASTING
    if m.final_signs_differ or m.sign_changes.count >= CHAOTIC_SIGN_CHANGES:
        return CHAOTIC
    return STABLE


def settled_by_probe(m: PointMeasures) -> bool:
    """Whether a probe run (to PROBE_T_OVER_T_RES·T_res) classifies its point already: thermalised
    at T_res (ratio above THERMALISED_RATIO) without growth and without failure."""
    return (not m.failed) and (not m.grew) and m.ratio_at_T_res > THERMALISED_RATIO


def repopulation_freeze_out_T(g_star: float = c.G_STAR_DEFAULT) -> float:
    """Temperature [MeV] where the repopulation rate Γ_ττ = 0.32 G_F² T⁵ falls to H = 1.66 √g* T²/M_Pl.

    Below it collisions no longer keep the active neutrinos thermal (they decouple), which the
    momentum-averaged equations assume: 2.17 MeV for g* = 10.75.
    """
    return (c.HUBBLE_PREFACTOR * math.sqrt(g_star) / (c.GAMMA_TT_COEFF * c.G_F ** 2 * c.M_PL)) ** (1.0 / 3.0)


def no_growth_line_s2(dm2_abs_eV2):
    """The paper's estimate of the no-growth boundary, sin²2θ |δm²|^{1/6} = 1e-10 (|δm²| in eV²):
    the sin²2θ on it at |δm²| [eV²] [dimensionless]."""
    return 1e-10 * np.asarray(dm2_abs_eV2, dtype=float) ** (-1.0 / 6.0)


DI_BARI_FOOT_DM2_EV2 = (1e-2, 1e3)
"""|δm²| range [eV²] of Di Bari & Foot's region of rapid sign oscillations (momentum-dependent QKE)."""


def di_bari_foot_band(dm2_abs_eV2):
    """Di Bari & Foot's region of rapid sign oscillations, 1e-6 ≲ sin²2θ ≲ 3e-4 (eV²/|δm²|), as
    quoted in the issue that asked for this map (not re-read from their paper here): (low, high)
    sin²2θ at |δm²| [eV²]; empty (high < low) above |δm²| = 300 eV²."""
    d = np.asarray(dm2_abs_eV2, dtype=float)
    return np.full_like(d, 1e-6), 3e-4 / d
