"""Jobs the run loop (lattice.driver.Simulation) schedules at every output sample.

Each callback opens what it needs, acts after each sample, adds extra time-series columns if
it has any, and saves and restores its own part of a checkpoint; the loop knows none of their
internals. The outputs (time series, snapshots) are in lattice.run_outputs.
"""

from __future__ import annotations

import logging


from lattice.doubling import coarsen
from lattice.progress import Progress

log = logging.getLogger(__name__)


class Callback:
    """A job scheduled at every output sample; every method is optional."""

    def columns(self) -> dict:
        """Extra time-series columns (name -> unit)."""
        return {}

    def observe(self, sim) -> dict:
        """Values of the extra columns at the sample being recorded."""
        return {}

    def open(self, sim):
        """Before the first sample of this process (outputs opened, rows restored)."""

    def sample(self, sim, i, obs):
        """After sample i is recorded (obs: its observables)."""

    def close(self, sim, result=None, error=None):
        """At the end: `result` (lattice.driver.RunResult) on success, else the exception."""

    def checkpoint_state(self) -> dict:
        return {}

    def restore_state(self, meta, sim):
        """Continue from checkpoint metadata (before open)."""


class GridDoubling(Callback):
    """Double the grid while the model's doubling length spans ≥ 2 × grid.doubling_cells_per_lD
    cells, at and below grid.doubling_below_T_MeV (a global decision: every rank computes the
    same numbers). The state and the system's cell_field are coarsened (lattice.doubling), the
    box doubles."""

    def __init__(self, grid):
        self.grid = grid
        self.level = 0

    def columns(self):
        return {"doubling_level": "count (box = 2^level × grid.box_hubble)"}

    def observe(self, sim):
        return {"doubling_level": self.level}

    def sample(self, sim, i, obs):
        T = sim.samples.T[i]
        cells = self.grid.doubling_cells_per_lD if T <= self.grid.doubling_below_T_MeV else 0.0
        ell = sim.diffusion.doubling_length(T, sim.system.cosmology.hubble(T))
        while cells and self.level < self.grid.max_doublings and ell >= 2.0 * cells * max(sim.lattice.spacing):
            self.double(sim)
            dx = sim.lattice.spacing[0] / sim.length_unit
            log.info("grid doubled at T = %.6g MeV: level %d, dx = %.4e (box %.4e) in units of "
                        "grid.box_hubble; doubling length = %.2f cells", T, self.level, dx,
                        sim.lattice.box[0] / sim.length_unit, ell / sim.lattice.spacing[0])

    def double(self, sim, state=True):
        """One doubling: the cell field (and the state, if `state`) redistributed, the box doubled."""
        cell = sim.system.cell_field
        parts = ([sim.y] if state else []) + ([cell[None]] if cell is not None else [])
        if parts:
            lattice = sim.lattice
            new = lattice.to_device(coarsen(lattice.to_host(lattice.xp.concatenate(parts)), lattice.partition,
                                            sim.comm, self.grid.doubling_coarsening))
            if cell is not None:
                cell[...] = new[-1]
            if state:
                sim.y = new[:sim.system.n_fields]
        sim.lattice.double_box()
        self.level += 1

    def redo(self, sim, level):
        """Re-apply `level` doublings to the cell field and the box (a restart, a snapshot start)."""
        for _ in range(level):
            self.double(sim, state=False)

    def checkpoint_state(self):
        return {"doubling_level": self.level}

    def restore_state(self, meta, sim):
        self.redo(sim, int(meta.get("doubling_level", 0)))


class ProgressReport(Callback):
    """The progress bar or log lines (lattice.progress), on rank 0; between samples on a lattice
    too, since samples can be minutes apart there."""

    def __init__(self, output, T_start, T_end, rank):
        self.bar = Progress(T_start, T_end, output.progress, output.log_interval_s, enabled=rank == 0)

    def open(self, sim):
        if sim.lattice is not None:
            temperature = sim.system.temperature
            sim.advancer.report_steps(lambda t, text: self.bar.update(temperature(t), text),
                                      lambda t: sim.system.cosmology.hubble(temperature(t)))

    def sample(self, sim, i, obs):
        name = sim.system.headline or next(iter(sim.system.observable_units))
        self.bar.update(sim.samples.T[i], f"<{name}> = {obs[name]:+.4e}  steps {sim.advancer.n_accepted}")

    def close(self, sim, result=None, error=None):
        self.bar.close()
