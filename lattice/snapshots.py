"""DIR/snapshots/snap_NNNNNN.h5: the lattice fields of one instant, written in parallel.

Layout (whatever the strategy; read it back with `read_snapshot`):
    /fields/<name>   global shape (n0[, n1[, n2]]), `units` attribute
    /coords/x<a>     cell centres along axis a, origin[a] + (i + 1/2) dx[a], `units` attribute
    attrs            the caller's (T [MeV], t [MeV^-1], step, level, dx, origin, deck, ...) plus
                     version, field_names, attr_units (JSON), io_strategy, io_parts (vds only)
and snap_NNNNNN.xmf beside it, so ParaView/VisIt open the file (see `lattice.xdmf`).

I/O strategies share one interface, `write(path, blocks, extras, attrs)` (Dedalus-style handlers):
    serial  one rank writes the file directly;
    vds     every rank writes its block to <stem>.parts/<stem>.rank{r:05d}.h5, then rank 0 writes
            the main file of HDF5 virtual datasets over the parts (relative paths: movable folder);
    mpio    h5py built with MPI: one file, every rank writes its hyperslab collectively.
Each file is written under a temporary name and renamed into place (os.replace) once every rank
has succeeded, so no reader ever sees a partial main file. The vds parts alternate between two
folders, <stem>.parts and <stem>.parts-b: rewriting a file never touches the parts of the good
file it replaces, and the folder not in use is removed after the rename.
"""

from __future__ import annotations

import json
import os
import shutil

import h5py
import numpy as np

from .parallel import MPIComm
from .timeseries import VERSION
from .xdmf import write_xdmf

PARTS = (".parts", ".parts-b")
LENGTH_UNITS = "l_ref = 1/H(T_ref), comoving"
FIELD_UNITS = "dimensionless"
"""Unit text of a field the writer is given no unit for."""


def _bcast(comm, obj):
    return comm.bcast(obj)


def collective(comm, fn):
    """Run ``fn()`` on every rank; if it raised on any rank, raise on all (nobody hangs)."""
    try:
        out, err = fn(), None
    except Exception as exc:  # re-raised below on this rank, reported to the others
        out, err = None, exc
    if comm.allreduce_max(int(err is not None)):
        raise err if err is not None else RuntimeError("HDF5 write failed on another rank")
    return out


def on_root(comm, fn):
    """Run ``fn()`` on rank 0 only; every rank returns its result or raises if it failed."""
    out, err = None, None
    if comm.rank == 0:
        try:
            out = fn()
        except Exception as exc:  # re-raised below on rank 0, reported to the others
            err = exc
    out, failed = _bcast(comm, (out, err is not None))
    if err is not None:
        raise err
    if failed:
        raise RuntimeError("HDF5 write failed on rank 0")
    return out


def _atomic(path, fill):
    """Create ``path`` by ``fill(h5file)`` under a temporary name, fsync, then os.replace."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            fill(f)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _fill(f, datasets, attrs):
    """Datasets are name -> (array or h5py.VirtualLayout, units); attrs are scalars/strings."""
    for name, (data, units) in datasets.items():
        if isinstance(data, h5py.VirtualLayout):
            ds = f.create_virtual_dataset(name, data)
        else:
            ds = f.create_dataset(name, data=data)
        ds.attrs["units"] = units
    for key, value in attrs.items():
        f.attrs[key] = value


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def _parts_names(path):
    return [_stem(path) + suffix for suffix in PARTS]


def _drop_parts(path, keep=None):
    for name in _parts_names(path):
        if name != keep:
            shutil.rmtree(os.path.join(os.path.dirname(path), name), ignore_errors=True)


def _in_use(path):
    """Parts folder the file at ``path`` points at (None if absent, unreadable or not vds)."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("io_parts")
    except OSError:
        return None


def _fresh_parts(path):
    """Create an empty parts folder that the current file at ``path`` does not use; its name."""
    first, second = _parts_names(path)
    name = second if _in_use(path) == first else first
    full = os.path.join(os.path.dirname(path), name)
    shutil.rmtree(full, ignore_errors=True)
    os.makedirs(full)
    return name


class Strategy:
    """Writes the blocks of a partitioned array into one HDF5 file, atomically.

    Args:
        comm: `lattice.parallel` communicator; ``comm.size`` must equal ``partition.nranks``.
        partition: the `Partition` whose rank ``comm.rank`` owns the blocks passed to `write`.
    """

    name = ""

    def __init__(self, comm, partition):
        self.comm, self.partition = comm, partition

    def lead(self, block):
        """Leading, unsplit axes of a block shaped (*lead, *local interior shape)."""
        return block.shape[:block.ndim - self.partition.ndim]

    def where(self, block, rank):
        """Selection of ``rank``'s block in the global dataset."""
        return (slice(None),) * len(self.lead(block)) + self.partition.global_slice(rank)

    def write(self, path, blocks, extras, attrs):
        """Write ``path`` (call on every rank).

        Args:
            path: the file to create or replace.
            blocks: dataset name -> (this rank's block (*lead, *local shape), units); the
                dataset gets shape (*lead, *global shape).
            extras: dataset name -> (whole array, units), the same on every rank.
            attrs: file attributes (scalars, strings, short sequences), the same on every rank.
        """
        raise NotImplementedError


class SerialStrategy(Strategy):
    name = "serial"

    def write(self, path, blocks, extras, attrs):
        def main():
            _atomic(path, lambda f: _fill(f, {**blocks, **extras},
                                          {**attrs, "io_strategy": "serial"}))
            _drop_parts(path)
        on_root(self.comm, main)


class VirtualStrategy(Strategy):
    name = "vds"

    def write(self, path, blocks, extras, attrs):
        comm, part = self.comm, self.partition
        parts = on_root(comm, lambda: _fresh_parts(path))
        source = lambda r: f"{parts}/{_stem(path)}.rank{r:05d}.h5"  # relative to the main file

        def part_file():
            _atomic(os.path.join(os.path.dirname(path), source(comm.rank)), lambda f: _fill(
                f, blocks, {"rank": comm.rank, "offset": part.offset(comm.rank)}))

        def main():
            layouts = {}
            for key, (block, units) in blocks.items():
                lead = self.lead(block)
                layout = h5py.VirtualLayout(lead + part.global_shape, block.dtype)
                for r in range(part.nranks):
                    layout[self.where(block, r)] = h5py.VirtualSource(
                        source(r), key, shape=lead + part.local_shape(r), dtype=block.dtype)
                layouts[key] = (layout, units)
            _atomic(path, lambda f: _fill(f, {**layouts, **extras},
                                          {**attrs, "io_strategy": "vds", "io_parts": parts}))
            _drop_parts(path, keep=parts)
        try:
            collective(comm, part_file)
            on_root(comm, main)
        except Exception:
            if comm.rank == 0:  # abandon the new parts; the good file and its parts stay
                _drop_parts(path, keep=_in_use(path))
            raise


class MPIOStrategy(Strategy):
    name = "mpio"

    def write(self, path, blocks, extras, attrs):
        comm = self.comm
        tmp = on_root(comm, lambda: f"{path}.tmp{os.getpid()}")

        def fill():
            with h5py.File(tmp, "w", driver="mpio", comm=comm.comm) as f:
                for key, (block, units) in blocks.items():
                    shape = self.lead(block) + self.partition.global_shape
                    ds = f.create_dataset(key, shape, block.dtype)
                    ds.attrs["units"] = units
                    with ds.collective:
                        ds[self.where(block, comm.rank)] = block
                _fill(f, extras, {**attrs, "io_strategy": "mpio"})
        try:
            collective(comm, fill)
            on_root(comm, lambda: (os.replace(tmp, path), _drop_parts(path)))
        finally:
            if comm.rank == 0 and os.path.exists(tmp):
                os.remove(tmp)


STRATEGIES = {s.name: s for s in (SerialStrategy, VirtualStrategy, MPIOStrategy)}


def make_strategy(name, comm, partition) -> Strategy:
    """Strategy ``name`` ('auto', 'serial', 'vds' or 'mpio') for ``comm`` and ``partition``.

    'auto' is 'serial' on one rank, else 'mpio' for an MPI communicator when h5py was built
    with MPI, else 'vds' (also for the in-process ranks of lattice.local_comm).

    Raises:
        ValueError: unknown name, rank-count mismatch, 'mpio' without parallel h5py, or
            'serial' on several ranks.
    """
    mpi = h5py.get_config().mpi
    if partition.nranks != comm.size:
        raise ValueError(f"partition has {partition.nranks} ranks but the communicator {comm.size}")
    if name == "auto":
        name = "serial" if comm.size == 1 else "mpio" if mpi and isinstance(comm, MPIComm) else "vds"
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be 'auto' or one of {sorted(STRATEGIES)}, got {name!r}")
    if name == "mpio" and not mpi:
        raise ValueError("strategy 'mpio' needs h5py built with MPI (h5py.get_config().mpi)")
    if name == "serial" and comm.size > 1:
        raise ValueError(f"strategy 'serial' runs on one rank, not {comm.size}")
    return STRATEGIES[name](comm, partition)


def open_checked(path) -> h5py.File:
    """Open ``path`` read-only; raise FileNotFoundError if a virtual dataset's part is missing.

    (HDF5 would silently return fill values for a missing part.)
    """
    f = h5py.File(path, "r")
    base = os.path.dirname(os.path.abspath(path))

    def check(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.is_virtual:
            for src in obj.virtual_sources():
                if not os.path.exists(os.path.join(base, src.file_name)):
                    raise FileNotFoundError(f"{path}: /{name} needs missing part {src.file_name}")
    try:
        f.visititems(check)
    except BaseException:
        f.close()
        raise
    return f


def cell_centres(n, dx, origin):
    """Cell centres origin + (i + 1/2) dx, i = 0..n-1, shape (n,), in the units of dx."""
    return origin + (np.arange(n) + 0.5) * dx


class SnapshotWriter:
    """Writes DIR/snapshots/snap_{index:06d}.h5 (+ .xmf) from every rank's interior block.

    Args:
        directory: run output folder; snapshots go to ``directory/snapshots``.
        partition: the `Partition` of the lattice (``nranks == comm.size``).
        comm: `lattice.parallel` communicator (SerialComm or MPIComm).
        field_names: names of the n_fields fields, in the order of ``fields_local``.
        strategy: 'auto', 'serial', 'vds' or 'mpio' (see the module docstring).
        units: field name -> units (default `FIELD_UNITS`).
        length_units: units of ``dx``, ``origin`` and the coordinates.
    """

    def __init__(self, directory, partition, comm, field_names, strategy="auto", units=None,
                 length_units=LENGTH_UNITS):
        self.folder = os.path.join(os.fspath(directory), "snapshots")
        self.partition, self.comm, self.field_names = partition, comm, tuple(field_names)
        self.strategy = make_strategy(strategy, comm, partition)
        self.units = {name: (units or {}).get(name, FIELD_UNITS) for name in self.field_names}
        self.length_units = length_units
        on_root(comm, lambda: os.makedirs(self.folder, exist_ok=True))

    def path(self, index: int) -> str:
        return os.path.join(self.folder, f"snap_{index:06d}.h5")

    def write(self, index: int, fields_local, attrs: dict) -> str:
        """Write snapshot ``index`` collectively (call on every rank) and return its path.

        Args:
            index: snapshot number (file name).
            fields_local: this rank's interior, shape (n_fields, *partition.local_shape(rank)).
            attrs: scalars/strings, the same on every rank; must hold ``dx`` (spacing per axis)
                and may hold ``origin`` (lower domain corner per axis, default 0), both in
                ``length_units``; ``t`` [MeV^-1] becomes the XDMF time (else ``index``).
        """
        part, names = self.partition, self.field_names
        fields_local = np.asarray(fields_local)
        shape = (len(names),) + part.local_shape(self.comm.rank)
        dx = tuple(map(float, attrs.get("dx", ())))
        origin = tuple(map(float, attrs.get("origin", (0.0,) * part.ndim)))

        def check():
            if fields_local.shape != shape:
                raise ValueError(f"fields_local has shape {fields_local.shape}, expected {shape} "
                                 f"(n_fields, *local interior) on rank {self.comm.rank}")
            if len(dx) != part.ndim or len(origin) != part.ndim:
                raise ValueError(f"attrs need dx and origin with {part.ndim} entries, got "
                                 f"dx={attrs.get('dx')!r} origin={attrs.get('origin')!r}")
        collective(self.comm, check)
        blocks = {f"fields/{n}": (fields_local[i], self.units[n]) for i, n in enumerate(names)}
        extras = {f"coords/x{a}": (cell_centres(n, dx[a], origin[a]), self.length_units)
                  for a, n in enumerate(part.global_shape)}
        attr_units = json.dumps({"T": "MeV", "t": "MeV^-1", "dx": self.length_units,
                                 "origin": self.length_units})
        path = self.path(index)
        self.strategy.write(path, blocks, extras, {"version": VERSION, **attrs, "dx": dx,
                                                   "origin": origin, "field_names": list(names),
                                                   "attr_units": attr_units})
        time = float(attrs.get("t", index))
        on_root(self.comm, lambda: write_xdmf(path, names, part.global_shape, dx, origin, time,
                                               precision=fields_local.dtype.itemsize))
        return path


def read_snapshot(path):
    """Read a snapshot written by any strategy.

    Returns:
        (fields, attrs): field name -> global array (n0[, n1[, n2]]) in file order, and the
        file attributes (including dx, origin, version, io_strategy).
    """
    with open_checked(path) as f:
        names = list(f.attrs.get("field_names", list(f["fields"])))
        fields = {name: f["fields"][name][()] for name in names}
        attrs = {key: f.attrs[key] for key in f.attrs}
    return fields, attrs
