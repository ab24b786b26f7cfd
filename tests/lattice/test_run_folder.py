"""`qke run` and its output folder: never a silent overwrite, a restart hint that works as
printed, Ctrl-C answered with a checkpoint, one-line errors for unusable folders and checkpoints."""

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import INPUT, ROOT
from lattice.snapshots import read_snapshot
from scripts.cli import main

DECK = str(INPUT / "homogeneous_A.yaml")
QUICK = ["--set", "time.T_end_MeV=60", "--set", "output.samples=5", "--progress", "none"]
LATTICE = [str(INPUT / "lattice_1d_laptop.yaml"), "--progress", "none"] + [
    a for o in ("grid.shape=[12]", "seed.kind=sine", "seed.amplitude=5e-11", "time.T_start_MeV=24",
                "time.T_end_MeV=23.97", "output.samples=5") for a in ("--set", o)]


def _digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _env():
    """The environment of a user's shell: the installed `qke` on PATH, the source tree importable."""
    return dict(os.environ, PYTHONPATH=str(ROOT),
                PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def test_a_second_run_into_a_used_folder_is_refused_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", DECK, *QUICK, "--out", str(out)]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete" and record["T_MeV"] == 60.0
    with h5py.File(out / "timeseries.h5") as f:
        assert f.attrs["run_id"] == record["run_id"]
    before = _digest(out)
    capsys.readouterr()
    assert main(["run", DECK, *QUICK, "--set", "time.T_end_MeV=50", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for words in (str(out), "a complete run", "--out", "--overwrite"):
        assert words in err, err
    assert _digest(out) == before


def test_overwrite_leaves_no_file_of_the_old_run(tmp_path):
    out = tmp_path / "run"
    assert main(["run", *LATTICE, "--set", "output.snapshots=5", "--out", str(out)]) == 0
    old_id = json.loads((out / "run.json").read_text())["run_id"]
    (out / "notes.txt").write_text("mine")           # not a run file: stays
    assert main(["run", *LATTICE, "--set", "output.snapshots=2", "--out", str(out), "--overwrite"]) == 0
    new_id = json.loads((out / "run.json").read_text())["run_id"]
    assert new_id != old_id
    snaps = sorted(p.name for p in (out / "snapshots").glob("*.h5"))
    assert snaps == ["snap_000000.h5", "snap_000001.h5"]
    for snap in snaps:
        with h5py.File(out / "snapshots" / snap) as f:
            assert f.attrs["run_id"] == new_id
    with h5py.File(out / "timeseries.h5") as f:
        assert f.attrs["run_id"] == new_id
    assert (out / "notes.txt").read_text() == "mine"


def _wait_for(path, proc, timeout=120.0):
    t0 = time.monotonic()
    while not Path(path).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.05)


def _series(out):
    with h5py.File(out / "timeseries.h5") as f:
        return {name: f[name][:] for name in f if isinstance(f[name], h5py.Dataset)}


def test_ctrl_c_checkpoints_and_the_printed_command_continues_the_run_bit_for_bit(tmp_path):
    """SIGINT (Ctrl-C) stops with a checkpoint and exit 3; the command printed, pasted into a
    shell as is (from the same directory), continues in the same folder; the result equals the
    uninterrupted run bit for bit. A restart into a folder of another run is refused."""
    args = ["run", *LATTICE, "--set", "time.T_end_MeV=23.9", "--set", "output.snapshots=3"]
    whole = tmp_path / "whole"
    assert main([*args, "--out", str(whole)]) == 0
    out = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", *args, "--out", str(out)], cwd=tmp_path,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(out / "run.json", proc)       # the first sample interval takes hundreds of steps
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert json.loads((out / "run.json").read_text())["status"] == "stopped"
    hint = err.split("continue with: ", 1)[1].strip()
    assert f"--out {out}" in hint and "\n" not in hint, err

    other = tmp_path / "other"                        # the folder of another (complete) run
    assert main(["run", DECK, *QUICK, "--out", str(other)]) == 0
    before = _digest(other)
    words = shlex.split(hint)
    words[words.index("--out") + 1] = str(other)
    refused = subprocess.run(shlex.join(words), shell=True, cwd=tmp_path, env=_env(), capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "not the run this checkpoint continues" in refused.stderr, refused.stderr
    assert _digest(other) == before

    done = subprocess.run(hint, shell=True, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    a, b = _series(whole), _series(out)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert b["steps"].dtype.kind == "i" and b["sign_changes"].dtype.kind == "i"
    for snap in ("snap_000001.h5", "snap_000002.h5"):
        fa, fb = read_snapshot(whole / "snapshots" / snap)[0], read_snapshot(out / "snapshots" / snap)[0]
        for name in fa:
            np.testing.assert_array_equal(fa[name], fb[name], err_msg=f"{snap} {name}")


def test_a_truncated_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    ck = tmp_path / "ck.h5"
    assert main(["run", DECK, *QUICK, "--set", f"checkpoint.file={ck}", "--set", "checkpoint.walltime_s=1e-9",
                 "--out", str(out)]) == 3
    data = ck.read_bytes()
    ck.write_bytes(data[: len(data) // 2])
    before = _digest(out)
    capsys.readouterr()
    assert main(["run", DECK, *QUICK, "--out", str(out), "--restart", str(ck)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(ck) in err and "truncated or corrupt" in err, err
    assert _digest(out) == before


@pytest.mark.parametrize("bad", ["a_file/run", "a_file"])
def test_an_unwritable_output_folder_is_refused_in_one_line(tmp_path, capsys, bad):
    """A file where the folder (or one above it) should be: no permission trick, so it holds
    for root too."""
    (tmp_path / "a_file").write_text("not a folder")
    capsys.readouterr()
    assert main(["run", DECK, *QUICK, "--out", str(tmp_path / bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"output folder {tmp_path / bad} cannot be written" in err, err
    assert (tmp_path / "a_file").read_text() == "not a folder"


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("qke ")


def test_a_run_that_does_not_fit_the_free_space_is_refused_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    """The estimate covers the time series' HDF5 chunks (4096 rows × 8 bytes per column), the
    snapshots and two checkpoints; a folder with less free space is refused before any output,
    and the folders made for the run are removed again."""
    import collections

    import lattice.runfolder as runfolder

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(runfolder.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 50_000, 50_000))
    out = tmp_path / "new" / "run"
    capsys.readouterr()
    assert main(["run", DECK, *QUICK, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"output folder {out} has 0.05 MB free" in err, err
    assert "time series" in err and not (tmp_path / "new").exists()
