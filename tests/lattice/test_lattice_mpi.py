"""The lattice under mpiexec (issue 3, items 1 and 7): results independent of the rank count,
and decompositions that cannot work fail on every rank with one message."""

from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from conftest import INPUT, run_mpiexec
from lattice.snapshots import read_snapshot

pytestmark = pytest.mark.mpi

# A short window at a loose tolerance (about 400 steps): the tests compare rank counts, not accuracy,
# and 4 ranks on a 2-core CI machine spin in every reduction.
SHORT = ["--set", "integrator.rtol=1e-3", "--set", "time.T_start_MeV=24", "--set", "time.T_end_MeV=23.98",
         "--set", "output.samples=3",
         "--set", "output.snapshots=2", "--progress", "none"]


def _run(n, deck, out, *extra):
    """`qke run` on n ranks under mpiexec; one rank runs in this process (the same code on a
    one-rank communicator, without a launcher's start-up)."""
    args = ["run", str(INPUT / deck), "--out", str(out), *SHORT, *extra]
    if n == 1:
        from scripts.cli import main

        return SimpleNamespace(returncode=main(args), stderr="(one rank, in process)")
    return run_mpiexec(n, "-m", "mpi4py", "-m", "scripts.cli", *args, timeout=300)


def _final(out):
    fields, attrs = read_snapshot(out / "snapshots" / "snap_000001.h5")
    return fields, attrs


DOUBLING = ["--set", "grid.doubling_cells_per_lD=0.5", "--set", "grid.max_doublings=1"]
DIRECT = ["--set", "integrator.stage_solver=direct"]   # every rank runs the gathered line (compiled)
SWITCHING = DIRECT + ["--set", "integrator.probe_steps=40"]   # Rodas4 ⇄ DOPRI5 several times


@pytest.mark.parametrize("deck,shape,ranks,extra", [
    ("lattice_1d_laptop.yaml", "[24]", (1, 2, 4), []),
    ("lattice_2d_laptop.yaml", "[8,8]", (1, 4), []),
    ("lattice_1d_laptop.yaml", "[24]", (1, 2, 4), DOUBLING),
    ("lattice_2d_laptop.yaml", "[8,8]", (1, 4), DOUBLING + ["--set", "grid.doubling_coarsening=average"]),
    ("lattice_1d_laptop.yaml", "[24]", (1, 2, 4), DIRECT + DOUBLING),
    ("lattice_1d_laptop.yaml", "[24]", (1, 3), DIRECT + ["--set", "grid.bc=offdiag_zero"]),
    ("lattice_1d_laptop.yaml", "[24]", (1, 2, 4), SWITCHING),
], ids=["1d", "2d", "1d-doubling", "2d-doubling-average", "1d-direct-doubling", "1d-direct-offdiag",
        "1d-direct-switching"])
def test_snapshots_do_not_depend_on_the_rank_count(tmp_path, deck, shape, ranks, extra):
    """Issue 3 item 1, and issue 4 item 2 with a grid doubling at the first sample (a
    redistribution between ranks along every axis)."""
    results = []
    for n in ranks:
        proc = _run(n, deck, tmp_path / f"n{n}", "--set", f"grid.shape={shape}", *extra)
        assert proc.returncode == 0, proc.stderr
        results.append(_final(tmp_path / f"n{n}"))
    base, attrs = results[0]
    assert attrs["T"] == pytest.approx(23.98)
    if extra is SWITCHING:         # the engine switched both ways, the same on every rank count
        switches = [h5py.File(tmp_path / f"n{n}" / "timeseries.h5").attrs["summary_switches"] for n in ranks]
        assert switches[0] >= 2 and len(set(switches)) == 1, switches
    if "integrator.stage_solver=direct" in extra:   # the compiled line engine: bitwise
        for fields, _ in results[1:]:
            for name in base:
                np.testing.assert_array_equal(fields[name], base[name])
    assert attrs["doubling_level"] == (1 if "grid.max_doublings=1" in extra else 0)
    for fields, _ in results[1:]:
        for name in base:
            scale = np.abs(base[name]).max()
            diff = np.abs(fields[name] - base[name]).max()
            assert diff <= 1e-12 * scale, (name, diff, scale)
    print("max |difference| across rank counts:",
          max(np.abs(f[n] - base[n]).max() for f, _ in results[1:] for n in base))


def test_more_ranks_than_cells_fails_cleanly_on_every_rank(tmp_path):
    proc = _run(4, "lattice_1d_laptop.yaml", tmp_path / "out", "--set", "grid.shape=[3]")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("deck error") == 1, proc.stderr
    assert "grid" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_process_grid_that_does_not_match_fails_cleanly(tmp_path):
    proc = _run(2, "lattice_2d_laptop.yaml", tmp_path / "out", "--set", "grid.shape=[8,8]",
                "--set", "grid.process_grid=[3,1]")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("deck error") == 1 and "process_grid" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_run_from_a_snapshot_does_not_depend_on_the_rank_count(tmp_path):
    """`--from-snapshot` reads each rank's block of a snapshot written on one rank (after a grid
    doubling, which the continuation re-applies to its seed field and box) and continues to the
    same fields on 1 and 2 ranks."""
    first = _run(1, "lattice_1d_laptop.yaml", tmp_path / "first", "--set", "grid.shape=[24]", *DOUBLING)
    assert first.returncode == 0, first.stderr
    snap = tmp_path / "first" / "snapshots" / "snap_000001.h5"
    results = []
    for n in (1, 2):
        proc = _run(n, "lattice_1d_laptop.yaml", tmp_path / f"more{n}", "--set", "grid.shape=[24]", *DOUBLING,
                    "--set", "time.T_end_MeV=23.96", "--from-snapshot", str(snap))
        assert proc.returncode == 0, proc.stderr
        results.append(_final(tmp_path / f"more{n}"))
    (base, attrs), (other, _) = results
    assert attrs["T"] == pytest.approx(23.96) and attrs["doubling_level"] == 1
    start, _ = read_snapshot(tmp_path / "more1" / "snapshots" / "snap_000000.h5")
    before, _ = _final(tmp_path / "first")
    assert all(np.array_equal(start[name], before[name]) for name in before)   # the state it started from
    for name in base:
        assert np.abs(other[name] - base[name]).max() <= 1e-12 * np.abs(base[name]).max(), name
