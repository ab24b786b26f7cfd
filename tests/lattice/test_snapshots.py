"""Snapshots, XDMF sidecars and checkpoints: exact round trips, atomic writes, MPI layouts."""

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest

import mpi_snapshot_check as check
from conftest import ROOT
from lattice.checkpoint import read_checkpoint, write_checkpoint
from lattice.parallel import SerialComm
from lattice.partition import Partition
from lattice.snapshots import SnapshotWriter, make_strategy, read_snapshot

NAMES = ("P0p", "Pzm")
SHAPES = [(6,), (4, 5), (3, 4, 2)]


def _write_snapshot(tmp_path, shape, strategy="serial", index=3):
    state = np.random.default_rng(len(shape)).standard_normal((len(NAMES),) + shape)
    attrs = {"T": 12.5, "t": 0.75, "step": 9, "level": 2, "origin": (-1.0,) * len(shape),
             "dx": tuple(0.5 + a for a in range(len(shape))), "deck": "model: qke\n",
             "version": "9.9"}
    writer = SnapshotWriter(tmp_path, Partition.create(1, shape), SerialComm(), NAMES, strategy)
    return writer.write(index, state, attrs), state, attrs


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


@pytest.mark.parametrize("strategy", ["serial", "vds"])
@pytest.mark.parametrize("shape", SHAPES)
def test_snapshot_round_trip_is_exact(tmp_path, shape, strategy):
    path, state, attrs = _write_snapshot(tmp_path, shape, strategy)
    assert path == os.path.join(tmp_path, "snapshots", "snap_000003.h5")
    fields, got = read_snapshot(path)
    assert list(fields) == list(NAMES)
    for i, name in enumerate(NAMES):
        assert fields[name].dtype == np.float64 and np.array_equal(fields[name], state[i])
    for key, value in attrs.items():
        assert np.array_equal(got[key], value), key
    assert got["io_strategy"] == strategy and json.loads(got["attr_units"])["T"] == "MeV"
    with h5py.File(path) as f:
        assert f["fields/P0p"].is_virtual == (strategy == "vds")
        for a, n in enumerate(shape):
            want = attrs["origin"][a] + (np.arange(n) + 0.5) * attrs["dx"][a]
            assert np.array_equal(f[f"coords/x{a}"][()], want)
        datasets = []
        f.visititems(lambda _, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        assert len(datasets) == len(NAMES) + len(shape)
        assert all(ds.attrs["units"] for ds in datasets)


def test_vds_snapshot_survives_a_move_and_reports_a_missing_part(tmp_path):
    path, state, _ = _write_snapshot(tmp_path / "run", (4, 5), "vds")
    shutil.move(tmp_path / "run", tmp_path / "moved")
    moved = tmp_path / "moved" / "snapshots" / "snap_000003.h5"
    assert np.array_equal(read_snapshot(moved)[0]["Pzm"], state[1])
    os.remove(tmp_path / "moved" / "snapshots" / "snap_000003.parts" / "snap_000003.rank00000.h5")
    with pytest.raises(FileNotFoundError, match="rank00000"):
        read_snapshot(moved)


@pytest.mark.parametrize("shape", SHAPES)
def test_xdmf_is_valid_and_points_at_the_datasets(tmp_path, shape):
    path, _, attrs = _write_snapshot(tmp_path, shape)
    xmf = Path(path).with_suffix(".xmf")
    grid = ET.parse(xmf).getroot().find("Domain/Grid")
    nodes = [n + 1 for n in shape] + ([2] if len(shape) == 1 else [])
    mesh = {2: "2DCoRectMesh", 3: "3DCoRectMesh"}[len(nodes)]
    topology = grid.find("Topology")
    assert topology.get("TopologyType") == mesh
    assert [int(v) for v in topology.get("Dimensions").split()] == nodes
    spacing = grid.find("Geometry/DataItem[@Name='Spacing']").text.split()
    assert [float(v) for v in spacing][:len(shape)] == list(attrs["dx"])
    assert float(grid.find("Time").get("Value")) == attrs["t"]
    attributes = grid.findall("Attribute")
    assert [a.get("Name") for a in attributes] == list(NAMES)
    with h5py.File(path) as f:
        for attribute in attributes:
            item = attribute.find("DataItem")
            assert attribute.get("Center") == "Cell" and item.get("Format") == "HDF"
            file_name, dataset = item.text.strip().split(":")
            assert (xmf.parent / file_name).resolve() == Path(path).resolve()
            assert dataset == f"/fields/{attribute.get('Name')}"
            assert f[dataset].shape == tuple(int(v) for v in item.get("Dimensions").split())


def _meta(rng):
    return {"t": 0.1 + 0.2, "T": 16.999999999999996, "step": 2**53 + 1, "h": 1e-300,
            "rng": json.dumps(rng.bit_generator.state), "level": np.int64(3),
            "counters": {"accepted": 10, "rejected": [1, 2, 3]}}


@pytest.mark.parametrize("strategy", ["serial", "vds"])
def test_checkpoint_round_trip_is_exact(tmp_path, strategy):
    part, rng = Partition.create(1, (5, 3)), np.random.default_rng(7)
    state = rng.standard_normal((4, 5, 3)) * 10.0 ** rng.integers(-300, 300, (4, 5, 3))
    meta = _meta(rng)
    write_checkpoint(tmp_path / "ck.h5", SerialComm(), part, state, meta, strategy=strategy)
    got_state, got_meta = read_checkpoint(tmp_path / "ck.h5", SerialComm(), part)
    assert got_state.dtype == state.dtype and np.array_equal(got_state, state)
    assert got_meta == {**meta, "level": 3}
    restored = np.random.default_rng()
    restored.bit_generator.state = json.loads(got_meta["rng"])
    assert np.array_equal(restored.random(4), rng.random(4))
    with pytest.raises(ValueError, match="lattice of"):
        read_checkpoint(tmp_path / "ck.h5", SerialComm(), Partition.create(1, (5, 4)))


@pytest.mark.parametrize("strategy, method", [("serial", "create_dataset"),
                                              ("vds", "create_dataset"),
                                              ("vds", "create_virtual_dataset")])
def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, strategy, method):
    part, path = Partition.create(1, (4, 4)), tmp_path / "ck.h5"
    good = np.arange(32.0).reshape(2, 4, 4)
    write_checkpoint(path, SerialComm(), part, good, {"step": 1}, strategy=strategy)
    before = _files(tmp_path)
    original = getattr(h5py.Group, method)

    def disk_full(self, *args, **kwargs):  # the data goes in, then the write dies
        original(self, *args, **kwargs)
        raise OSError("simulated: no space left on device")
    monkeypatch.setattr(h5py.Group, method, disk_full)
    with pytest.raises(OSError, match="simulated"):
        write_checkpoint(path, SerialComm(), part, -good, {"step": 2}, strategy=strategy)
    monkeypatch.undo()
    assert _files(tmp_path) == before  # no temporary file, no half-written parts
    state, meta = read_checkpoint(path, SerialComm(), part)
    assert np.array_equal(state, good) and meta == {"step": 1}


def test_failed_snapshot_write_keeps_the_previous_one(tmp_path, monkeypatch):
    path, state, _ = _write_snapshot(tmp_path, (4, 5))

    def crash(*args):
        raise OSError("simulated crash")
    monkeypatch.setattr(h5py.AttributeManager, "__setitem__", crash)
    with pytest.raises(OSError, match="simulated"):
        _write_snapshot(tmp_path, (4, 5))
    monkeypatch.undo()
    assert not [p for p in _files(tmp_path) if ".tmp" in p]
    assert np.array_equal(read_snapshot(path)[0]["P0p"], state[0])


def test_bad_arguments_are_refused(tmp_path):
    part = Partition.create(1, (4, 5))
    assert make_strategy("auto", SerialComm(), part).name == "serial"
    if not h5py.get_config().mpi:
        with pytest.raises(ValueError, match="mpio"):
            make_strategy("mpio", SerialComm(), part)
    with pytest.raises(ValueError, match="ranks"):
        make_strategy("auto", SerialComm(), Partition.create(2, (4, 5)))
    writer = SnapshotWriter(tmp_path, part, SerialComm(), NAMES)
    with pytest.raises(ValueError, match="expected"):
        writer.write(0, np.zeros((2, 4, 4)), {"dx": (1.0, 1.0)})
    with pytest.raises(ValueError, match="dx"):
        writer.write(0, np.zeros((2, 4, 5)), {"T": 1.0})


def _mpiexec():
    for candidate in (Path(sys.executable).parent / "mpiexec", shutil.which("mpiexec")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.skip("mpiexec not found (pip install mpi4py mpich)")


def _launch(n, mode, folder):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [_mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py",
           str(ROOT / "tests" / "mpi_snapshot_check.py"), mode, str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(f"ok {mode}") == len(check.CASES), proc.stdout


@pytest.mark.mpi
@pytest.mark.parametrize("nwrite, nread", [(2, 1), (4, 2)])
def test_mpi_snapshot_and_checkpoint_exact_on_any_rank_count(tmp_path, nwrite, nread):
    _launch(nwrite, "write", tmp_path)
    if nread == 1:
        check.read(str(tmp_path), SerialComm())
    else:
        _launch(nread, "read", tmp_path)
    for tag in check.CASES:  # only the parts folder of the final checkpoint is left
        assert sorted(p.name for p in (tmp_path / tag).iterdir()) == [
            "restart.h5", "restart.parts-b", "snapshots"]
