"""Periodic grid doubling (issue 4): the redistribution, its trigger, metadata and restart, and the
paper's check that a run with a doubling agrees with one that keeps the fine grid."""

import logging

import h5py
import numpy as np
import pytest

from conftest import INPUT, stop_after
from lattice.doubling import plan, source_indices
from lattice.deck import DeckError
from lattice.driver import Stopped, run
from lattice.partition import Partition
from lattice.parallel import SerialComm
from lattice.snapshots import read_snapshot
from lattice.assembly import build_lattice
from scripts.models import load_deck


@pytest.mark.parametrize("shape", [(8,), (12,), (6, 4), (4, 6, 8)])
@pytest.mark.parametrize("ranks", [1, 2, 3, 4, 6, 8])
def test_redistribution_plan_builds_the_doubled_global_field(shape, ranks):
    """Assemble every rank's new block from the old blocks as `plan` says; it must equal
    new[i, j, ...] = old[2i mod n0, 2j mod n1, ...] of the global field."""
    try:
        part = Partition.create(ranks, shape)
    except ValueError:
        pytest.skip("no decomposition of this shape on this many ranks")
    rng = np.random.default_rng(len(shape) * 10 + ranks)
    old = rng.standard_normal((2,) + shape)
    want = old[(slice(None),) + np.ix_(*[(2 * np.arange(n)) % n for n in shape])]
    for r in range(ranks):
        new = np.full((2,) + part.local_shape(r), np.nan)
        for q, piece in enumerate(plan(part, r)):
            if piece is not None:
                block = old[(slice(None),) + part.global_slice(q)]
                new[(slice(None),) + np.ix_(*piece[0])] = block[(slice(None),) + np.ix_(*piece[1])]
        np.testing.assert_array_equal(new, want[(slice(None),) + part.global_slice(r)])


@pytest.mark.parametrize("shape", [(8,), (6, 4), (4, 6, 8)])
def test_averaging_coarsening_conserves_totals_and_matches_the_definition(shape):
    """`average`: new[i, j, ...] = mean of old[2i + a, 2j + b, ...] over a, b, ... ∈ {0, 1}, so the
    sum over the cells (the density times the volume of one image) is unchanged. The offsets
    are planned like `drop` (the distribution over ranks is covered by the plan test and the
    MPI test)."""
    from lattice.doubling import coarsen

    part = Partition.create(1, shape)
    old = np.random.default_rng(9).standard_normal((2,) + shape)
    want = np.zeros_like(old)
    for offsets in np.ndindex(*(2,) * len(shape)):
        want += old[(slice(None),) + np.ix_(*[(2 * np.arange(n) + o) % n for n, o in zip(shape, offsets)])]
    want /= 2 ** len(shape)
    new = coarsen(old, part, SerialComm(), "average")
    np.testing.assert_allclose(new, want, rtol=1e-14, atol=1e-15)
    axes = tuple(range(1, old.ndim))
    np.testing.assert_allclose(new.sum(axis=axes), old.sum(axis=axes), rtol=1e-13)
    assert not np.allclose(coarsen(old, part, SerialComm(), "drop").sum(axis=axes), old.sum(axis=axes))


def test_odd_cell_counts_cannot_be_doubled():
    with pytest.raises(ValueError, match="even"):
        source_indices(7)
    with pytest.raises(DeckError, match=r"grid.shape = \[8, 7\].*even"):
        load_deck(INPUT / "lattice_2d_laptop.yaml", ["grid.shape=[8,7]", "grid.doubling_cells_per_lD=4"])


SHORT = ["grid.shape=[16]", "seed.kind=sine", "seed.amplitude=5e-11", "time.T_start_MeV=24",
         "time.T_end_MeV=23.8", "output.samples=9", "output.snapshots=3", "output.progress=none",
         "grid.doubling_cells_per_lD=1", "grid.max_doublings=1"]


def test_doubling_is_recorded_and_survives_a_restart(tmp_path, caplog):
    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml", SHORT)
    with caplog.at_level(logging.INFO, logger="lattice"):
        whole = run(deck, schema, out_dir=tmp_path / "whole")
    assert "grid doubled at T = 24 MeV: level 1" in caplog.text
    with h5py.File(tmp_path / "whole" / "timeseries.h5") as f:
        assert list(f["doubling_level"][:]) == [0] + [1] * 8
    fields, attrs = read_snapshot(tmp_path / "whole" / "snapshots" / "snap_000002.h5")
    _, attrs0 = read_snapshot(tmp_path / "whole" / "snapshots" / "snap_000000.h5")
    assert attrs["doubling_level"] == 1 and attrs0["doubling_level"] == 0
    assert attrs["dx"][0] == pytest.approx(2 * attrs0["dx"][0], rel=1e-15)
    ck = tmp_path / "part" / "checkpoint.h5"
    with pytest.raises(Stopped):
        run(deck, schema, out_dir=tmp_path / "part", control=stop_after(str(ck), 4))
    resumed = run(deck, schema, out_dir=tmp_path / "part", restart=str(ck))
    np.testing.assert_array_equal(resumed.state, whole.state)
    # periodic box: the two images the doubling made stay identical, bit for bit
    np.testing.assert_array_equal(whole.state[:, :8], whole.state[:, 8:])


def test_a_run_with_a_doubling_agrees_with_one_on_the_fine_grid(tmp_path):
    """The paper's check (issue 4, item 1), before the resonance: run A has 64 cells over the
    box and doubles at the start (every second cell of the seed dropped, two images); run B
    keeps the fine spacing on the doubled box with 128 cells and two images of the full seed.
    From 24 to 17 MeV both are valid; the sterile/active ratio must agree to 1 % and the
    number of sign changes of L (domain walls) to 10 %."""
    common = ["seed.T_QCD_MeV=60", "time.T_start_MeV=24", "time.T_end_MeV=17", "output.samples=8",
              "output.progress=none", "integrator.rtol=1e-5"]
    deck_a, schema = load_deck(INPUT / "lattice_1d_laptop.yaml",
                               common + ["grid.shape=[64]", "seed.kind=domains",
                                         "grid.doubling_cells_per_lD=1", "grid.max_doublings=1"])
    seed = build_lattice(deck_a, schema.spec, SerialComm())[1].L0
    np.save(tmp_path / "seed.npy", np.tile(seed, 2))
    deck_b, _ = load_deck(INPUT / "lattice_1d_laptop.yaml",
                          common + ["grid.shape=[128]", "grid.box_hubble=0.1", "seed.kind=file",
                                    f"seed.path={tmp_path / 'seed.npy'}"])
    a, b = run(deck_a, schema, write=False), run(deck_b, schema, write=False)
    assert a.series["doubling_level"][-1] == 1 and b.series["doubling_level"][-1] == 0
    for i in range(1, len(a.T)):
        ratio = a.series["sterile_over_active"][i] / b.series["sterile_over_active"][i] - 1
        walls_a, walls_b = a.series["sign_changes"][i], b.series["sign_changes"][i]
        print(f"T = {a.T[i]:.3f} MeV: sterile/active {a.series['sterile_over_active'][i]:.6e} (doubled) vs "
              f"{b.series['sterile_over_active'][i]:.6e} (fine), rel. diff {ratio:+.2e}; sign changes "
              f"{walls_a:.0f} vs {walls_b:.0f}")
        assert abs(ratio) <= 0.01
        assert walls_b > 0 and abs(walls_a - walls_b) <= 0.1 * walls_b
