"""Exact symmetries and analytic limits of the homogeneous QKE (issue 2, items 2-4)."""

import numpy as np
import pytest

from physics.analysis import growth_onset, power_law_window
from physics.qke import MINUS_FIELDS, MixingParameters

PLUS_FIELDS = [i for i in range(8) if i not in MINUS_FIELDS]


def test_zero_background_asymmetry_stays_exactly_zero(run_deck):
    """L0 = 0: the minus sector has no source, so L must be 0.0, not merely small."""
    r = run_deck("homogeneous_A.yaml", "physics.L0=0", "time.T_end_MeV=25", "output.samples=201")
    assert np.all(r.series["L"] == 0.0)
    assert np.all(r.fields[list(MINUS_FIELDS)] == 0.0)
    assert r.series["sterile_over_active"][-1] > 0  # the plus sector did evolve


def test_flipping_L0_flips_L_exactly(run_deck):
    """(P+, P-, L0) -> (P+, -P-, -L0) is an exact symmetry; the run must reproduce it bitwise."""
    args = ("time.T_end_MeV=25", "output.samples=201")
    a = run_deck("homogeneous_A.yaml", "physics.L0=1e-10", *args)
    b = run_deck("homogeneous_A.yaml", "physics.L0=-1e-10", *args)
    assert np.abs(a.series["L"]).max() > 1e-6  # went through the growth
    np.testing.assert_array_equal(b.series["L"], -a.series["L"])
    np.testing.assert_array_equal(b.fields[list(MINUS_FIELDS)], -a.fields[list(MINUS_FIELDS)])
    np.testing.assert_array_equal(b.fields[PLUS_FIELDS], a.fields[PLUS_FIELDS])


def test_positive_delta_m2_gives_no_growth(run_deck):
    """δm² > 0: no resonance at L ≈ 0; |L| never exceeds |L0| and ends far below it."""
    r = run_deck("homogeneous_positive.yaml", "output.samples=401")
    L = r.series["L"]
    assert np.abs(L).max() <= 1e-10
    assert abs(L[-1]) < 1e-3 * 1e-10
    assert growth_onset(r.T, L, 1e-10) is None


# δm² spanning 1-1000 eV², each with a mixing in the growth region; stop soon after T_res.
ONSET_CASES = [(-1.0, 1e-7), (-10.0, 1e-8), (-1000.0, 1e-9)]


@pytest.mark.parametrize("dm2,s2", ONSET_CASES)
def test_growth_starts_just_below_the_resonance_temperature(run_deck, dm2, s2):
    T_res = MixingParameters(dm2, s2).resonance_temperature()
    assert T_res == pytest.approx(15.97 * (abs(dm2) * np.sqrt(1 - s2)) ** (1 / 6), rel=1e-12)
    r = run_deck("homogeneous_A.yaml", f"physics.delta_m2_eV2={dm2}", f"physics.sin2_2theta={s2}",
                 f"time.T_start_MeV={2 * T_res}", f"time.T_end_MeV={0.97 * T_res}",
                 "output.samples=3001", "integrator.rtol=1e-6")
    onset = growth_onset(r.T, r.series["L"], 1e-10, factor=1e3)
    print(f"dm2 = {dm2} eV^2: T_res = {T_res:.4f} MeV, onset = {onset:.4f} MeV "
          f"({100 * (1 - onset / T_res):.3f} % below)")
    assert onset is not None
    assert 0.99 * T_res <= onset <= T_res


def test_power_law_phase_after_the_growth(run_deck):
    """After the growth |L| ∝ T^slope over at least a factor 1.5 in T (point A)."""
    r = run_deck("homogeneous_A.yaml", "output.samples=1001", "integrator.rtol=1e-6")
    fit = power_law_window(r.T, r.series["L"], 1e-10)
    assert fit is not None
    slope, T_hi, T_lo = fit
    print(f"power law d ln|L|/d ln T = {slope:+.3f} over T = {T_hi:.3f} .. {T_lo:.3f} MeV")
    assert T_hi / T_lo >= 1.5
    assert -4.5 < slope < -1.0
    assert r.summary["power_law_slope"] == slope
