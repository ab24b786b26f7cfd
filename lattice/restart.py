"""Checkpoints of a Simulation and the two ways a run starts from a file: `--restart` (an exact
continuation from a checkpoint) and `--from-snapshot` (a snapshot's fields as initial state).

The metadata is assembled from the parts that own it: the run (deck, run id, folder, where
between samples it stands), the samples (lattice.sampling), the advancer (lattice.advancers)
and each callback (lattice.callbacks).
"""

from __future__ import annotations

from lattice.checkpoint import (RESTART_MAY_CHANGE, SNAPSHOT_MAY_CHANGE, RestartError, deck_differences,
                                read_checkpoint, read_snapshot_state, write_checkpoint)
from lattice.partition import Partition


def partition_of(sim):
    """The partition a checkpoint is written over (one block without a lattice)."""
    if sim.lattice is not None:
        return sim.lattice.partition
    return Partition(sim.y.shape[1:], (1,) * (sim.y.ndim - 1))


def checkpoint_meta(sim) -> dict:
    """Everything besides the fields that an exact restart needs."""
    meta = {"deck": sim.schema.to_yaml(sim.deck), "run_id": sim.run_id,
            "out_dir": str(sim.out.resolve()) if sim.write else None,
            **sim.samples.checkpoint_state(), **sim.advancer.checkpoint_state()}
    for callback in sim.callbacks:
        meta.update(callback.checkpoint_state())
    if sim.t_resume is not None:
        meta["t_resume"] = sim.t_resume
    return meta


def write(sim, path):
    """Write a checkpoint of the run now (collective)."""
    y = sim.lattice.to_host(sim.y) if sim.lattice is not None else sim.y
    write_checkpoint(path, sim.comm, partition_of(sim), y, checkpoint_meta(sim), units=sim.system.field_units)


def restore(sim, path):
    """Continue from a checkpoint written by a run of the same deck (RestartError otherwise,
    before any output is opened; checkpoints older than the deck record are not checked)."""
    y, meta = read_checkpoint(path, sim.comm, partition_of(sim))
    sim.y = sim.lattice.to_device(y) if sim.lattice is not None else y
    changed = deck_differences(meta["deck"], sim.schema.to_yaml(sim.deck)) if "deck" in meta else []
    if changed:
        raise RestartError(f"{path} was written by a run of another deck ({'; '.join(changed)}); a "
                           f"restart continues the same run, and only {', '.join(RESTART_MAY_CHANGE)} "
                           f"may change")
    for callback in sim.callbacks:   # e.g. the cell field and box as they were after the doublings
        callback.restore_state(meta, sim)
    sim.run_id = meta.get("run_id", sim.run_id)
    sim.t_resume = meta.get("t_resume")
    sim.samples.restore_state(meta)
    sim.advancer.restore_state(meta, path)


def start_from_snapshot(sim, path):
    """Take the fields of a snapshot as the initial state (`qke run --from-snapshot`).

    The deck must be the snapshot's, except for the keys in SNAPSHOT_MAY_CHANGE, and its
    time.T_start_MeV must be the snapshot's T (the CLI sets it). The integrator starts afresh
    (first step dt_initial·t), so the continuation equals the original run to the integration
    tolerance, not bitwise; an exact continuation is `--restart CHECKPOINT`. Raises
    RestartError, read on every rank before any output is opened.
    """
    if sim.lattice is None:
        raise RestartError("this deck runs a single site, which has no snapshots to start from (a lattice deck needed)")
    y, attrs = read_snapshot_state(path, sim.comm, sim.lattice.partition, sim.system.field_names)
    changed = deck_differences(attrs["deck"], sim.schema.to_yaml(sim.deck), SNAPSHOT_MAY_CHANGE,
                               saved_as="snapshot") if "deck" in attrs else []
    if changed:
        raise RestartError(f"{path} was written by a run of another deck ({'; '.join(changed)}); only "
                           f"{', '.join(SNAPSHOT_MAY_CHANGE)} may differ")
    if float(attrs["T"]) != sim.deck.time.T_start_MeV:
        raise RestartError(f"{path} was written at T = {float(attrs['T'])!r} MeV, the deck starts at "
                           f"time.T_start_MeV = {sim.deck.time.T_start_MeV!r}")
    level = int(attrs.get("doubling_level", 0))
    if level > sim.deck.grid.max_doublings:
        raise RestartError(f"{path} was written after {level} grid doublings, more than "
                           f"grid.max_doublings = {sim.deck.grid.max_doublings} allows")
    sim.doubling.redo(sim, level)   # the cell field and box, as they were
    sim.y = sim.lattice.to_device(y)
