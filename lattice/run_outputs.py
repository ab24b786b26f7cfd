"""The files a run writes, as run-loop callbacks: the time series (with the run record of the
folder, lattice.runfolder) and the lattice snapshots. Lengths in the snapshots are in units of
grid.box_hubble's length (the model's LatticeSpec.length_unit), comoving."""

from __future__ import annotations

import numpy as np

from lattice import runfolder
from lattice.callbacks import Callback
from lattice.outcome import Stopped
from lattice.snapshots import SnapshotWriter
from lattice.timeseries import TimeseriesWriter


class TimeseriesOutput(Callback):
    """timeseries.h5 (rank 0): one row per sample, the closing summary and the model's final
    arrays; and the folder's run record (running, complete, stopped, failed)."""

    def __init__(self, out, rank):
        self.out, self.rank = out, rank
        self.writer = None

    def record(self, sim, status, T=None, detail=""):
        if self.rank == 0:
            runfolder.write_record(self.out, sim.run_id, status, T, detail)

    def open(self, sim):
        placement = sim.placement
        devices = sim.comm.allgather(-1 if placement.device is None else placement.device)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            n = sim.samples.next
            self.record(sim, "running", sim.samples.T[n - 1] if n else None)
            fields = sim.system.field_names if sim.samples.fields is not None else ()
            self.writer = TimeseriesWriter(
                self.out / "timeseries.h5", sim.samples.units, fields, field_units=sim.system.field_units,
                attrs={"deck": sim.schema.to_yaml(sim.deck), "model": sim.deck.model, "title": sim.deck.title,
                       "run_id": sim.run_id, "backend": placement.backend, "devices": devices})
            for i in range(n):  # rows restored from a checkpoint
                self.sample(sim, i, None)
        sim.comm.barrier()

    def sample(self, sim, i, obs):
        if self.writer:
            s = sim.samples
            self.writer.append(s.row(i), None if s.fields is None else s.fields[:, i])

    def close(self, sim, result=None, error=None):
        if result is not None:
            if self.writer:
                arrays = sim.system.final_arrays(sim.y)
                if arrays:
                    self.writer.write_arrays("final", arrays, "dimensionless")
                self.writer.close(result.summary)
            self.record(sim, "complete", sim.samples.T[-1])
            return
        if self.writer:
            self.writer.close(sim.stats())
        n = sim.samples.next
        T_last = sim.samples.T[n - 1] if n else None
        try:
            if isinstance(error, Stopped):
                self.record(sim, "stopped", error.T, str(error))
            elif isinstance(error, KeyboardInterrupt):
                self.record(sim, "failed", T_last, "aborted by a second Ctrl-C; no checkpoint of this stop")
            else:
                self.record(sim, "failed", T_last, " ".join(f"{type(error).__name__}: {error}".split()))
        except OSError:     # e.g. the disk is full: the error being raised says what matters
            pass


class SnapshotOutput(Callback):
    """output.snapshots snapshot files of a lattice run, spread evenly over the samples: the
    state's fields and the model's derived fields (System.derived_fields)."""

    def __init__(self, out, count, n_samples):
        self.out = out
        self.at = sorted(set(np.round(np.linspace(0, n_samples - 1, count)).astype(int))) if count else []
        self.writer = None

    def open(self, sim):
        if self.at:
            names = sim.system.field_names + tuple(sim.system.derived_fields(sim.y))
            self.writer = SnapshotWriter(self.out, sim.lattice.partition, sim.comm, names,
                                         units={name: sim.system.field_units for name in names})

    def sample(self, sim, i, obs):
        if self.writer is not None and i in self.at:
            write_snapshot(self.writer, self.at.index(i), sim, sim.samples.T[i], sim.samples.t[i])


def write_snapshot(writer, index, sim, T, t):
    """One snapshot of the state and the derived fields; lengths in units of sim.length_unit."""
    system, y, lattice = sim.system, sim.y, sim.lattice
    derived = list(system.derived_fields(y).values())
    data = lattice.to_host(lattice.xp.concatenate([y] + [d[None] for d in derived]) if derived else y)
    writer.write(index, data, {"T": float(T), "t": float(t), "step": int(sim.advancer.n_accepted),
                               "doubling_level": int(sim.doubling.level),
                               "dx": tuple(dx / sim.length_unit for dx in lattice.spacing),
                               "origin": (0.0,) * lattice.ndim, "deck": sim.schema.to_yaml(sim.deck),
                               "run_id": sim.run_id})


def output_bytes(sim):
    """(bytes, what): an upper estimate of what the run writes into its folder: the time series
    (HDF5 chunks of 4096 rows per column), the snapshots and a checkpoint (twice: the new one is
    written beside the old before it replaces it)."""
    n_fields = sim.system.n_fields
    n_state = n_fields * (int(np.prod(sim.lattice.partition.global_shape)) if sim.lattice is not None
                          else sim.y[0].size)
    cells = n_state // n_fields
    rows = -(-len(sim.samples) // 4096) * 4096
    columns = len(sim.samples.units) + 3 + (n_fields if sim.samples.fields is not None else 0)
    series = 8 * rows * columns + 2**16 + 16 * n_state
    n_snap = len(sim.snapshots.at) if sim.snapshots is not None else 0
    snapshots = n_snap * (8 * (n_state + 2 * cells) + 2**16)
    checkpoint = 2 * (8 * n_state + 2**16)
    what = f"time series {series / 1e6:.2g} MB"
    if snapshots:
        what += f", {n_snap} snapshots {snapshots / 1e6:.2g} MB"
    return series + snapshots + checkpoint, what + f", checkpoints {checkpoint / 1e6:.2g} MB"


def claim_output(sim, overwrite=False, continuing=False, keep=()):
    """Check (collectively, before any output) that the run may write into its folder
    (runfolder.claim, on rank 0); raises runfolder.FolderError on every rank, one line."""
    error = None
    if sim.comm.rank == 0:
        try:
            runfolder.claim(sim.out, sim.run_id, overwrite, continuing, keep, *output_bytes(sim))
        except runfolder.FolderError as exc:
            error = str(exc)
    error = sim.comm.bcast(error)
    if error:
        raise runfolder.FolderError(error)
