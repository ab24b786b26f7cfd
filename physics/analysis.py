"""Post-run diagnostics of an asymmetry history L(T): growth onset and power-law slope."""

from __future__ import annotations

import numpy as np


def growth_onset(T, L, L0, factor=1e3):
    """First temperature [MeV] (T descending) where |L| exceeds factor·|L0|; None if never.

    Linear interpolation in (ln T, ln|L|) between the bracketing samples.
    """
    if L0 == 0:
        return None
    threshold = factor * abs(L0)
    above = np.nonzero(np.abs(L) > threshold)[0]
    if len(above) == 0:
        return None
    i = above[0]
    if i == 0:
        return float(T[0])
    l1, l2 = np.log(max(abs(L[i - 1]), 1e-300)), np.log(abs(L[i]))
    x1, x2 = np.log(T[i - 1]), np.log(T[i])
    return float(np.exp(x1 + (np.log(threshold) - l1) * (x2 - x1) / (l2 - l1)))


def summarise(result, deck):
    """Closing summary of a run (merged with the integrator statistics)."""
    T, L = result.T, result.series["L"]
    s = dict(result.stats)
    s["T_final_MeV"] = float(T[-1])
    s["L_final"] = float(L[-1])
    s["sterile_over_active_final"] = float(result.series["sterile_over_active"][-1])
    s["onset_T_MeV"] = growth_onset(T, L, deck.physics.L0)
    return s
