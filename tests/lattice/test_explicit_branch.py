"""The explicit branch in the wall-held phase of point B (issue 19, item 5).

From the point-B laptop deck's state at 13 MeV (a snapshot of the deck itself, run from
31.94 MeV), the run is continued four ways:

- R: Rodas4 throughout (integrator.method = rodas4) at the deck's rtol 1e-5, the resolved
  implicit run the explicit branch replaces;
- R_tight: Rodas4 at rtol 3e-6, and R_fine: Rodas4 at rtol 1e-6, which measure R's own error;
- S: the switched run at the deck's rtol (method auto: DOPRI5 at rtol × explicit_rtol_factor
  where it is not stiff, which after the resonance is nearly everywhere).

The issue asked for |S − R| ≤ |R_tight − R|. That cannot hold for an S more accurate than R:
with errors proportional to rtol, an exact S has |S − R| = err(R) while
|R_tight − R| = (1 − 0.3) err(R), so the best possible ratio is 1/0.7 ≈ 1.43 (measured: 1.1–1.3,
and S lies within a fraction of err(R) of R_tight and R_fine). The criterion asserted here is
the one the issue's means: S is at least as close to the finer solution R_fine as R is, in each
of max|ΔL| near the walls (cells within two of a sign change of L) and away from them (relative
to max|L|), the sterile/active ratio and ⟨|L|⟩, with the walls in the same cells; the issue's
ratio is printed. "As close" is up to R_fine's own error: with errors proportional to rtol,
R_fine (1e-6) is off the exact solution by about |R − R_fine| / 9, so a distance measured from
it is uncertain by that much (FINE_ERROR). In ⟨|L|⟩ S and R come out about equally close over
the CI window (4.59e-7 and 4.46e-7 with the compilers of late 2026), so without that allowance the
test would turn on the compiler's rounding. The CI window is 13 → 12.95 MeV; the full window 13 → 12.5 MeV (four wall
periods) is marked slow, and its figures are in docs/models/numerics.md §7:

    python -m pytest -m slow tests/lattice/test_explicit_branch.py -s
"""

import numpy as np
import pytest

from conftest import INPUT
from lattice.driver import run
from lattice.snapshots import read_snapshot
from scripts.models import load_deck

DECK = INPUT / "fig3_B_laptop.yaml"
T_SNAPSHOT = 13.0
FINE_ERROR = 1.0 / 9.0
"""R_fine's error as a fraction of |R − R_fine| (rtol 1e-6 against 1e-5, error ∝ rtol)."""


@pytest.fixture(scope="module")
def snapshot_13MeV(tmp_path_factory):
    """The deck's own run from 31.94 to 13 MeV (about a minute); its last snapshot."""
    out = tmp_path_factory.mktemp("fig3_B_to_13")
    deck, schema = load_deck(DECK, [f"time.T_end_MeV={T_SNAPSHOT}", "output.samples=41", "output.snapshots=2",
                                    "output.progress=none"])
    run(deck, schema, out_dir=out)
    path = sorted((out / "snapshots").glob("snap_*.h5"))[-1]
    assert float(read_snapshot(path)[1]["T"]) == T_SNAPSHOT
    return path


def _continue(snapshot, T_end, *extra):
    """The state at T_end continued from the snapshot, and the run's statistics."""
    deck, schema = load_deck(DECK, [f"time.T_start_MeV={T_SNAPSHOT}", f"time.T_end_MeV={T_end}", "output.samples=2",
                                    "output.snapshots=0", "output.progress=none", *extra])
    r = run(deck, schema, write=False, from_snapshot=str(snapshot))
    return r


def _L(result, L0):
    return L0 + 0.375 * (result.state[1] + result.state[7])


def _walls(L):
    """Indices i with a sign change between cells i and i+1 (periodic)."""
    return set(np.flatnonzero(np.signbit(L) != np.signbit(np.roll(L, -1))).tolist())


def _differences(a, b, L0, near):
    """Metrics of a against b: max|ΔL| near walls and away (relative to max|L_b|), relative
    differences of sterile/active and ⟨|L|⟩."""
    La, Lb = _L(a, L0), _L(b, L0)
    scale = np.abs(Lb).max()
    d = np.abs(La - Lb) / scale
    return {"near": d[near].max(), "away": d[~near].max(),
            "ratio": abs(a.series["sterile_over_active"][-1] / b.series["sterile_over_active"][-1] - 1),
            "L_abs": abs(a.series["L_abs"][-1] / b.series["L_abs"][-1] - 1)}


def _validate(snapshot, T_end):
    """Runs R, R_tight, R_fine and S over 13 → T_end, prints the table; returns the DOPRI5 share
    of S, the wall sets (R_fine, R, S) and the metrics of S and R against R_fine."""
    fields, _ = read_snapshot(snapshot)
    L0 = fields["L"] - 0.375 * (fields["P0m"] + fields["Pzm"])      # the seed, as the snapshot holds it
    runs = {"R (rodas4, 1e-5)": _continue(snapshot, T_end, "integrator.method=rodas4"),
            "R_tight (rodas4, 3e-6)": _continue(snapshot, T_end, "integrator.method=rodas4", "integrator.rtol=3e-6"),
            "R_fine (rodas4, 1e-6)": _continue(snapshot, T_end, "integrator.method=rodas4", "integrator.rtol=1e-6"),
            "S (auto, 1e-5)": _continue(snapshot, T_end)}
    R, R_tight, R_fine, S = runs.values()
    walls = _walls(_L(R_fine, L0))
    cells = len(L0)
    near = np.zeros(cells, dtype=bool)
    for i in walls:
        for k in range(-1, 3):
            near[(i + k) % cells] = True
    assert walls and (~near).any()
    print(f"\n13 -> {T_end} MeV, {cells} cells, walls after cells {sorted(walls)}")
    for name, r in runs.items():
        print(f"  {name}: {r.stats['accepted']} steps ({r.stats['rejected']} rejected), "
              f"dopri5 {r.stats['dopri5_accepted']}, switches {r.stats['switches']}, "
              f"{r.stats['wall_s']:.1f} s; sterile/active {r.series['sterile_over_active'][-1]:.9f}, "
              f"<|L|> {r.series['L_abs'][-1]:.7e}, walls {sorted(_walls(_L(r, L0)))}")
    err_R, err_S = _differences(R, R_fine, L0, near), _differences(S, R_fine, L0, near)
    issue_S, issue_tight = _differences(S, R, L0, near), _differences(R_tight, R, L0, near)
    for key in err_R:
        print(f"  {key}: |S - R_fine| = {err_S[key]:.3e}, |R - R_fine| = {err_R[key]:.3e}; the issue's "
              f"|S - R| / |R_tight - R| = {issue_S[key] / issue_tight[key]:.2f}")
    return {"dopri5_share": S.stats["dopri5_accepted"] / S.stats["accepted"],
            "walls": (walls, _walls(_L(R, L0)), _walls(_L(S, L0))), "S": err_S, "R": err_R}


def test_switched_run_is_as_close_to_rodas4_as_its_tolerance_error_over_a_short_window(snapshot_13MeV):
    v = _validate(snapshot_13MeV, 12.95)
    assert v["dopri5_share"] > 0.5                 # the explicit branch did the work
    assert v["walls"][0] == v["walls"][1] == v["walls"][2]
    assert all(v["S"][key] <= (1.0 + FINE_ERROR) * v["R"][key] for key in v["R"]), (v["S"], v["R"])


@pytest.mark.slow
def test_switched_run_is_as_close_to_rodas4_as_its_tolerance_error_over_four_wall_periods(snapshot_13MeV):
    v = _validate(snapshot_13MeV, 12.5)
    assert v["dopri5_share"] > 0.5
    assert v["walls"][0] == v["walls"][1] == v["walls"][2]
    assert all(v["S"][key] <= (1.0 + FINE_ERROR) * v["R"][key] for key in v["R"]), (v["S"], v["R"])
