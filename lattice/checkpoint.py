"""Restart files: the full-precision lattice state and the integrator's metadata, exactly.

Layout of a checkpoint (one HDF5 file; with several ranks and no parallel h5py its /state is a
virtual dataset over per-rank parts, see `lattice.snapshots`):
    /state     (n_fields, *global shape), the dtype written (float64), `units` attribute
    attrs      meta (JSON string), version, kind = "checkpoint", global_shape, io_strategy
Written through the same strategies as snapshots, hence atomically: a write that fails or is
killed half-way never replaces the previous checkpoint at the same path. Reading takes this
rank's ``global_slice`` of the global state, so a run may restart on a different rank count.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import yaml

from .snapshots import FIELD_UNITS, VERSION, collective, make_strategy, open_checked


RESTART_MAY_CHANGE = ("title", "output.progress", "output.log_interval_s", "output.dir", "checkpoint", "device")
"""Deck keys (or whole sections) a restart may change: they do not touch the solution."""

SNAPSHOT_MAY_CHANGE = ("title", "time", "integrator", "output", "checkpoint", "device",
                       "grid.doubling_cells_per_lD", "grid.max_doublings", "grid.doubling_below_T_MeV")
"""Deck keys (or whole sections) a run started from a snapshot (`qke run --from-snapshot`) may
change: the physics, seed and the rest of the grid must be those of the run that wrote the
snapshot. The doubling trigger may change (e.g. to turn doubling on for a run taken further),
not the coarsening, with which the seed field of a doubled snapshot was made."""


class RestartError(ValueError):
    """A checkpoint that does not fit the run asked to continue from it."""


def deck_differences(saved_yaml: str, current_yaml: str, may_change=RESTART_MAY_CHANGE, saved_as="checkpoint"):
    """'section.key: <saved_as> V, deck W' for every resolved deck value that differs, except
    those under the keys or sections in `may_change`."""
    def flat(tree, prefix=""):
        for key, value in tree.items():
            name = prefix + str(key)
            if isinstance(value, dict):
                yield from flat(value, name + ".")
            else:
                yield name, value

    saved, current = dict(flat(yaml.safe_load(saved_yaml))), dict(flat(yaml.safe_load(current_yaml)))
    allowed = lambda name: any(name == k or name.startswith(k + ".") for k in may_change)  # noqa: E731
    return [f"{name}: {saved_as} {saved.get(name)!r}, deck {current.get(name)!r}"
            for name in sorted(set(saved) | set(current))
            if not allowed(name) and saved.get(name) != current.get(name)]


def _json_default(value):
    """NumPy scalars and arrays in ``meta`` become Python numbers and lists."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"meta value {value!r} of type {type(value).__name__} is not JSON-serialisable")


def write_checkpoint(path, comm, partition, state_local, meta, strategy="auto", units=FIELD_UNITS):
    """Write a checkpoint collectively (call on every rank).

    Args:
        path: the checkpoint file (overwritten atomically if it exists).
        comm: `lattice.parallel` communicator; ``comm.size == partition.nranks``.
        partition: the `Partition` of the lattice.
        state_local: this rank's interior, shape (n_fields, *partition.local_shape(rank)),
            stored bit for bit.
        meta: JSON-serialisable dict, the same on every rank (t [MeV^-1], T [MeV], step, the
            stepper's dt/h, RNG state, doubling level, counters; nesting allowed). Floats
            round-trip exactly; tuples come back as lists.
        strategy: 'auto', 'serial', 'vds' or 'mpio' (see `lattice.snapshots.make_strategy`).
        units: units attribute of /state.
    """
    state_local = np.asarray(state_local)
    shape = partition.local_shape(comm.rank)

    def check():
        if state_local.ndim != partition.ndim + 1 or state_local.shape[1:] != shape:
            raise ValueError(f"state_local has shape {state_local.shape}, expected "
                             f"(n_fields, *{shape}) on rank {comm.rank}")
        return json.dumps(meta, default=_json_default, sort_keys=True)
    text = collective(comm, check)
    make_strategy(strategy, comm, partition).write(
        str(path), {"state": (state_local, units)}, {},
        {"meta": text, "version": VERSION, "kind": "checkpoint",
         "global_shape": partition.global_shape})


def read_checkpoint(path, comm, partition):
    """Read this rank's part of a checkpoint written on any number of ranks.

    Args:
        path: the checkpoint file.
        comm: `lattice.parallel` communicator of the restarted run.
        partition: the restarted run's `Partition` (same global shape, any rank count).

    Returns:
        (state_local, meta): this rank's interior (n_fields, *partition.local_shape(rank)) and
        the meta dict.

    Raises:
        RestartError: the file is missing, unreadable (truncated, corrupt, a part missing), not a
            checkpoint, or its global shape differs from ``partition.global_shape``.
    """
    with _open_restart_file(path, "checkpoint") as f:
        if f.attrs.get("kind") != "checkpoint" or "state" not in f or "meta" not in f.attrs:
            raise RestartError(f"{path} is not a checkpoint (no /state dataset or meta attribute)")
        state = f["state"]
        if tuple(state.shape[1:]) != partition.global_shape:
            raise RestartError(f"{path} holds a lattice of {tuple(state.shape[1:])} cells, the "
                             f"run has {partition.global_shape}")
        try:
            local = state[(slice(None),) + partition.global_slice(comm.rank)]
            meta = json.loads(f.attrs["meta"])
        except (OSError, ValueError) as exc:
            raise RestartError(f"{path}: the checkpoint cannot be read ({_one_line(exc)})") from None
    return local, meta


def checkpoint_output_dir(path):
    """The output folder recorded in a checkpoint (None if it records none)."""
    with _open_restart_file(path, "checkpoint") as f:
        try:
            return json.loads(f.attrs["meta"]).get("out_dir")
        except (KeyError, ValueError):
            return None


def _one_line(exc):
    """An exception's message on one line (HDF5 messages can span several)."""
    return " ".join(str(exc).split())


@contextmanager
def _open_restart_file(path, what):
    """``with``: `open_checked(path)`, every failure to open it as RestartError naming the path."""
    try:
        f = open_checked(path)
    except FileNotFoundError as exc:
        raise RestartError(f"{path}: {exc.strerror or _one_line(exc)}") from None
    except OSError as exc:
        raise RestartError(f"{path} cannot be read as a {what} (truncated or corrupt HDF5 file: "
                           f"{_one_line(exc)})") from None
    with f:
        yield f


def snapshot_temperature(path):
    """The temperature T [MeV] a snapshot was written at (RestartError if it is not a snapshot)."""
    with _open_restart_file(path, "snapshot") as f:
        if "T" not in f.attrs or "fields" not in f:
            raise RestartError(f"{path} is not a snapshot (no T attribute or /fields group)")
        return float(f.attrs["T"])


def read_snapshot_state(path, comm, partition, field_names):
    """Read this rank's part of a snapshot's fields, to start a run from it.

    Args:
        path: a snapshot written by `lattice.snapshots.SnapshotWriter` (any rank count).
        comm: `lattice.parallel` communicator of the new run.
        partition: the new run's `Partition` (same global shape, any rank count).
        field_names: the state's fields, in state order (e.g. physics.qke.FIELDS).

    Returns:
        (state_local, attrs): (n_fields, *partition.local_shape(rank)) and the file attributes
        (T, t, deck, doubling_level, ...).

    Raises:
        RestartError: the file is unreadable, a field is missing or the global shape differs.
    """
    with _open_restart_file(path, "snapshot") as f:
        missing = [name for name in field_names if name not in f["fields"]]
        if missing:
            raise RestartError(f"{path} has no field(s) {', '.join(missing)}")
        shape = tuple(f["fields"][field_names[0]].shape)
        if shape != partition.global_shape:
            raise RestartError(f"{path} holds a lattice of {shape} cells, the run has "
                               f"{partition.global_shape}")
        where = partition.global_slice(comm.rank)
        local = np.stack([f["fields"][name][where] for name in field_names])
        attrs = {key: f.attrs[key] for key in f.attrs}
    return local, attrs
