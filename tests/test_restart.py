"""Checkpoint/restart (issue 3, item 2): a stopped and restarted run equals an uninterrupted one."""

import h5py
import numpy as np

from conftest import INPUT
from lattice.control import RunControl
from lattice.driver import Stopped, run
from lattice.parallel import SerialComm
from lattice.snapshots import read_snapshot
from physics.models import load_deck

OVERRIDES = ["grid.shape=[12]", "seed.kind=sine", "seed.amplitude=5e-11", "time.T_start_MeV=24",
             "time.T_end_MeV=23.8", "output.samples=9", "output.snapshots=3", "output.progress=none"]


class StopAfter(RunControl):
    """Stops (with a checkpoint) at the n-th poll, like a wall-time limit would."""

    def __init__(self, path, n):
        super().__init__(SerialComm(), path)
        self.n = n

    def poll(self):
        self.n -= 1
        return (self.n == 0, self.n == 0)


def _read(out):
    with h5py.File(out / "timeseries.h5") as f:
        series = {k: f[k][:] for k in ("T", "L", "L_abs", "sterile_over_active", "steps")}
    fields, _ = read_snapshot(out / "snapshots" / "snap_000002.h5")
    return series, fields


def _deck(*extra):
    return load_deck(INPUT / "lattice_1d_laptop.yaml", OVERRIDES + list(extra))


def test_restart_reproduces_the_uninterrupted_run_bitwise(tmp_path):
    deck, schema = _deck()
    whole = run(deck, schema, out_dir=tmp_path / "whole")
    ck = tmp_path / "part" / "checkpoint.h5"
    try:
        run(deck, schema, out_dir=tmp_path / "part", control=StopAfter(str(ck), 4))
        raise AssertionError("the run should have stopped")
    except Stopped as stopped:
        assert stopped.path == str(ck)
    resumed = run(deck, schema, out_dir=tmp_path / "part", restart=str(ck))
    np.testing.assert_array_equal(resumed.state, whole.state)
    a, fa = _read(tmp_path / "whole")
    b, fb = _read(tmp_path / "part")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    for name in fa:
        np.testing.assert_array_equal(fa[name], fb[name])
    assert resumed.stats["accepted"] == whole.stats["accepted"]


def test_single_site_restart_is_exact(tmp_path):
    deck, schema = load_deck(INPUT / "homogeneous_A.yaml", ["time.T_end_MeV=30", "output.samples=21",
                                                            "output.progress=none"])
    whole = run(deck, schema, write=False)
    ck = tmp_path / "ck.h5"
    try:
        run(deck, schema, out_dir=tmp_path / "a", control=StopAfter(str(ck), 10))
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


class TermAfter(StopAfter):
    """A SIGTERM arriving just before the n-th poll (the handler only sets the flag), answered by
    RunControl's own poll."""

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
    np.testing.assert_array_equal(resumed.state, whole.state)
    a, fa = _read(tmp_path / "whole")
    b, fb = _read(tmp_path / "part")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    for name in fa:
        np.testing.assert_array_equal(fa[name], fb[name])
    assert resumed.stats["accepted"] == whole.stats["accepted"]


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
        run(deck, schema, out_dir=out, control=StopAfter(str(ck), 4))
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
