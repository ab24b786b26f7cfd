"""`qke plot`: domain runs, unit conversions and snapshot selection on known answers, then the
three commands end to end on two tiny lattice runs (and their one-line errors, exit status 2)."""

import math
import shutil

import h5py
import numpy as np
import pytest

from conftest import INPUT
from scripts import figures
from scripts.cli import main

G_F = 1.1663787e-11          # MeV^-2
SNAPSHOTS = 5
TINY = ["grid.shape=[32]", "time.T_start_MeV=24", "time.T_end_MeV=23.95", f"output.samples={SNAPSHOTS}",
        f"output.snapshots={SNAPSHOTS}", "integrator.rtol=1e-3", "output.progress=none"]
SINE = ["seed.kind=sine", "physics.L0=0", "seed.amplitude=1e-10", "seed.mode=2", "grid.bc=neumann",
        "title=sine seed"]
SINE_2D = ["grid.shape=[8,4]", "seed.kind=sine", "physics.L0=0", "seed.amplitude=1e-10", "seed.mode=2"]


# -- domain runs --------------------------------------------------------------------------------
@pytest.mark.parametrize("values, periodic, runs", [
    ([1, 1, -1, -1, 1], True, [2, 3]),              # the last run wraps onto the first
    ([1, 1, -1, -1, 1], False, [2, 2, 1]),
    ([-1, 1, 1, -1, -1], True, [3, 2]),             # wrap-around of a negative run
    ([-1, 1, 1, -1, -1], False, [1, 2, 2]),
    ([3, 2, 0, 1], True, [4]),                      # all one sign (0 counts as positive)
    ([-3, -2, -1], False, [3]),
    ([1, -1, 1, -1, 1, -1], True, [1] * 6),         # alternating, even length: no merge
    ([1, -1, 1, -1, 1, -1], False, [1] * 6),
    ([1, -1, 1, -1, 1], True, [1, 1, 1, 2]),        # alternating, odd length: ends merge
    ([1, -1, 1, -1, 1], False, [1] * 5),
    ([-1], True, [1]),
])
def test_sign_runs_known_answers(values, periodic, runs):
    got = figures.sign_runs(np.array(values, dtype=float) * 1e-10, periodic)
    assert sorted(got.tolist()) == sorted(runs)
    assert got.sum() == len(values)


def test_domain_runs_counts_per_line_along_axis_0():
    line_a = [1, 1, -1, -1, 1, 1]     # periodic: 2 domains (4 and 2); not: 3 (2, 2, 2)
    line_b = [1] * 6                  # 1 domain of 6 either way
    line_c = [-1, 1, -1, 1, -1, 1]    # 6 domains of 1 either way
    L = np.stack([line_a, line_b, line_c], axis=1).astype(float)   # shape (6, 3): lines along axis 0
    counts, sizes = figures.domain_runs(L, periodic=True)
    assert sorted(counts.tolist()) == [1, 2, 6] and counts.mean() == 3.0
    assert sorted(sizes.tolist()) == sorted([4, 2, 6] + [1] * 6)
    counts, sizes = figures.domain_runs(L, periodic=False)
    assert sorted(counts.tolist()) == [1, 3, 6] and sorted(sizes.tolist()) == sorted([2, 2, 2, 6] + [1] * 6)
    counts3, _ = figures.domain_runs(np.stack([L, L], axis=2), periodic=False)   # 3D: 6 lines
    assert counts3.size == 6 and counts3.mean() == counts.mean()


# -- units and selection ------------------------------------------------------------------------
@pytest.mark.parametrize("T_ref", [9.0, 18.0, 36.0])
def test_x_in_l18_from_physical_lengths(T_ref):
    """x / [ℓ_18 (18 MeV/T)] from the physical length at some T, with H from the cosmology."""
    from physics.cosmology import Cosmology

    H = Cosmology(10.75).hubble
    coord = np.array([0.0, 0.01, 0.05])              # comoving, 1/H(T_ref)
    for T in (30.0, 12.0):
        physical = coord / H(T_ref) * (T_ref / T)    # MeV^-1
        expected = physical / ((1.0 / H(18.0)) * (18.0 / T))
        np.testing.assert_allclose(figures.x_in_l18(coord, T_ref), expected, rtol=1e-12)
    assert figures.x_in_l18(1.0, 36.0) == pytest.approx(0.5)


def test_diffusion_length_in_hubble_units():
    from physics.cosmology import Cosmology
    from physics.models import load_deck

    deck, _ = load_deck(INPUT / "lattice_1d_laptop.yaml", ["grid.T_ref_MeV=20"])
    H = Cosmology(deck.physics.g_star).hubble
    for T in (24.0, 16.0, 5.0):
        physical = math.sqrt(1.0 / (2.8 * G_F ** 2 * T ** 5 * H(T)))       # MeV^-1
        expected = physical * (T / 20.0) * H(20.0)
        assert figures.diffusion_length(deck, T) == pytest.approx(expected, rel=1e-12)
    # model notes §5: ℓ_D·H = 0.017 at 16 MeV (physical length in Hubble lengths at T)
    at_16 = figures.diffusion_length(deck, 16.0) / (16.0 / 20.0) / H(20.0) * H(16.0)
    assert at_16 == pytest.approx(0.017, abs=0.0005)


def test_snapshot_selection():
    assert figures.spread_indices(11, 5) == [0, 2, 5, 8, 10]
    assert figures.spread_indices(3, 5) == [0, 1, 2]
    T = [24.0, 20.0, 16.0, 14.0]
    assert figures.nearest_indices(T, [14.5, 23.0]) == [0, 3]
    assert figures.nearest_indices(T, [16.1, 15.9]) == [2]          # duplicates dropped
    assert figures.window_mask(np.array([0.0, 0.1, 0.2]), (0.05, 0.2)).tolist() == [False, True, True]


# -- end to end ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs from 24 to 23.95 MeV with 5 snapshots: 1D, 32 cells, baryonic domains (all L > 0,
    periodic); 1D, a mode-2 sine seed around 0 (4 domains of 8 cells, neumann); 2D 16x8, the same
    sine along axis 0 (periodic; 4 domains of 2 cells on every line)."""
    from lattice.driver import run
    from physics.models import load_deck

    base = tmp_path_factory.mktemp("plots")
    out = {}
    for name, deck_file, extra in (("domains", "lattice_1d_laptop.yaml", []),
                                   ("sine", "lattice_1d_laptop.yaml", SINE),
                                   ("sine2d", "lattice_2d_laptop.yaml", SINE_2D)):
        deck, schema = load_deck(INPUT / deck_file, TINY + extra)
        run(deck, schema, out_dir=base / name)
        out[name] = base / name
    return out


def table_rows(text):
    """The numeric rows of the domain table (comment and 'wrote' lines skipped)."""
    return np.array([[float(v) for v in line.split()] for line in text.splitlines()
                     if line.strip() and not line.startswith(("#", "wrote"))])


def test_fig2_default_and_window(runs, tmp_path, capsys):
    out = tmp_path / "fig2.png"
    assert main(["plot", "fig2", str(runs["domains"]), "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
    pdf = tmp_path / "sub" / "fig2.pdf"
    assert main(["plot", "fig2", str(runs["sine"]), "--temperatures", "30", "23.96",
                 "--window", "0.01", "0.03", "--out", str(pdf)]) == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert f"wrote {pdf}" in capsys.readouterr().out


def test_fig2_panel_values(runs):
    from lattice.snapshots import read_snapshot

    paths = figures.snapshot_paths(figures.load_run(runs["sine"]))
    chosen = figures.fig2_snapshots(paths, [30.0, 23.96])
    assert [p.name for p in chosen] == ["snap_000000.h5", "snap_000003.h5"]
    assert len(figures.fig2_snapshots(paths)) == SNAPSHOTS
    panel = figures.fig2_panel(chosen[1], 18.0, (0.01, 0.03))
    fields, attrs = read_snapshot(chosen[1])
    x = (np.arange(32) + 0.5) * 0.05 / 32                  # box 0.05/H(18 MeV), T_ref = 18 MeV
    keep = (x >= 0.01) & (x <= 0.03)
    np.testing.assert_allclose(panel.x, x[keep], rtol=1e-12)
    np.testing.assert_array_equal(panel.L_nutau, 0.1875 * (fields["P0m"] + fields["Pzm"])[keep])
    assert panel.T == attrs["T"] and panel.extent == np.abs(panel.L_nutau).max() > 0


def test_fig3_two_runs(runs, tmp_path):
    out = tmp_path / "fig3.png"
    assert main(["plot", "fig3", str(runs["domains"]), str(runs["sine"]),
                 "--labels", "domains", "sine", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", "fig3", str(runs["sine"])]) == 0          # default: RUN_DIR/fig3.png
    assert (runs["sine"] / "fig3.png").exists()


def test_block_ratios_cut_one_period_of_a_doubled_periodic_box():
    n = 64
    sterile = np.tile(np.repeat(np.arange(1.0, 9.0), 4), 2)      # two images, 8 slabs of 4 cells
    fields = {"P0p": 1.0 + 0.5 * sterile, "Pzp": 1.0 - 0.5 * sterile}   # sterile = P0p - Pzp, active = 2
    assert fields["P0p"].shape == (n,)
    got = figures.block_ratios(fields, {"doubling_level": 1}, periodic=True)
    np.testing.assert_allclose(got, np.arange(1.0, 9.0) / 2.0, rtol=1e-15)
    whole = figures.block_ratios(fields, {"doubling_level": 1}, periodic=False)   # neumann: the whole box
    np.testing.assert_allclose(whole, np.tile([1.5, 3.5, 5.5, 7.5], 2) / 2.0, rtol=1e-15)
    with pytest.raises(figures.PlotError, match="slabs"):
        figures.block_ratios({k: v[:8] for k, v in fields.items()}, {"doubling_level": 1}, periodic=True)


def test_fig3_prints_the_finite_size_table(runs, capsys):
    assert main(["plot", "fig3", str(runs["domains"]), str(runs["sine"]), "--labels", "a", "b"]) == 0
    out = capsys.readouterr().out
    assert "finite-size error" in out
    rows, _ = figures.finite_size_rows([figures.load_run(runs["domains"]), figures.load_run(runs["sine"])],
                                       ["a", "b"])
    assert len(rows) == SNAPSHOTS
    for T, ratio, error, walls, z in rows[1:]:
        with h5py.File(runs["domains"] / "timeseries.h5") as f:
            i = int(np.argmin(np.abs(f["T"][:] - T)))
            assert ratio[0] == pytest.approx(f["sterile_over_active"][i], rel=1e-9)
        assert all(e >= 0 for e in error) and z >= 0
        with h5py.File(runs["domains"] / "timeseries.h5") as f:   # the run's own count of sign changes
            assert walls[0] == f["sign_changes"][i]


def test_wall_count_counts_sign_changes_per_period():
    L = np.array([1.0, 2.0, -1.0, -3.0, 0.0, 4.0])                 # 0 counts as positive (signbit)
    assert figures.wall_count(L, {}, periodic=False) == 2
    assert figures.wall_count(L, {}, periodic=True) == 2            # the wrap pair (4, 1): same sign
    assert figures.wall_count(-L[:4], {}, periodic=True) == 2       # -1, -2, 1, 3: the wrap pair counts
    assert figures.wall_count(-L[:4], {}, periodic=False) == 1
    two_images = np.tile([1.0, -1.0, -1.0, 2.0], 2)
    assert figures.wall_count(two_images, {"doubling_level": 1}, periodic=True) == 2
    assert figures.wall_count(two_images, {"doubling_level": 1}, periodic=False) == 4   # the whole box


def test_domains_table_all_positive(runs, tmp_path, capsys):
    from physics.models import load_deck

    out = tmp_path / "dom.png"
    assert main(["plot", "domains", str(runs["domains"]), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    rows = table_rows(capsys.readouterr().out)
    assert rows.shape == (SNAPSHOTS, len(figures.TABLE_COLUMNS))
    with h5py.File(runs["domains"] / "timeseries.h5") as f:
        np.testing.assert_allclose(rows[:, 0], f["T"][:], rtol=1e-5)
        np.testing.assert_allclose(rows[:, 6], f["sterile_over_active"][:], rtol=1e-4, atol=1e-12)
    deck, _ = load_deck(INPUT / "lattice_1d_laptop.yaml", TINY)
    box_in_lD = [0.05 / figures.diffusion_length(deck, T) for T in rows[:, 0]]
    assert np.all(rows[:, 1] == 1)                                 # one domain: the whole box
    for col in (2, 3, 4):
        np.testing.assert_allclose(rows[:, col], box_in_lD, rtol=1e-3)
    np.testing.assert_allclose(rows[:, 5], 1.0)                    # L > 0 everywhere
    with h5py.File(runs["domains"] / "timeseries.h5") as f:
        np.testing.assert_allclose(rows[:, 7], f["L_abs"][:], rtol=1e-4)
    # dx in l_D: box / cells; l_D / mean free path = sqrt(Gamma/H), Gamma = 2.8 G_F^2 T^5 [MeV]
    np.testing.assert_allclose(rows[:, 8], np.array(box_in_lD) / deck.grid.shape[0], rtol=1e-3)
    from physics.cosmology import Cosmology
    from physics.models import mixing_parameters
    G_F = 1.16637e-11                                              # MeV^-2
    for T, dx_lD, dx_mfp in rows[:, [0, 8, 9]]:
        gamma = 2.8 * G_F ** 2 * T ** 5
        H = Cosmology(mixing_parameters(deck).g_star).hubble(T)
        assert dx_mfp / dx_lD == pytest.approx(math.sqrt(gamma / H), rel=1e-3)


def test_domains_table_sine_matches_sign_changes(runs, capsys):
    assert main(["plot", "domains", str(runs["sine"])]) == 0
    assert (runs["sine"] / "domains.png").exists()
    rows = table_rows(capsys.readouterr().out)
    assert rows.shape == (SNAPSHOTS, len(figures.TABLE_COLUMNS))
    with h5py.File(runs["sine"] / "timeseries.h5") as f:
        walls = f["sign_changes"][:]
    np.testing.assert_array_equal(rows[:, 1], walls + 1)           # non-periodic: walls + 1
    assert np.all(rows[:, 1] == 4)
    np.testing.assert_allclose(rows[:, 2], rows[:, 4], rtol=1e-3)  # four equal domains of 8 cells
    assert np.all(np.abs(rows[:, 5]) < 1e-6)                        # <L> ≈ 0 for a sine


def test_2d_run_lines_along_axis_0(runs, tmp_path, capsys):
    from lattice.snapshots import read_snapshot

    run = figures.load_run(runs["sine2d"])
    assert "axis 0 through cell 0 of axis 1" in figures.fig2_title(run)
    last = figures.snapshot_paths(run)[-1]
    panel = figures.fig2_panel(last, run.T_ref)
    fields, _ = read_snapshot(last)
    np.testing.assert_array_equal(panel.L_nutau, 0.1875 * (fields["P0m"] + fields["Pzm"])[:, 0])
    assert panel.x.size == 8
    assert main(["plot", "fig2", str(runs["sine2d"]), "--out", str(tmp_path / "f.png")]) == 0
    assert main(["plot", "domains", str(runs["sine2d"]), "--out", str(tmp_path / "d.png")]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert "per line along axis 0" in out and rows.shape == (SNAPSHOTS, len(figures.TABLE_COLUMNS))
    assert np.all(rows[:, 1] == 4)                                 # on every one of the 4 lines
    assert (tmp_path / "f.png").exists() and (tmp_path / "d.png").exists()


# -- bad input: one message, exit status 2, nothing written ------------------------------------
def with_deck(run_dir, dest, deck_file, overrides=()):
    """A copy of run_dir's timeseries.h5 in dest whose stored deck is ``deck_file`` (+ overrides)."""
    from physics.models import load_deck

    deck, schema = load_deck(INPUT / deck_file, list(overrides))
    dest.mkdir()
    shutil.copy(run_dir / "timeseries.h5", dest)
    with h5py.File(dest / "timeseries.h5", "a") as f:
        f.attrs["deck"] = schema.to_yaml(deck)
    return dest


@pytest.fixture(scope="module")
def bad_dirs(runs, tmp_path_factory):
    base = tmp_path_factory.mktemp("bad")
    no_snaps = base / "no_snapshots"
    no_snaps.mkdir()
    shutil.copy(runs["domains"] / "timeseries.h5", no_snaps)
    return {"missing": base / "missing", "no_snapshots": no_snaps,
            "homogeneous": with_deck(runs["domains"], base / "homogeneous", "homogeneous_A.yaml"),
            "pb": with_deck(runs["domains"], base / "pb", "pb_destroy_L0.yaml")}


@pytest.mark.parametrize("argv, message", [
    (["fig2", "{missing}"], "no such run directory"),
    (["domains", "{no_snapshots}"], "no snapshots"),
    (["fig2", "{no_snapshots}"], "no snapshots"),
    (["fig3", "{homogeneous}"], "not a lattice run"),
    (["domains", "{homogeneous}"], "not a lattice run"),
    (["fig2", "{pb}"], "not a lattice run"),
    (["fig3", "{sine}", "{domains}", "--labels", "one"], "--labels"),
    (["fig2", "{sine}", "--window", "5", "6"], "no cell inside"),
    (["fig2", "{sine}", "--window", "0.3", "0.1"], "X0 < X1"),
    (["fig2", "{sine}", "--temperatures", "1", "2", "3", "4", "5", "6"], "at most 5"),
    (["domains", "{sine}", "--out", "{tmp}/plot.svg"], ".png or .pdf"),
])
def test_bad_input_exits_2_with_one_message(argv, message, runs, bad_dirs, tmp_path, capsys):
    capsys.readouterr()
    dirs = {**{k: str(v) for k, v in {**runs, **bad_dirs}.items()}, "tmp": str(tmp_path)}
    argv = [a.format(**dirs) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "plot.png")]
    assert main(["plot"] + argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"qke plot {argv[0]}: error:") and message in lines[0]
    assert captured.out == "" and list(tmp_path.iterdir()) == []
