"""Pauli–Boltzmann targets on the full decks (3000 momentum points): items 2, 5 and 6.

Slow (minutes each); run with `python -m pytest -m slow tests/physics/test_pb_slow.py -s`.
Targets are the paper's printed numbers (model-pauli-boltzmann.md §5.4–5.5).
"""

import pytest

from test_pb import run_pb

pytestmark = pytest.mark.slow

FINE = ("momentum.n_points=6000", "momentum.y_min=1e-6")   # item 6: 2× the points, y_min 1e-6


@pytest.mark.parametrize("s2,T_c_paper", [("1e-9", 60.0), ("1e-6", 42.0)])
def test_growth_onset_and_resolution(s2, T_c_paper):
    T_end = "time.T_end_MeV=50" if s2 == "1e-9" else "time.T_end_MeV=1"
    base, _ = run_pb(f"pb_asymgen_s2_{s2}.yaml", T_end)
    fine, _ = run_pb(f"pb_asymgen_s2_{s2}.yaml", T_end, *FINE)
    for r in (base, fine):
        assert r.summary["onset_T_MeV"] == pytest.approx(T_c_paper, rel=0.05)   # the 5 %
        assert r.series["L"][-1] > 0                                            # sign of η̃ > 0
    assert fine.summary["onset_T_MeV"] == pytest.approx(base.summary["onset_T_MeV"], rel=0.01)
    if s2 == "1e-6":
        # paper: N_eff ≈ 0.50 (printed to 2 digits: ±0.005)
        assert base.series["N_eff"][-1] == pytest.approx(0.50, abs=0.005)
        assert fine.series["N_eff"][-1] == pytest.approx(base.series["N_eff"][-1], rel=0.01)


@pytest.mark.parametrize("grid", [(), FINE])
def test_three_flavour_boundary_within_5_percent_of_paper(grid):
    """Thermalised at 0.95 × 17.4 eV², suppressed at 1.05 × 17.8 eV² (paper: boundary 17.4–17.8)."""
    below, _ = run_pb("pb_3flavour_boundary.yaml", "physics.delta_m2_tau_eV2=-16.53", *grid)
    above, _ = run_pb("pb_3flavour_boundary.yaml", "physics.delta_m2_tau_eV2=-18.69", *grid)
    assert below.series["N_eff"][-1] > 0.9
    assert above.series["N_eff"][-1] < 0.1


def test_boundary_law_at_dm2_mu_1e_minus_2():
    """The law s²_τ(δm²_τ)² ≈ 28(δm²_μ)² at a second point of the paper's fig. 12 (its thick line
    for δm²_μ = 1e-2 eV²), s²_τ = 1e-6: |δm²_τ| = √28 × 10 = 52.9 eV². Thermalised 5 % below the
    law, suppressed 5 % above it (the issue's 5 %)."""
    law = (28.0 / 1e-6) ** 0.5 * 1e-2
    dm2_mu = "physics.delta_m2_eV2=1e-2"
    below, _ = run_pb("pb_3flavour_boundary.yaml", dm2_mu, f"physics.delta_m2_tau_eV2={-0.95 * law}")
    above, _ = run_pb("pb_3flavour_boundary.yaml", dm2_mu, f"physics.delta_m2_tau_eV2={-1.05 * law}")
    assert below.series["N_eff"][-1] > 0.9
    assert above.series["N_eff"][-1] < 0.1


@pytest.mark.parametrize("grid", [(), FINE])
def test_small_mixing_boundary_with_cell_averaged_rates_is_grid_independent(grid):
    """δm²_μ = 1e-3, s²_τ = 1e-7 (to 3 MeV), cell-averaged rates: the boundary lies at
    20.76–20.80 eV² (3000 points); thermalised at 20.3, suppressed at 21.3 on both grids. With
    point rates it moved with the grid (above 22 on 3000 points, 21–22 on 6000, below 21 on
    12 000). The law's 16.73 eV² is 24 % lower: the boundary is not on the law at this mixing."""
    common = ("physics.delta_m2_eV2=1e-3", "physics.sin2_2theta_tau=1e-7", "time.T_end_MeV=3",
              "momentum.rates=cell", *grid)
    below, _ = run_pb("pb_3flavour_boundary.yaml", *common, "physics.delta_m2_tau_eV2=-20.3")
    above, _ = run_pb("pb_3flavour_boundary.yaml", *common, "physics.delta_m2_tau_eV2=-21.3")
    assert below.series["N_eff"][-1] > 0.9
    assert above.series["N_eff"][-1] < 0.1
