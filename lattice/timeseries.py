"""DIR/timeseries.h5: scalar diagnostics (and, for one site, the fields) against T and t.

Layout (documented in docs/user-guide/output.md):
    /T, /t                    1-D, MeV and MeV^-1
    /<observable>             1-D, one per model observable (e.g. L, L_nutau, sterile_over_active)
    /steps                    1-D, accepted integrator steps so far
    /fields/<name>            1-D per field, single-site runs only (P0p, P0m, ... Pzm)
    /final/<name>             whole arrays written once at the end (pb: y, z_s, zbar_s spectra)
    attrs: deck (resolved YAML), model, version, run_id (see `lattice.runfolder`), backend and devices
    (the array library and each rank's GPU number, -1 on the host; lattice.devices), units on
           every dataset, summary keys at close.
Columns whose units start with "count" (steps, sign_changes, doubling_level) are stored as
64-bit integers, the rest as float64.
Rows are buffered and written every `flush_every` rows or `flush_interval_s` seconds, whichever
comes first (and at close), so a killed run keeps all but the last block of what it had
computed, and a long run's file can be read while it runs (h5py locks files it writes: read it
with HDF5_USE_FILE_LOCKING=FALSE).
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager

import h5py
import numpy as np

VERSION = "0.1.0"


class OutputError(OSError):
    """Writing an output file failed (disk full, file system gone, ...): one line, path and reason."""


def _reason(exc) -> str:
    """What an HDF5 write error says went wrong, in a few words (its C library's message if any)."""
    found = re.search(r"error message = '([^']*)'", str(exc))
    return found.group(1) if found else " ".join(str(exc).split())


class TimeseriesWriter:
    """Append-only HDF5 time series.

    Args:
        path: file to create (overwritten).
        columns: name -> units for the 1-D series (T and t are added first).
        field_names: names of the per-site fields to store (empty for lattices).
        attrs: file attributes (deck text, model name, ...).
        field_units: unit text of the per-site fields.
    """

    def __init__(self, path, columns: dict, field_names=(), attrs=None, flush_every=200,
                 flush_interval_s=60.0, field_units="dimensionless"):
        self.path = path
        try:
            self.file = h5py.File(path, "w")
        except OSError as exc:
            raise OutputError(f"writing {path} failed: {_reason(exc)}") from None
        self.flush_interval_s = flush_interval_s
        self._flushed_at = time.monotonic()
        self.columns = {"T": "MeV", "t": "MeV^-1", **columns, "steps": "count"}
        self.field_names = tuple(field_names)
        self.flush_every = flush_every
        self.rows = 0
        self._pending = []
        with self._writing():
            for name, units in self.columns.items():
                self._create(name, units)
            for name in self.field_names:
                self._create(f"fields/{name}", field_units)
            self.file.attrs["version"] = VERSION
            for key, value in (attrs or {}).items():
                self.file.attrs[key] = value

    @contextmanager
    def _writing(self):
        """HDF5 failures as one OutputError; the broken file is dropped, never written again."""
        try:
            yield
        except (OSError, RuntimeError) as exc:
            reason = _reason(exc)
            broken, self.file = self.file, None
            try:
                broken.close()
            except Exception:   # the file is already broken; its error is the one reported
                pass
            raise OutputError(f"writing {self.path} failed: {reason}") from None

    def _create(self, name, units):
        dtype = "i8" if units.startswith("count") else "f8"
        ds = self.file.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(4096,))
        ds.attrs["units"] = units

    def append(self, values: dict, fields=None):
        """Add one row: values has every column; fields is the (n_fields,) state of one site."""
        self._pending.append(([values[name] for name in self.columns],
                              None if fields is None else np.array(fields, dtype=float)))
        self.rows += 1
        if (len(self._pending) >= self.flush_every
                or time.monotonic() - self._flushed_at >= self.flush_interval_s):
            self.flush()

    def flush(self):
        """Write the buffered rows to the file (one resize per dataset) and flush it."""
        self._flushed_at = time.monotonic()
        if not self._pending or self.file is None:
            return
        with self._writing():
            self._write_pending()

    def _write_pending(self):
        n0, n = self.rows - len(self._pending), self.rows
        block = np.array([row for row, _ in self._pending], dtype=float)
        for j, name in enumerate(self.columns):
            ds = self.file[name]
            ds.resize((n,))
            ds[n0:n] = block[:, j].astype(ds.dtype)
        if self.field_names:
            states = np.array([f for _, f in self._pending])
            for i, name in enumerate(self.field_names):
                ds = self.file[f"fields/{name}"]
                ds.resize((n,))
                ds[n0:n] = states[:, i]
        self._pending = []
        self.file.flush()

    def write_arrays(self, group, arrays: dict, units: str):
        """Store whole arrays once (e.g. the final momentum spectra) under /group/<name>."""
        with self._writing():
            for name, value in arrays.items():
                ds = self.file.create_dataset(f"{group}/{name}", data=np.asarray(value, dtype=float))
                ds.attrs["units"] = units

    def close(self, summary=None):
        """Write the remaining rows and the summary attributes, and close the file (nothing if a
        write failed before: the file was dropped then)."""
        self.flush()
        if self.file is None:
            return
        with self._writing():
            for key, value in (summary or {}).items():
                self.file.attrs[f"summary_{key}"] = np.nan if value is None else value
            self.file.close()
            self.file = None
