"""Checkpoint/restart (issue 3, item 2): a stopped and restarted run equals an uninterrupted one."""

import h5py
import numpy as np
import pytest

from conftest import INPUT, stop_after
from lattice.control import RunControl
from lattice.driver import Stopped, run
from lattice.parallel import SerialComm
from lattice.snapshots import read_snapshot
from scripts.models import load_deck

OVERRIDES = ["grid.shape=[12]", "seed.kind=sine", "seed.amplitude=5e-11", "time.T_start_MeV=24",
             "time.T_end_MeV=23.8", "output.samples=9", "output.snapshots=3", "output.progress=none"]


def _read(out):
    with h5py.File(out / "timeseries.h5") as f:
        series = {k: f[k][:] for k in ("T", "L", "L_abs", "sterile_over_active", "steps")}
    fields, _ = read_snapshot(out / "snapshots" / "snap_000002.h5")
    return series, fields


def _assert_resumed_equals_whole(resumed, whole, tmp_path):
    """The resumed run (folder part/) equals the uninterrupted one (whole/) bit for bit: final
    state, time series, last snapshot, step count and GMRES counters (the checkpoint carries
    them)."""
    np.testing.assert_array_equal(resumed.state, whole.state)
    a, fa = _read(tmp_path / "whole")
    b, fb = _read(tmp_path / "part")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    for name in fa:
        np.testing.assert_array_equal(fa[name], fb[name])
    assert resumed.stats["accepted"] == whole.stats["accepted"]
    assert {k: v for k, v in resumed.stats.items() if k.startswith("krylov")} == {
        k: v for k, v in whole.stats.items() if k.startswith("krylov")}


def _deck(*extra):
    return load_deck(INPUT / "lattice_1d_laptop.yaml", OVERRIDES + list(extra))


@pytest.mark.parametrize("solver", ["direct", "gmres"])
def test_restart_reproduces_the_uninterrupted_run_bitwise(tmp_path, solver):
    deck, schema = _deck(f"integrator.stage_solver={solver}")
    whole = run(deck, schema, out_dir=tmp_path / "whole")
    ck = tmp_path / "part" / "checkpoint.h5"
    try:
        run(deck, schema, out_dir=tmp_path / "part", control=stop_after(str(ck), 4))
        raise AssertionError("the run should have stopped")
    except Stopped as stopped:
        assert stopped.path == str(ck)
    resumed = run(deck, schema, out_dir=tmp_path / "part", restart=str(ck))
    _assert_resumed_equals_whole(resumed, whole, tmp_path)


def test_single_site_restart_is_exact(tmp_path):
    deck, schema = load_deck(INPUT / "homogeneous_A.yaml", ["time.T_end_MeV=30", "output.samples=21",
                                                            "output.progress=none"])
    whole = run(deck, schema, write=False)
    ck = tmp_path / "ck.h5"
    try:
        run(deck, schema, out_dir=tmp_path / "a", control=stop_after(str(ck), 10))
    except Stopped:
        pass
    resumed = run(deck, schema, out_dir=tmp_path / "a", restart=str(ck))
    np.testing.assert_array_equal(resumed.series["L"], whole.series["L"])
    np.testing.assert_array_equal(resumed.fields, whole.fields)


def _cli(*args, **kw):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "scripts.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, **kw)


def _cli_args(out, *extra):
    args = ["run", str(INPUT / "lattice_1d_laptop.yaml"), "--out", str(out), "--progress", "none"]
    for o in OVERRIDES[:-1] + list(extra):
        args += ["--set", o]
    return args


def test_walltime_limit_stops_with_a_checkpoint_and_restart_completes(tmp_path):
    proc = _cli(*_cli_args(tmp_path / "w", "checkpoint.walltime_s=0.001"))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err
    assert "--restart" in err and (tmp_path / "w" / "checkpoint.h5").exists()
    proc = _cli(*_cli_args(tmp_path / "w"), "--restart", str(tmp_path / "w" / "checkpoint.h5"))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    whole = _cli(*_cli_args(tmp_path / "whole"))
    whole.communicate(timeout=300)
    a, fa = _read(tmp_path / "whole")
    b, fb = _read(tmp_path / "w")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_sigterm_writes_a_checkpoint_and_exits_3(tmp_path):
    import signal
    import time

    proc = _cli(*_cli_args(tmp_path / "s", "time.T_end_MeV=16", "output.samples=400"))
    time.sleep(4.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err
    assert (tmp_path / "s" / "checkpoint.h5").exists()
    assert not list((tmp_path / "s").glob("*.tmp*"))


class TermAfter(RunControl):
    """A SIGTERM arriving just before the n-th poll (the handler only sets the flag), answered by
    RunControl's own poll."""

    def __init__(self, path, n):
        super().__init__(SerialComm(), path)
        self.n = n

    def poll(self):
        self.n -= 1
        if self.n == 0:
            self.terminated = True
        return RunControl.poll(self)


def test_sigterm_between_samples_checkpoints_at_the_next_step_and_resumes_exactly(tmp_path):
    """Polls follow every accepted step: a SIGTERM is answered within one step, inside a sample
    interval (here the first, which takes hundreds of steps), and the run resumed from that
    checkpoint equals the uninterrupted one bitwise."""
    deck, schema = _deck()
    whole = run(deck, schema, out_dir=tmp_path / "whole")
    ck = tmp_path / "part" / "checkpoint.h5"
    try:
        run(deck, schema, out_dir=tmp_path / "part", control=TermAfter(str(ck), 50))
        raise AssertionError("the run should have stopped")
    except Stopped as stopped:
        assert deck.time.T_start_MeV > stopped.T > whole.T[1]      # inside the first interval
    with h5py.File(ck) as f:
        import json

        meta = json.loads(f.attrs["meta"])
    # the first poll follows sample 0, the next 49 follow steps: the flag set at the 50th poll is
    # answered there, after the 49th step
    assert meta["next_sample"] == 1 and meta["accepted"] == 49 and "t_resume" in meta
    resumed = run(deck, schema, out_dir=tmp_path / "part", restart=str(ck))
    _assert_resumed_equals_whole(resumed, whole, tmp_path)


def test_restart_from_another_deck_is_refused_before_any_output(tmp_path, capsys):
    """A checkpoint records its resolved deck: a restart whose deck differs in anything but the
    display and checkpoint settings fails with exit 2, naming the key and both values, and leaves
    the run's files as they were; the display settings may change."""
    import hashlib

    from scripts.cli import main

    deck, schema = _deck()
    out = tmp_path / "part"
    ck = out / "checkpoint.h5"
    try:
        run(deck, schema, out_dir=out, control=stop_after(str(ck), 4))
        raise AssertionError("the run should have stopped")
    except Stopped:
        pass
    digest = lambda: {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.h5"))}  # noqa: E731
    before = digest()
    sets = [a for o in OVERRIDES for a in ("--set", o)]
    rc = main(["run", str(INPUT / "lattice_1d_laptop.yaml"), *sets, "--set", "time.T_end_MeV=23.7",
               "--out", str(out), "--restart", str(ck)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "time.T_end_MeV: checkpoint 23.8, deck 23.7" in err and "Traceback" not in err
    assert digest() == before
    rc = main(["run", str(INPUT / "lattice_1d_laptop.yaml"), *sets, "--set", "output.log_interval_s=5",
               "--out", str(out), "--restart", str(ck)])
    assert rc == 0


def test_run_from_a_snapshot_continues_the_run_to_the_integration_tolerance(tmp_path, capsys):
    """`--from-snapshot` starts from a snapshot's fields at its T: the first sample is that state
    exactly, and the end state equals the uninterrupted run's to the integration tolerance (the
    integrator starts afresh, so not bitwise): both are rtol = 1e-6 integrations of one smooth
    problem from one state over ~30 steps, so they differ by their global errors, ≲ rtol·|L|."""
    from scripts.cli import main

    sets = [a for o in OVERRIDES for a in ("--set", o)]
    whole = tmp_path / "whole"
    assert main(["run", str(INPUT / "lattice_1d_laptop.yaml"), *sets, "--out", str(whole)]) == 0
    snap = whole / "snapshots" / "snap_000001.h5"       # sample 4 of 9
    _, attrs = read_snapshot(snap)
    more = tmp_path / "more"
    assert main(["run", str(INPUT / "lattice_1d_laptop.yaml"), *sets, "--set", "output.samples=5",
                 "--set", "output.snapshots=2", "--out", str(more), "--from-snapshot", str(snap)]) == 0
    a, fa = _read(whole)
    with h5py.File(more / "timeseries.h5") as f:
        T, L, ratio = f["T"][:], f["L"][:], f["sterile_over_active"][:]
    assert T[0] == attrs["T"] == a["T"][4] and T[-1] == a["T"][-1]
    assert L[0] == a["L"][4] and ratio[0] == a["sterile_over_active"][4]
    fb, _ = read_snapshot(more / "snapshots" / "snap_000001.h5")
    scale = np.abs(fa["L"]).max()
    assert np.abs(fb["L"] - fa["L"]).max() <= 1e-6 * scale   # measured 2e-8
    assert abs(ratio[-1] / a["sterile_over_active"][-1] - 1) <= 1e-5


def test_run_from_a_snapshot_of_another_physics_or_too_late_is_refused(tmp_path, capsys):
    """The physics, grid and seed must be the snapshot's run's, and T_end below its T: exit 2 with
    the key named, before any output is written."""
    from scripts.cli import main

    sets = [a for o in OVERRIDES for a in ("--set", o)]
    whole = tmp_path / "whole"
    assert main(["run", str(INPUT / "lattice_1d_laptop.yaml"), *sets, "--out", str(whole)]) == 0
    snap = str(whole / "snapshots" / "snap_000001.h5")
    capsys.readouterr()
    for extra, message in ((["--set", "physics.sin2_2theta=2e-5"], "physics.sin2_2theta: snapshot 1e-05, deck 2e-05"),
                           (["--set", "grid.shape=[16]"], "holds a lattice of (12,) cells, the run has (16,)"),
                           (["--set", "time.T_end_MeV=23.95"], "time.T_start_MeV is the snapshot's T"),
                           ([], "no such snapshot file")):
        out = tmp_path / "refused"
        path = snap if message != "no such snapshot file" else str(tmp_path / "none.h5")
        rc = main(["run", str(INPUT / "lattice_1d_laptop.yaml"), *sets, *extra, "--out", str(out),
                   "--from-snapshot", path])
        err = capsys.readouterr().err
        assert rc == 2 and message in err and "Traceback" not in err, err
        assert not out.exists()


def test_run_from_a_snapshot_may_turn_grid_doubling_on_but_not_change_the_coarsening(tmp_path, capsys):
    """The doubling trigger may differ from the snapshot's run: a run taken further with doubling
    on doubles at its first check (ℓ_D spans far more than 2 × 0.5 cells), and its fields are
    then two exact images of one period. The coarsening may not differ, and a snapshot written
    after more doublings than grid.max_doublings allows is refused (exit 2, nothing written)."""
    from scripts.cli import main

    sets = [a for o in OVERRIDES for a in ("--set", o)]
    whole = tmp_path / "whole"
    assert main(["run", str(INPUT / "lattice_1d_laptop.yaml"), *sets, "--out", str(whole)]) == 0
    snap = str(whole / "snapshots" / "snap_000001.h5")
    doubling = ["--set", "grid.doubling_cells_per_lD=0.5", "--set", "grid.max_doublings=1"]
    more = tmp_path / "more"
    capsys.readouterr()
    assert main(["run", str(INPUT / "lattice_1d_laptop.yaml"), *sets, *doubling, "--set", "output.samples=5",
                 "--set", "output.snapshots=2", "--out", str(more), "--from-snapshot", snap]) == 0
    assert "grid doubled at T = " in capsys.readouterr().err
    fields, attrs = read_snapshot(more / "snapshots" / "snap_000001.h5")
    assert int(attrs["doubling_level"]) == 1 and fields["L"].shape == (12,)
    assert np.array_equal(fields["L"][:6], fields["L"][6:])
    doubled = str(more / "snapshots" / "snap_000001.h5")
    for source, extra, message in (
            (snap, ["--set", "grid.doubling_coarsening=average"], "grid.doubling_coarsening: snapshot 'drop', deck 'average'"),
            (doubled, [*doubling[:2], "--set", "grid.max_doublings=0"], "more than grid.max_doublings = 0 allows")):
        out = tmp_path / "refused"
        T_end = ["--set", "time.T_end_MeV=23.7"] if source == doubled else []
        rc = main(["run", str(INPUT / "lattice_1d_laptop.yaml"), *sets, *extra, *T_end, "--out", str(out),
                   "--from-snapshot", source])
        err = capsys.readouterr().err
        assert rc == 2 and message in err and "Traceback" not in err, err
        assert not out.exists()


def test_a_stopped_run_from_a_snapshot_restarts_with_both_flags(tmp_path, capsys):
    """A `--from-snapshot` run stopped by its wall-time limit says how to continue (both flags),
    and continuing that way gives the uninterrupted `--from-snapshot` run bit for bit."""
    from scripts.cli import main

    sets = [a for o in OVERRIDES for a in ("--set", o)]
    deck = str(INPUT / "lattice_1d_laptop.yaml")
    assert main(["run", deck, *sets, "--out", str(tmp_path / "whole")]) == 0
    snap = str(tmp_path / "whole" / "snapshots" / "snap_000001.h5")
    more = [*sets, "--set", "output.samples=5", "--set", "output.snapshots=2", "--from-snapshot", snap]
    assert main(["run", deck, *more, "--out", str(tmp_path / "straight")]) == 0
    capsys.readouterr()
    part = tmp_path / "part"
    assert main(["run", deck, *more, "--set", "checkpoint.walltime_s=0.001", "--out", str(part)]) == 3
    err = capsys.readouterr().err
    assert f"--from-snapshot {snap} --out {part} --restart {part / 'checkpoint.h5'}" in err, err
    assert main(["run", deck, *more, "--out", str(part), "--restart", str(part / "checkpoint.h5")]) == 0
    a = read_snapshot(tmp_path / "straight" / "snapshots" / "snap_000001.h5")[0]
    b = read_snapshot(part / "snapshots" / "snap_000001.h5")[0]
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
