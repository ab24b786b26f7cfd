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


def power_law_window(T, L, L0, spread=0.05, min_dlnT=0.02):
    """Longest range after the growth where |L| ∝ T^slope, and the slope d ln|L| / d ln T.

    Only samples after the last sign change of L with |L| > 1e3 |L0| are considered. Local
    slopes are taken between samples at least `min_dlnT` apart in ln T; the window is the
    longest run of them that all lie within ±spread·|mean| of their mean. The slope is the
    least-squares fit of ln|L| against ln T over that window.

    Returns (slope, T_high, T_low) in MeV, or None when no such window exists.
    """
    T, L = np.asarray(T, float), np.asarray(L, float)
    if L0 == 0 or len(T) < 3:
        return None
    flips = np.nonzero(np.sign(L[1:]) != np.sign(L[:-1]))[0]
    start = flips[-1] + 1 if len(flips) else 0
    grown = np.nonzero(np.abs(L[start:]) > 1e3 * abs(L0))[0]
    if len(grown) == 0:
        return None
    start += grown[0]
    x, yl = np.log(T[start:]), np.log(np.abs(L[start:]))
    stride = max(1, int(np.ceil(min_dlnT / max(np.abs(np.diff(x)).min(initial=min_dlnT), 1e-300))))
    if len(x) <= stride + 1:
        return None
    slopes = (yl[stride:] - yl[:-stride]) / (x[stride:] - x[:-stride])
    best = (0, 0)
    for i in range(len(slopes)):
        hi = np.maximum.accumulate(slopes[i:])
        lo = np.minimum.accumulate(slopes[i:])
        mean = np.cumsum(slopes[i:]) / np.arange(1, len(slopes) - i + 1)
        ok = np.nonzero((hi - lo) <= 2 * spread * np.abs(mean))[0]
        if len(ok) and ok[-1] + 1 > best[1] - best[0]:
            best = (i, i + ok[-1] + 1)
        if len(slopes) - i <= best[1] - best[0]:
            break
    i, j = best
    if j - i < 1:
        return None
    sel = slice(i, j + stride)
    slope = np.polyfit(x[sel], yl[sel], 1)[0]
    return float(slope), float(T[start + i]), float(T[start + j + stride - 1])


def summarise(result, deck):
    """Closing summary of a run (merged with the integrator statistics)."""
    T, L = result.T, result.series["L"]
    s = dict(result.stats)
    s["T_final_MeV"] = float(T[-1])
    s["L_final"] = float(L[-1])
    s["sterile_over_active_final"] = float(result.series["sterile_over_active"][-1])
    s["onset_T_MeV"] = growth_onset(T, L, deck.physics.L0)
    fit = power_law_window(T, L, deck.physics.L0)
    s["power_law_slope"], s["power_law_T_hi_MeV"], s["power_law_T_lo_MeV"] = fit or (None, None, None)
    return s
