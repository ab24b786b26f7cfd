"""DIR/timeseries.h5: scalar diagnostics (and, for one site, the fields) against T and t.

Layout (documented in the README):
    /T, /t                    1-D, MeV and MeV^-1
    /<observable>             1-D, one per model observable (e.g. L, L_nutau, sterile_over_active)
    /steps                    1-D, accepted integrator steps so far
    /fields/<name>            1-D per field, single-site runs only (P0p, P0m, ... Pzm)
    attrs: deck (resolved YAML), model, version, units on every dataset, summary keys at close.
Rows are appended as the run goes and flushed every `flush_every` rows, so a killed run keeps
what it had computed.
"""

from __future__ import annotations

import h5py
import numpy as np

VERSION = "0.1.0"


class TimeseriesWriter:
    """Append-only HDF5 time series.

    Args:
        path: file to create (overwritten).
        columns: name -> units for the 1-D series (T and t are added first).
        field_names: names of the per-site fields to store (empty for lattices).
        attrs: file attributes (deck text, model name, ...).
    """

    def __init__(self, path, columns: dict, field_names=(), attrs=None, flush_every=200):
        self.file = h5py.File(path, "w")
        self.columns = {"T": "MeV", "t": "MeV^-1", **columns, "steps": "count"}
        self.field_names = tuple(field_names)
        self.flush_every = flush_every
        self.rows = 0
        for name, units in self.columns.items():
            self._create(name, units)
        for name in self.field_names:
            self._create(f"fields/{name}", "dimensionless (Bloch components, P = P_nu ± P_nubar)")
        self.file.attrs["version"] = VERSION
        for key, value in (attrs or {}).items():
            self.file.attrs[key] = value

    def _create(self, name, units):
        ds = self.file.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(4096,))
        ds.attrs["units"] = units

    def append(self, values: dict, fields=None):
        """Add one row: values has every column; fields is the (n_fields,) state of one site."""
        n = self.rows + 1
        for name in self.columns:
            ds = self.file[name]
            ds.resize((n,))
            ds[n - 1] = values[name]
        for i, name in enumerate(self.field_names):
            ds = self.file[f"fields/{name}"]
            ds.resize((n,))
            ds[n - 1] = fields[i]
        self.rows = n
        if n % self.flush_every == 0:
            self.file.flush()

    def close(self, summary=None):
        """Write summary attributes and close the file."""
        for key, value in (summary or {}).items():
            self.file.attrs[f"summary_{key}"] = np.nan if value is None else value
        self.file.close()
