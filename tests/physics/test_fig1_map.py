"""The paper's Fig. 1 from one batched run (`qke scan --map`, scripts/fig1_map.py, physics/regions.py).

A small batch of 17 points spread over every region runs once (module fixture, one Numba
thread): every point's runs equal their own single `qke run` (lattice.driver.run of the deck
built by `qke run DECK --set` with the point's overrides) bit for bit, and points chosen well
inside each region get that region. Where the regions lie comes from the paper's text
(section 3): no growth left of sin²2θ |δm²|^{1/6} ≈ 1e-10; thermalised before the resonance at
large mixing; point A (δm² = −100 eV², sin²2θ = 1e-8) in the stable region, point B (−1 eV²,
1e-5) in the chaotic one; oscillations lasting to the end in the lower right corner (small
|δm²|, large mixing).
"""

from __future__ import annotations

import math

import h5py
import numba
import numpy as np
import pytest

from conftest import INPUT
from physics import regions
from scripts import cli, fig1_map

DECK = str(INPUT / "homogeneous_B.yaml")

NO_GROWTH = [(1.0, 1e-12), (1000.0, 1e-12), (0.03, 1e-11)]
"""Far left of the paper's estimated no-growth line (sin²2θ there: 1e-10, 3.2e-11, 1.8e-10)."""
THERMALISED = [(1.0, 1e-2), (100.0, 1e-2), (1000.0, 1e-3), (10.0, 1e-2)]
"""Large mixing: the sterile states are in equilibrium at T_res and L does not grow."""
STABLE = [(100.0, 1e-8), (1000.0, 1e-9), (10.0, 1e-9), (1000.0, 1e-8)]
"""Point A and large |δm²| at small mixing (right of the no-growth line): one growth, no sign changes."""
CHAOTIC = [(1.0, 1e-5), (1.0, 1e-4), (0.1, 1e-5)]
"""Point B and its neighbours: a period of rapid sign changes just below T_res."""
LASTING = [(0.01, 1e-3)]
"""The lower right corner (T_res = 7.4 MeV, sin²2θ = 1e-3): L still flips near 3 MeV."""
BETWEEN = [(10.0, 1e-6), (0.1, 1e-9)]
"""Two points nearer boundaries (classified, not asserted)."""

EXPECTED = {**{p: regions.NO_GROWTH for p in NO_GROWTH}, **{p: regions.THERMALISED for p in THERMALISED},
            **{p: regions.STABLE for p in STABLE}, **{p: regions.CHAOTIC for p in CHAOTIC},
            **{p: regions.LASTING for p in LASTING}}
PAIRS = NO_GROWTH + THERMALISED + STABLE + CHAOTIC + LASTING + BETWEEN


@pytest.fixture(scope="module")
def batch():
    spec = fig1_map.MapSpec(DECK, (), n_dm2=1, n_s2=len(PAIRS), threads=1)
    lines = []
    result = fig1_map.run_map(spec, say=lambda *a, **k: lines.append(a[0]), keep_runs=True, pairs=PAIRS)
    return result, lines


def _single_runs(sites, point, row):
    """The point's runs as single `qke run DECK --set ...` runs, central first."""
    from lattice.driver import run
    from scripts.models import load_deck

    factors = sites.factors() if row["runs"] == 3 else (1.0,)
    out = []
    for factor in factors:
        deck, schema = load_deck(DECK, list(sites.spec.overrides)
                                 + sites.site_overrides(point, factor, row["T_end_MeV"]))
        out.append(run(deck, schema, write=False))
    return out


def test_every_point_equals_its_single_runs_bit_for_bit(batch):
    result, _ = batch
    checked = 0
    for point, row in zip(result.points, result.rows):
        runs = result.runs[point.index]
        singles = _single_runs(result.sites, point, row)
        assert len(runs) == len(singles) == row["runs"]
        for site, single in zip(runs, singles):
            assert site.error is None
            np.testing.assert_array_equal(site.T, single.T)
            np.testing.assert_array_equal(site.series["L"], single.series["L"])
            np.testing.assert_array_equal(site.series["sterile_over_active"], single.series["sterile_over_active"])
            assert site.stats["accepted"] == single.stats["accepted"]
            checked += 1
        finals = [row["L_final"], row["L_final_plus"], row["L_final_minus"]][:row["runs"]]
        np.testing.assert_array_equal(finals, [s.series["L"][-1] for s in singles])
    assert checked == sum(row["runs"] for row in result.rows)


def test_points_well_inside_each_region_get_it(batch):
    result, _ = batch
    got = {(p.dm2_abs, p.s2): row["region"] for p, row in zip(result.points, result.rows)}
    wrong = {p: (regions.REGION_NAMES[got[p]], regions.REGION_NAMES[want]) for p, want in EXPECTED.items()
             if got[p] != want}
    assert not wrong, f"(|dm2|, sin^2 2theta): (got, expected): {wrong}"
    assert {row["region"] for row in result.rows} >= {regions.NO_GROWTH, regions.THERMALISED, regions.STABLE,
                                                      regions.CHAOTIC, regions.LASTING}


def test_rows_carry_what_the_regions_mean(batch):
    result, _ = batch
    rows = {(p.dm2_abs, p.s2): row for p, row in zip(result.points, result.rows)}
    for p in THERMALISED:            # settled by the probe run: one run, to 0.9 T_res
        row = rows[p]
        assert row["runs"] == 1 and row["T_end_MeV"] == pytest.approx(0.9 * row["T_res_MeV"])
        assert row["sterile_over_active_at_T_res"] > regions.THERMALISED_RATIO
        assert row["L_max_over_L0"] < regions.GROWTH_FACTOR and math.isnan(row["L_final_plus"])
    for p in NO_GROWTH:
        row = rows[p]
        assert row["runs"] == 3 and row["L_max_over_L0"] < regions.GROWTH_FACTOR and math.isnan(row["onset_T_MeV"])
        assert row["sterile_over_active_at_T_res"] < 1e-5
    for p in STABLE + CHAOTIC + LASTING:
        row = rows[p]
        assert row["L_max_over_L0"] > 1e4 and 0.98 * row["T_res_MeV"] < row["onset_T_MeV"] < row["T_res_MeV"]
    for p in STABLE:
        assert rows[p]["sign_changes"] < regions.CHAOTIC_SIGN_CHANGES and not rows[p]["final_signs_differ"]
    B = rows[(1.0, 1e-5)]
    assert B["sign_changes"] >= regions.CHAOTIC_SIGN_CHANGES and B["sign_changes_T_low_MeV"] > 14.0
    corner = rows[LASTING[0]]
    assert corner["sign_changes_T_low_MeV"] < regions.LASTING_BELOW_MEV and corner["sign_changes"] > 100


def test_progress_and_rate_are_reported(batch):
    result, lines = batch
    assert any("probe runs" in line and f"{len(PAIRS)}/{len(PAIRS)} sites" in line for line in lines)
    n_full = 3 * sum(row["runs"] == 3 for row in result.rows)
    assert any(f"{n_full}/{n_full} sites" in line and "ETA" in line for line in lines)
    assert result.attempts == sum(row["attempts"] for row in result.rows)
    assert result.site_steps_per_s > 0 and result.probe.sites == len(PAIRS)


def test_table_written_and_drawn(batch, tmp_path):
    result, _ = batch
    path = fig1_map.write_map(tmp_path / "map.h5", result)
    with h5py.File(path, "r") as f:
        assert len(f["region"]) == len(PAIRS) and f["T_res_MeV"].attrs["units"] == "MeV"
        assert list(f["region"].attrs["names"]) == list(regions.REGION_NAMES)
        assert "delta_m2_eV2" in f.attrs["deck"] and f.attrs["command"].startswith("qke scan")
        np.testing.assert_array_equal(f["L_final"][()], [row["L_final"] for row in result.rows])
    assert not (tmp_path / "map.h5.part").exists()


# -- the criteria on known arrays -------------------------------------------------------------------
def test_sign_changes_and_interpolation_known_answers():
    T = np.array([10.0, 9.0, 8.0, 7.0, 6.0, 5.0])
    L = np.array([1e-10, -1e-12, 2e-6, -3e-6, 0.0, 4e-6])
    assert regions.onset_index(L, 1e-10) == 2
    got = regions.sign_changes(T, L, 2)
    assert (got.count, got.T_high, got.T_low) == (1, 8.0, 7.0)          # the exact zero is no change
    assert regions.sign_changes(T, L, 0).count == 3
    assert regions.value_at(T, T * 2, 7.5) == pytest.approx(15.0, rel=1e-2)
    assert math.isnan(regions.value_at(T, T, 11.0))
    assert regions.final_signs_differ([1.0, 2.0, -1e-9]) and not regions.final_signs_differ([-1.0, -2.0, -3.0])
    assert regions.repopulation_freeze_out_T() == pytest.approx(2.17, abs=0.01)


@pytest.mark.parametrize("measures, code", [
    (dict(failed=True, grew=True), regions.UNRESOLVED),
    (dict(grew=False, ratio_at_T_res=0.99), regions.THERMALISED),
    (dict(grew=False, ratio_at_T_res=1e-6), regions.NO_GROWTH),
    (dict(changes=regions.SignChanges(50, 7.0, 3.2)), regions.LASTING),
    (dict(changes=regions.SignChanges(12, 16.0, 15.0)), regions.CHAOTIC),
    (dict(differ=True, changes=regions.SignChanges(1, 16.0, 15.9)), regions.CHAOTIC),
    (dict(changes=regions.SignChanges(2, 16.0, 15.9)), regions.STABLE),
])
def test_classify_order(measures, code):
    m = regions.PointMeasures(measures.get("failed", False), measures.get("grew", True),
                              measures.get("ratio_at_T_res", 0.5), measures.get("differ", False),
                              measures.get("changes", regions.SignChanges(0, math.nan, math.nan)))
    assert regions.classify(m) == code


# -- the command line -------------------------------------------------------------------------------
def test_cli_refuses_an_existing_output(tmp_path, capsys):
    out = tmp_path / "map.h5"
    out.write_bytes(b"keep me")
    assert cli.main(["scan", DECK, "--map", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "--overwrite" in err[0]
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("option, words", [
    (["--n-dm2", "0"], "--n-dm2 0: must be an integer from 1 to"),
    (["--s2-range", "1e-2", "1e-12"], "--s2-range 0.01 1e-12: needs 0 < LO < HI"),
    (["--T-end", "5"], "--T-end 5: must lie in [2.17, 4) MeV"),
    (["--epsilon", "0"], "--epsilon 0: must be in (0, 0.1]"),
    (["--samples", "10"], "--samples 10: must be an integer from 100"),
    (["--threads", str(numba.config.NUMBA_NUM_THREADS + 1)], "must be from 1 to"),
    (["--dm2-range", "1e-6", "1"], "--dm2-range 1e-06 1: the smallest |dm2| has T_res"),
    (["--param", "physics.L0", "--values", "1"], "--param/--values: not used with --map"),
])
def test_cli_refuses_a_bad_option_in_one_line(tmp_path, capsys, option, words):
    out = tmp_path / "map.h5"
    assert cli.main(["scan", DECK, "--map", "--out", str(out), *option]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_refuses_the_gpu_without_a_device_in_one_line(tmp_path, capsys):
    from lattice.device_batch import cuda_or_none

    if cuda_or_none() is not None:
        pytest.skip("a CUDA device answers here")
    out = tmp_path / "map.h5"
    assert cli.main(["scan", DECK, "--map", "--out", str(out), "--backend", "cupy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--backend cupy: no CUDA device answers here" in err[0], err
    assert not out.exists()


def test_plot_fig1_draws_a_table(tmp_path, capsys):
    path = tmp_path / "map.h5"
    dm2, s2 = np.geomspace(1e-2, 1e3, 3), np.geomspace(1e-12, 1e-2, 4)
    with h5py.File(path, "w") as f:
        f["dm2_abs_eV2"] = np.repeat(dm2, 4)
        f["sin2_2theta"] = np.tile(s2, 3)
        f["region"] = np.array([0, 2, 3, 1, 0, 2, 3, 1, 0, 3, 4, 5])
        f["region"].attrs["names"] = list(regions.REGION_NAMES)
        f.attrs["n_dm2"], f.attrs["n_s2"], f.attrs["T_end_MeV"] = 3, 4, 3.0
    assert cli.main(["plot", "fig1", str(path), "--out", str(tmp_path / "fig1.png")]) == 0
    assert (tmp_path / "fig1.png").stat().st_size > 10_000
    assert "chaotic: 3" in capsys.readouterr().out
    assert cli.main(["plot", "fig1", str(tmp_path / "missing.h5")]) == 2
