"""`qke plot`: domain runs, unit conversions and snapshot selection on known answers, then the
three commands end to end on tiny lattice runs and a tiny single-site run (and their one-line
errors, exit status 2); Fig. 2's y limits and tick labels, Fig. 3's legends, run status notes and
the refusal of folders holding files of two runs."""

import math
import re
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
SINGLE = ["time.T_start_MeV=24", "time.T_end_MeV=23.95", f"output.samples={SNAPSHOTS}", "output.progress=none"]


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
    from scripts.models import load_deck

    deck, _ = load_deck(INPUT / "lattice_1d_laptop.yaml", ["grid.T_ref_MeV=20"])
    H = Cosmology(deck.physics.g_star).hubble
    for T in (24.0, 16.0, 5.0):
        physical = math.sqrt(1.0 / (2.8 * G_F ** 2 * T ** 5 * H(T)))       # MeV^-1
        expected = physical * (T / 20.0) * H(20.0)
        assert figures.diffusion_length(deck, T) == pytest.approx(expected, rel=1e-12)
    # docs/models/diffusion-qke.md §5: ℓ_D·H = 0.017 at 16 MeV (physical length in Hubble lengths at T)
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
    sine along axis 0 (periodic; 4 domains of 2 cells on every line); and a single site of point B
    (homogeneous_B.yaml, 5 samples, no snapshots)."""
    from lattice.driver import run
    from scripts.models import load_deck

    base = tmp_path_factory.mktemp("plots")
    out = {}
    for name, deck_file, extra in (("domains", "lattice_1d_laptop.yaml", []),
                                   ("sine", "lattice_1d_laptop.yaml", SINE),
                                   ("sine2d", "lattice_2d_laptop.yaml", SINE_2D),
                                   ("single", "homogeneous_B.yaml", None)):
        deck, schema = load_deck(INPUT / deck_file, SINGLE if extra is None else TINY + extra)
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
    from scripts.models import load_deck

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
    from physics.qke_model import mixing_parameters
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
    from scripts.models import load_deck

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
    (["fig3", "{pb}"], "not a qke run"),
    (["fig2", "{single}"], "not a lattice run"),
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


# -- Fig. 3: single sites beside lattices -------------------------------------------------------
NUMBER = re.compile(r"[-+]?\d+\.\d+(?:e[-+]\d+)?|nan")


def test_fig3_single_site_and_lattice_on_one_axes(runs, tmp_path, capsys):
    out = tmp_path / "fig3.png"
    assert main(["plot", "fig3", str(runs["single"]), str(runs["domains"]), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert out.read_bytes()[:4] == b"\x89PNG" and captured.err == ""
    single = figures.load_run(runs["single"], single_site_ok=True)
    lattice = figures.load_run(runs["domains"])
    assert single.single_site and not lattice.single_site
    # the table: per lattice snapshot the lattice ratio ± error, the single site's ratio at that T
    # and lattice/single; then the single site's last sample
    rows = [NUMBER.findall(line) for line in captured.out.splitlines() if re.match(r"\s+\d+\.\d{4}\s", line)]
    assert len(rows) == SNAPSHOTS and all(len(r) == 5 for r in rows)
    temps = figures.snapshot_temperatures(figures.snapshot_paths(lattice))
    for T, (T_row, ratio, _error, single_ratio, quotient) in zip(temps, (map(float, r) for r in rows)):
        assert T_row == pytest.approx(T, abs=1e-4)
        assert single_ratio == pytest.approx(figures.single_site_ratio(single, T), rel=1e-5, abs=1e-300)
        if single_ratio == 0:                                          # the start: no sterile states
            assert math.isnan(quotient)
        else:
            assert quotient == pytest.approx(ratio / single_ratio, rel=1e-3)
    # the same point, the same start: lattice average and single site agree to 5 % at 23.95 MeV
    # (they differ only through the seed's spread around its mean)
    assert float(rows[-1][4]) == pytest.approx(1.0, abs=0.05)
    assert (f"[single site]: sterile/active = {single.series['sterile_over_active'][-1]:.6e} at T = "
            f"{single.series['T'][-1]:.6g} MeV (its last sample") in captured.out
    # the drawing: one line per run, the single site dashed with its own time series
    labels = figures.legend_labels([single, lattice])
    assert labels == [single.label() + " [single site]", lattice.label() + " [lattice]"]
    ax = figures.draw_fig3([single, lattice], labels).axes[0]
    (s_line, l_line) = ax.get_lines()
    keep = single.series["sterile_over_active"] > 0
    np.testing.assert_array_equal(s_line.get_ydata(), single.series["sterile_over_active"][keep])
    np.testing.assert_array_equal(s_line.get_xdata(), single.series["T"][keep])
    assert s_line.get_linestyle() == "--" and l_line.get_linestyle() == "-"
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == labels
    assert "lattice averages" in legend.get_title().get_text() and "single-site" in legend.get_title().get_text()
    # single sites alone: no table, the last sample
    assert main(["plot", "fig3", str(runs["single"]), "--out", str(tmp_path / "s.png")]) == 0
    captured = capsys.readouterr()
    assert "finite-size" not in captured.out and "its last sample" in captured.out


def test_single_site_ratio_from_the_time_series():
    run = figures.Run(None, None, {"T": np.array([3.0, 2.0, 1.0]),
                                   "sterile_over_active": np.array([1e-4, 1e-2, 0.0])})
    assert figures.single_site_ratio(run, 2.0) == 1e-2                    # a sample: its value
    assert figures.single_site_ratio(run, 2.5) == pytest.approx(1e-3, rel=1e-12)   # log-linear
    assert figures.single_site_ratio(run, 1.5) == pytest.approx(0.5e-2, rel=1e-12)  # 0 at one end: linear
    assert math.isnan(figures.single_site_ratio(run, 3.5)) and math.isnan(figures.single_site_ratio(run, 0.5))


# -- Fig. 2: y limits and labelled ticks --------------------------------------------------------
@pytest.mark.parametrize("values, limits", [
    ([1.0, 2.0, 3.0], (0.9, 3.1)),          # one-signed, far from 0: the data and 5 % of their range
    ([0.2, 0.7, 1.2], (-0.06, 1.26)),       # one-signed, 0 near (gap 0.2 <= 0.25 x range 1): from 0
    ([-3.0, -1.0], (-3.1, -0.9)),           # negative, far from 0
    ([-1.2, -0.2], (-1.26, 0.06)),          # negative, 0 near
    ([-1.0, 3.0], (-1.2, 3.2)),             # both signs: the data, not symmetric
    ([2.0, 2.0], (1.9, 2.1)),               # constant
    ([0.0, 0.0], (-1.0, 1.0)),              # zero: ±1 at any scale
])
def test_fig2_limits_fit_the_curve(values, limits):
    for scale in (1.0, 1e-10):
        got = figures.fig2_limits(np.array(values) * scale)
        expected = tuple(v * scale for v in limits) if any(values) else limits
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12 * scale)


def tick_values(ax):
    """(tick positions inside the y limits, their labels as numbers) after a draw."""
    ax.figure.canvas.draw()
    lo, hi = ax.get_ylim()
    ticks = [(t, label.get_text()) for t, label in zip(ax.get_yticks(), ax.get_yticklabels()) if lo <= t <= hi]
    assert all(text.strip() for _, text in ticks), "unlabelled y ticks"
    return [t for t, _ in ticks], [float(text.replace("\u2212", "-")) for _, text in ticks]


@pytest.mark.parametrize("offset, amplitude", [(1.5e-10, 0.5e-10), (-4e-6, 1e-6)])
def test_fig2_one_signed_panel_fits_and_is_labelled(offset, amplitude):
    x = np.linspace(0.0, 0.05, 64)
    L = offset + amplitude * np.sin(2 * np.pi * x / 0.05)             # one sign, far from 0
    two_signed = figures.Panel(20.0, x, 3e-8 * np.sin(2 * np.pi * x / 0.05) + 1e-8)
    fig = figures.draw_fig2([figures.Panel(24.0, x, L), two_signed], "test")
    top, bottom = fig.axes[:2]                                         # highest T on top
    k = int(re.search(r"10\^\{(-?\d+)\}", top.get_ylabel()).group(1))  # the panel's power of ten
    assert 10.0 ** k <= np.abs(L).max() < 10.0 ** (k + 1)
    lo, hi = (v * 10.0 ** k for v in top.get_ylim())                   # per photon
    assert lo <= L.min() and hi >= L.max()                             # the curve fits
    assert (hi - lo) <= 1.25 * (L.max() - L.min())                     # and fills the panel
    assert lo * hi > 0                                                 # 0 (far) is not in range
    ticks, labels = tick_values(top)
    assert len(ticks) >= 2
    np.testing.assert_allclose(labels, ticks, rtol=1e-6, atol=1e-6 * max(abs(t) for t in ticks))
    blo, bhi = bottom.get_ylim()
    assert blo < 0 < bhi and blo != -bhi                               # both signs: the data's range
    assert len(tick_values(bottom)[0]) >= 2


# -- legends, run status, run ids ---------------------------------------------------------------
def copy_run(src, dest):
    """A copy of a run folder (timeseries, run record, snapshots)."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.png", "*.pdf"))
    return dest


def set_run_ids(run_dir, run_id, snapshot_ids=None):
    """Give the run record, timeseries.h5 and snapshots of run_dir the run id ``run_id`` (the
    snapshots ``snapshot_ids`` instead when given, one per snapshot; None: no attribute)."""
    from lattice.runfolder import write_record

    write_record(run_dir, run_id, "complete", 23.95)
    with h5py.File(run_dir / "timeseries.h5", "a") as f:
        f.attrs["run_id"] = run_id
    snaps = sorted((run_dir / "snapshots").glob("snap_*.h5"))
    for snap, sid in zip(snaps, snapshot_ids or [run_id] * len(snaps)):
        with h5py.File(snap, "a") as f:
            if sid is None:
                f.attrs.pop("run_id", None)
            else:
                f.attrs["run_id"] = sid


def test_legends_from_folder_names_when_titles_coincide(runs, tmp_path, capsys):
    a = copy_run(runs["sine"], tmp_path / "a" / "copy")
    b = copy_run(runs["sine"], tmp_path / "b" / "copy")
    loaded = [figures.load_run(d) for d in (runs["sine"], a, b)]
    assert len({r.label() for r in loaded}) == 1                     # one deck: one title
    labels = figures.legend_labels(loaded)
    assert labels == ["sine", "a/copy", "b/copy"]
    ax = figures.draw_fig3(loaded, labels).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels
    different = [figures.load_run(runs["domains"]), loaded[0]]         # titles differ: kept
    assert figures.legend_labels(different) == [r.label() for r in different]
    assert figures.legend_labels(loaded[:2], ["x", "y"]) == ["x", "y"]
    assert main(["plot", "fig3", str(a), str(b), "--out", str(tmp_path / "f.png")]) == 0
    assert "a/copy" in capsys.readouterr().out                         # the table's columns too


def test_incomplete_run_is_drawn_and_noted(runs, tmp_path, capsys):
    from lattice.runfolder import write_record

    stopped = copy_run(runs["sine"], tmp_path / "stopped")
    set_run_ids(stopped, "1" * 32)
    write_record(stopped, "1" * 32, "stopped", 23.97, "SIGTERM")
    done = copy_run(runs["domains"], tmp_path / "done")
    set_run_ids(done, "2" * 32)                                        # status complete
    capsys.readouterr()
    assert main(["plot", "fig3", str(done), str(stopped), "--out", str(tmp_path / "f3.png")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qke plot fig3: note: ") and str(stopped) in err[0]
    assert "stopped at T = 23.97 MeV" in err[0]
    loaded = [figures.load_run(done), figures.load_run(stopped)]
    labels = figures.legend_labels(loaded)
    assert not labels[0].endswith(figures.INCOMPLETE) and labels[1].endswith(figures.INCOMPLETE)
    assert figures.legend_labels(loaded, ["p", "q"]) == ["p", "q" + figures.INCOMPLETE]
    assert main(["plot", "fig2", str(stopped), "--out", str(tmp_path / "f2.png")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qke plot fig2: note: ")
    assert figures.fig2_title(loaded[1]).endswith(figures.INCOMPLETE)
    assert (tmp_path / "f2.png").exists() and (tmp_path / "f3.png").exists()


@pytest.mark.parametrize("case", ["snapshot", "timeseries", "record", "snapshots_only"])
def test_files_of_two_runs_are_refused(case, runs, tmp_path, capsys):
    run_dir = copy_run(runs["sine"], tmp_path / "mixed")
    a, b = "a" * 32, "b" * 32
    ids = [None] * SNAPSHOTS if case == "snapshots_only" else None
    set_run_ids(run_dir, a, ids)
    if case == "snapshot":                                             # one snapshot of another run
        with h5py.File(run_dir / "snapshots" / "snap_000003.h5", "a") as f:
            f.attrs["run_id"] = b
    elif case == "timeseries":
        with h5py.File(run_dir / "timeseries.h5", "a") as f:
            f.attrs["run_id"] = b
    elif case == "record":
        from lattice.runfolder import write_record

        write_record(run_dir, b, "complete", 23.95)
    else:                                                              # no record, no ts id: snapshots disagree
        (run_dir / "run.json").unlink()
        with h5py.File(run_dir / "timeseries.h5", "a") as f:
            del f.attrs["run_id"]
        for name, sid in (("snap_000000.h5", a), ("snap_000004.h5", b)):
            with h5py.File(run_dir / "snapshots" / name, "a") as f:
                f.attrs["run_id"] = sid
    out = tmp_path / "plots"
    for figure in ("fig2", "fig3", "domains"):
        capsys.readouterr()
        assert main(["plot", figure, str(run_dir), "--out", str(out / "f.png")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"qke plot {figure}: error: {run_dir}: files of two runs")
        assert a in err[0] and b in err[0]
    assert not out.exists()


def test_runs_without_run_ids_are_accepted(runs, tmp_path):
    old = copy_run(runs["sine"], tmp_path / "old")
    (old / "run.json").unlink(missing_ok=True)
    for path in [old / "timeseries.h5"] + sorted((old / "snapshots").glob("*.h5")):
        with h5py.File(path, "a") as f:
            f.attrs.pop("run_id", None)
    run = figures.load_run(old)
    assert run.record is None and run.complete
    assert main(["plot", "fig2", str(old), "--out", str(tmp_path / "f.png")]) == 0
    partly = copy_run(runs["sine"], tmp_path / "partly")                # ids on some files only
    set_run_ids(partly, "c" * 32, ["c" * 32, None, None, "c" * 32, None])
    assert figures.load_run(partly).record["run_id"] == "c" * 32
