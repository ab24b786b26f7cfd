"""The run driver: integrate a model from T_start to T_end, sample, and hand each sample to the
scheduled callbacks (outputs, grid doubling, progress, checkpoints).

The model comes in through the deck's schema (`schema.spec`, a lattice.model.ModelSpec); what
is stepped and how is wired once by lattice.assembly. Time is cosmic time t [MeV^-1]; samples
are log-spaced in T [MeV]. Every decision that affects the solution (step sizes, accept/reject)
is a global reduction, so results do not depend on the number of ranks.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path


from lattice import devices, restart, runfolder
from lattice.assembly import assemble
from lattice.callbacks import Callback, GridDoubling, ProgressReport
from lattice.outcome import RunResult, Stopped
from lattice.parallel import SerialComm
from lattice.run_outputs import SnapshotOutput, TimeseriesOutput, claim_output
from lattice.sampling import Samples

__all__ = ["RunResult", "Simulation", "Stopped", "default_output_dir", "run"]


def default_output_dir(deck) -> Path:
    """output.dir, or out/<deck file stem> when it is empty."""
    if deck.output.dir:
        return Path(deck.output.dir)
    return Path("out") / Path(str(deck.source)).stem


class Simulation:
    """One run of a deck: the sampling loop and its callbacks.

    Args:
        deck, schema: a validated deck and its schema (schema.spec is the model).
        out_dir: output directory (default from the deck).
        write: False keeps everything in memory (tests, benchmarks).
        comm: lattice.parallel communicator (default: one rank).
        xp: array library of a lattice's fields (numpy or cupy), overriding the deck's
            device.backend (benchmarks); None: the deck's (lattice.devices).
    """

    def __init__(self, deck, schema, out_dir=None, write=True, comm=None, xp=None):
        self.deck, self.schema, self.spec = deck, schema, schema.spec
        self.comm, self.write = comm or SerialComm(), write
        self.out = Path(out_dir) if out_dir is not None else default_output_dir(deck)
        self.run_id = self.comm.bcast(runfolder.new_run_id() if self.comm.rank == 0 else None)
        """Identifies this run's files (lattice.runfolder); a restart takes the checkpoint's."""
        self.placement = (devices.place(deck, self.comm, self.spec.on_lattice(deck)) if xp is None
                          else devices.Placement(xp, xp.__name__))
        parts = assemble(deck, self.spec, self.comm, self.placement.xp)
        self.system, self.y, self.lattice, self.diffusion = parts.system, parts.y, parts.lattice, parts.diffusion
        self.length_unit, self.stepper, self.advancer = parts.length_unit, parts.stepper, parts.advancer
        self.doubling = GridDoubling(deck.grid) if self.lattice is not None else None
        self.snapshots = (SnapshotOutput(self.out, deck.output.snapshots, deck.output.samples)
                          if write and self.lattice is not None else None)
        self.callbacks = [c for c in (self.snapshots, self.doubling) if c is not None]
        if write:
            self.callbacks.append(TimeseriesOutput(self.out, self.comm.rank))
        columns = dict(self.advancer.columns())
        for callback in self.callbacks:
            columns.update(callback.columns())
        self.samples = Samples(self.system, deck.time.T_start_MeV, deck.time.T_end_MeV, deck.output.samples,
                               columns, self.lattice is None and self.y[0].size == 1, self.lattice is not None)
        self.t_resume = None
        """Time [MeV^-1] of the state when it lies inside the interval before the next sample (a
        checkpoint written between samples), else None."""

    def run(self, control=None) -> RunResult:
        """Integrate to T_end; `control` (lattice.control.RunControl) may checkpoint and stop."""
        callbacks = self.callbacks + [ProgressReport(self.deck.output, self.deck.time.T_start_MeV,
                                                     self.deck.time.T_end_MeV, self.comm.rank)]
        if control is not None:
            callbacks.append(CheckpointSchedule(control))
        self.wall0 = time.perf_counter()
        try:
            for callback in callbacks:
                callback.open(self)
            for i in range(self.samples.next, len(self.samples)):
                if i:
                    self._advance_to(i, control)
                extra = self.advancer.observe()
                for callback in callbacks:
                    extra.update(callback.observe(self))
                obs = self.samples.observe(i, self.system, self.y, self.comm, self.lattice,
                                           self.advancer.n_accepted, extra)
                self.samples.next = i + 1
                for callback in callbacks:
                    callback.sample(self, i, obs)
        except BaseException as exc:
            for callback in reversed(callbacks):
                callback.close(self, error=exc)
            raise
        s = self.samples
        result = RunResult(s.T, s.t, s.series, s.fields, self.y, self.stats())
        result.summary = self.spec.summarise(result, self.deck)
        for callback in reversed(callbacks):
            callback.close(self, result=result)
        return result

    def _advance_to(self, i, control):
        """Advance the state to sample i; a checkpoint asked for on the way is written there,
        between samples, and a stop raises Stopped after it."""
        t_end = self.samples.t[i]
        t = self.samples.t[i - 1] if self.t_resume is None else self.t_resume
        decisions = []           # the stop flag of a checkpoint asked for between samples

        def interrupt():
            write, stop = control.poll()
            if write:
                decisions.append(stop)
            return write

        while True:
            self.y = self.advancer.advance(t, self.y, t_end, interrupt if control is not None else None)
            t = self.advancer.t_reached
            if t >= t_end:
                self.t_resume = None
                break
            self.t_resume = t
            self.write_checkpoint(control.path)
            if decisions.pop():
                raise Stopped(control.path, self.system.temperature(t), control.reason)
        max_steps = self.deck.integrator.max_steps
        if self.advancer.n_accepted + self.advancer.n_rejected > max_steps:
            raise RuntimeError(f"integrator.max_steps = {max_steps} exceeded at T = {self.samples.T[i]:.6g} MeV")

    def stats(self) -> dict:
        """The run's statistics: step counts (per branch, Krylov, splitting) and wall time [s]."""
        return {**self.advancer.stats(), "wall_s": time.perf_counter() - self.wall0}

    def write_checkpoint(self, path):
        restart.write(self, path)

    def restore(self, path):
        restart.restore(self, path)

    def start_from_snapshot(self, path):
        restart.start_from_snapshot(self, path)

    def claim_output(self, overwrite=False, continuing=False, keep=()):
        claim_output(self, overwrite, continuing, keep)


class CheckpointSchedule(Callback):
    """After every sample but the last: write a checkpoint when `control` asks, stop when it says."""

    def __init__(self, control):
        self.control = control

    def sample(self, sim, i, obs):
        if sim.samples.next < len(sim.samples):
            write, stop = self.control.poll()
            if write:
                sim.write_checkpoint(self.control.path)
            if stop:
                raise Stopped(self.control.path, sim.samples.T[i], self.control.reason)


def run(deck, schema, out_dir=None, write=True, progress=None, comm=None, restart=None,
        control=None, from_snapshot=None, overwrite=False) -> RunResult:
    """Integrate a deck (see Simulation); `restart` continues from a checkpoint file, exactly;
    `from_snapshot` starts from a snapshot's fields (lattice.restart.start_from_snapshot).

    The output folder is checked first (Simulation.claim_output): a folder holding another
    run's files is refused (runfolder.FolderError) unless `overwrite`."""
    if progress:
        deck = dataclasses.replace(deck, output=dataclasses.replace(deck.output, progress=progress))
    sim = Simulation(deck, schema, out_dir, write, comm=comm)
    if restart:
        sim.restore(restart)
    elif from_snapshot:
        sim.start_from_snapshot(from_snapshot)
    if write:
        sim.claim_output(overwrite, continuing=bool(restart), keep=[p for p in (restart, from_snapshot) if p])
    return sim.run(control)
