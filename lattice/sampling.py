"""The output samples of a run: log-spaced temperatures, the observables recorded at each, and
what a checkpoint stores of them.

Observables are the model's (System.observable_sums summed over ranks, then
observables_from_sums), the count of sign changes of the model's wall field on a lattice
(`sign_changes`), and the extra columns of the advancer and of the run's callbacks. A single
site also records its whole state at every sample (`fields`).
"""

from __future__ import annotations

import numpy as np

from lattice.reductions import ReproducibleSums


class Samples:
    """The sample temperatures and everything recorded at them.

    Args:
        system: the model's System.
        T_start, T_end: temperature span [MeV]; n: number of samples (log-spaced).
        extra_units: extra columns (name -> unit) after the model's observables.
        single_site: whether the state of each sample is recorded too.
        on_lattice: whether the run is a decomposed lattice (sign changes are counted there).
    """

    def __init__(self, system, T_start, T_end, n, extra_units, single_site, on_lattice):
        self.T = np.geomspace(T_start, T_end, n)
        self.t = system.cosmology.time(self.T)
        self.units = dict(system.observable_units)
        if system.wall_field is not None:
            self.units["sign_changes"] = "count"
        self.units.update(extra_units)
        self.series = {name: np.full(n, np.nan) for name in self.units}
        self.steps = np.zeros(n)
        self.fields = np.full((system.n_fields, n), np.nan) if single_site else None
        self.next = 0
        """Index of the next sample to take."""
        self.on_lattice = on_lattice

    def __len__(self):
        return len(self.T)

    def observe(self, i, system, y, comm, lattice, steps, extra) -> dict:
        """Record sample i of state y (this rank's block); returns the observables."""
        terms = system.observable_terms(y) if self.on_lattice else None
        sums = (ReproducibleSums(comm, lattice.n_cells, lattice.backend).row_sums(terms) if terms is not None
                else comm.allreduce_sum(system.observable_sums(y)))
        obs = system.observables_from_sums(sums)
        if system.wall_field is not None:
            obs["sign_changes"] = count_sign_changes(lattice, system, y) if self.on_lattice else 0
        obs.update(extra)
        for name, value in obs.items():
            self.series[name][i] = value
        self.steps[i] = steps
        if self.fields is not None:
            self.fields[:, i] = y[:, 0]
        return obs

    def row(self, i) -> dict:
        """Sample i as a time-series row (T, t, steps and every column)."""
        return {"T": self.T[i], "t": self.t[i], "steps": self.steps[i], **{k: v[i] for k, v in self.series.items()}}

    def checkpoint_state(self) -> dict:
        n = self.next
        state = {"next_sample": n, "series": {k: v[:n].tolist() for k, v in self.series.items()},
                 "steps": self.steps[:n].tolist()}
        if self.fields is not None:
            state["fields"] = self.fields[:, :n].tolist()
        return state

    def restore_state(self, meta):
        self.next = n = int(meta["next_sample"])
        for key, values in meta["series"].items():
            self.series[key][:n] = values
        self.steps[:n] = meta["steps"]
        if self.fields is not None:
            self.fields[:, :n] = np.array(meta["fields"]).reshape(self.fields.shape[0], -1)


def count_sign_changes(lattice, system, y):
    """Number of neighbouring cell pairs (all axes) where the model's wall field changes sign,
    over the global grid."""
    w = system.derived_fields(y)[system.wall_field]
    padded = lattice.fill_ghosts(np.broadcast_to(w, y.shape))  # every field slot holds the wall field
    h = lattice.partition.halo
    core = tuple(slice(h, n - h) for n in padded.shape[1:])
    count = 0
    for axis in range(lattice.ndim):
        upper = list(core)
        s = core[axis]
        upper[axis] = slice(s.start + 1, s.stop + 1)
        a, b = padded[(0,) + core], padded[(0,) + tuple(upper)]
        pairs = np.signbit(a) != np.signbit(b)
        edge = lattice.partition.neighbour(lattice.rank, axis, 1) is None
        if edge:  # no pair across a non-periodic global face
            idx = [slice(None)] * lattice.ndim
            idx[axis] = slice(0, -1)
            pairs = pairs[tuple(idx)]
        count += int(pairs.sum())
    return lattice.comm.allreduce_sum(count)
