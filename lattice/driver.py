"""The run driver: integrate a model from T_start to T_end, sample, report, write.

The same driver runs any model's system with the local stepper alone (the homogeneous QKE on one
site; the Pauli–Boltzmann model on its momentum grid, one rank) and a decomposed lattice (the
local stepper coupled to RKL2 diffusion, lattice/splitting.py). The model registry
(physics.models.MODELS) says which, builds the system and summarises the run; the system names
its observables. Time is
cosmic time t [MeV^-1]; samples are log-spaced in T [MeV]. Every decision that affects the
solution (step sizes, accept/reject) is a global reduction, so results do not depend on the
number of ranks.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lattice import runfolder
from lattice.parallel import SerialComm
from lattice.compiled_line import compiled_line_stepper
from lattice.compiled_rodas import compiled_site_stepper
from lattice.doubling import coarsen
from lattice.implicit import ImplicitLattice
from lattice.progress import Progress
from lattice.rosenbrock import Rodas4
from lattice.splitting import MidpointSourceCoupling, StrangSplitting
from lattice.timeseries import TimeseriesWriter
from physics.models import MODELS, build_lattice


@dataclass
class RunResult:
    """What a run produced: sampled series, final state (this rank's block), statistics."""

    T: np.ndarray
    t: np.ndarray
    series: dict
    fields: np.ndarray
    state: np.ndarray
    stats: dict
    summary: dict = field(default_factory=dict)


def default_output_dir(deck) -> Path:
    """output.dir, or out/<deck file stem> when it is empty."""
    if deck.output.dir:
        return Path(deck.output.dir)
    return Path("out") / Path(str(deck.source)).stem


class LocalOnly:
    """Advance a single site with the adaptive local stepper alone."""

    def __init__(self, stepper, h):
        self.stepper, self.h = stepper, h

    def advance(self, t, y, t_end, interrupt=None):
        """y at t_end, or at `t_reached` < t_end if `interrupt()` said so after a step."""
        y, self.h = self.stepper.advance(t, y, t_end, self.h, interrupt=interrupt)
        self.t_reached = self.stepper.t_reached
        return y


class Split:
    """Advance a lattice by coupled local/diffusion steps; dt from the coupling's control, capped."""

    def __init__(self, splitting, dt, dt_cap, dt_min_rel=1e-14):
        self.splitting, self.dt, self.dt_cap = splitting, dt, dt_cap
        self.dt_min_rel = dt_min_rel
        self.steps = 0
        self.on_step = None
        """Optional callable(t) after each accepted step (progress between output samples)."""

    def advance(self, t, y, t_end, interrupt=None):
        """y at t_end, or at `t_reached` < t_end if `interrupt()` said so after a step."""
        while t < t_end:
            dt = min(self.dt, self.dt_cap(t))
            if dt < self.dt_min_rel * t:
                raise RuntimeError(f"lattice step {dt:.3e} fell below {self.dt_min_rel:g} t at t = {t:.6e}")
            last = t + dt >= t_end
            dt = t_end - t if last else dt
            y_new, proposal = self.splitting.step(t, y, dt)
            if y_new is None:  # rejected: retry with the smaller proposal
                self.dt = proposal
                continue
            y = y_new
            self.steps += 1
            t = t_end if last else t + dt
            if self.on_step:
                self.on_step(t)
            if not last:
                self.dt = min(proposal, 2.0 * dt)
                if interrupt is not None and interrupt():
                    break
        self.t_reached = t
        return y


class Stopped(Exception):
    """The run stopped early (SIGTERM, SIGINT or wall-time limit) after writing a checkpoint."""

    def __init__(self, path, T, reason=None):
        why = f" ({reason})" if reason else ""
        super().__init__(f"stopped{why} at T = {T:.6g} MeV; checkpoint written to {path}")
        self.path, self.T, self.reason = path, T, reason


class Simulation:
    """One run of a deck: set-up, sampling loop, checkpoints, output.

    Args:
        deck, schema: a validated deck and its schema (for the resolved text).
        out_dir: output directory (default from the deck).
        write: False keeps everything in memory (tests, benchmarks).
        progress: progress mode overriding output.progress.
        comm: lattice.parallel communicator (default: one rank).
        xp: array library of a lattice's fields (numpy, or cupy to step on a GPU, as
            `qke bench lattice --backend cupy` does; `run`'s output needs host arrays and is
            not yet wired for CuPy).
    """

    def __init__(self, deck, schema, out_dir=None, write=True, progress=None, comm=None, xp=np):
        self.deck, self.schema, self.comm = deck, schema, comm or SerialComm()
        self.write = write
        self.out = Path(out_dir) if out_dir is not None else default_output_dir(deck)
        self.run_id = self.comm.bcast(runfolder.new_run_id() if self.comm.rank == 0 else None)
        """Identifies this run's files (lattice.runfolder); a restart takes the checkpoint's."""
        integ = deck.integrator
        self.setup = None
        self.spec = MODELS[deck.model]
        if not self.spec.on_lattice(deck):
            self.lattice, self.system = None, self.spec.build_system(deck)
            self.y = self.system.initial_state((1,))
        else:
            self.setup = build_lattice(deck, self.comm, xp)
            self.lattice, self.system = self.setup.lattice, self.setup.system
            self.y = xp.asarray(self.system.initial_state(self.lattice.local_shape))
        system = self.system
        self.T_samples = np.geomspace(deck.time.T_start_MeV, deck.time.T_end_MeV, deck.output.samples)
        self.t_samples = system.cosmology.time(self.T_samples)
        error_norm = system.error_norm(integ.rtol, integ.atol_plus, integ.atol_minus)
        stepped = system
        if self.lattice is not None and integ.coupling == "implicit":
            stepped = ImplicitLattice(system, self.setup.diffusion, self.lattice, error_norm.field_weights,
                                      integ.krylov_tolerance, integ.krylov_restart, integ.krylov_max_iterations,
                                      integ.stage_solver)
        # one site: the whole adaptive loop compiled when the model offers per-site kernels
        # (lattice.compiled_rodas); else, and on lattices, the Python Rodas4
        compiled = (compiled_site_stepper(system, error_norm, method=integ.method,
                                          explicit_rtol_factor=integ.explicit_rtol_factor,
                                          probe_steps=integ.probe_steps, max_attempts=integ.max_steps)
                    if self._single_site() else None)
        if self.lattice is not None and integ.coupling == "implicit" and integ.stage_solver == "direct":
            # a line: the whole adaptive loop compiled, with the explicit branch (lattice.compiled_line)
            compiled = compiled_line_stepper(system, error_norm, self.setup.diffusion, stepped, self.lattice,
                                             integ.rtol, integ.explicit_rtol_factor, integ.method,
                                             probe_steps=integ.probe_steps, max_attempts=integ.max_steps)
        self.stepper = (compiled if compiled is not None
                        else Rodas4(stepped, error_norm, reduce_max=self.comm.allreduce_max))
        dt0 = integ.dt_initial * self.t_samples[0]
        if self.lattice is None or integ.coupling == "implicit":
            self.advancer = LocalOnly(self.stepper, dt0)
        else:
            lattice, diffusion = self.lattice, self.setup.diffusion
            tendency = lambda v, t: diffusion.tendency(lattice.laplacian(v), system.temperature(t))  # noqa: E731
            limit = lambda t: lattice.explicit_limit(diffusion.max_rate_coefficient(system.temperature(t)))  # noqa: E731
            if integ.coupling == "strang":
                splitting = StrangSplitting(self.stepper, tendency, limit)
            else:
                splitting = MidpointSourceCoupling(self.stepper, tendency, limit, self.stepper.error_norm,
                                                   self.comm.allreduce_max)
            self.advancer = Split(splitting, dt0, lambda t: integ.max_dt_hubble / system.cosmology.hubble(
                system.temperature(t)))
        self.units = dict(system.observable_units)
        if getattr(system, "counts_domain_walls", False):
            self.units["sign_changes"] = "count"
        self.switching = hasattr(self.stepper, "checkpoint_state")
        """Whether the stepper has the explicit branch (lattice.explicit_rk): its branch, counters
        and h·ρ go into the time series, the statistics and the checkpoints."""
        if self.switching:
            self.units["integrator"] = "code: 0 rodas4, 1 dopri5 (the branch the next step takes)"
            self.units["explicit_steps"] = "count (accepted dopri5 steps since the start)"
            self.units["h_rho"] = "dimensionless: last step × estimate of the Jacobian's spectral radius"
        if self.lattice is not None:
            self.units["doubling_level"] = "count (box = 2^level × grid.box_hubble)"
        self.doubling_level = 0
        n = len(self.T_samples)
        self.series = {name: np.full(n, np.nan) for name in self.units}
        self.steps = np.zeros(n)
        one_site = self._single_site()
        self.fields = np.full((system.n_fields, n), np.nan) if one_site else None
        self.next_sample = 0
        self.t_resume = None
        """Time [MeV^-1] of the state when it lies inside the interval before next_sample (a
        checkpoint written between samples), else None."""
        self.snapshot_at = []
        if self.lattice is not None and deck.output.snapshots:
            self.snapshot_at = sorted(set(np.round(np.linspace(0, n - 1, deck.output.snapshots)).astype(int)))

    def _single_site(self):
        """Whether this run integrates one site by the local stepper alone (no lattice)."""
        return self.lattice is None and self.y[0].size == 1

    # -- checkpoint state ------------------------------------------------------------------------
    def _partition(self):
        from lattice.partition import Partition

        return self.lattice.partition if self.lattice else Partition(self.y.shape[1:], (1,) * (self.y.ndim - 1))

    def checkpoint_meta(self):
        """Everything besides the fields that an exact restart needs."""
        a, st = self.advancer, self.stepper
        meta = {"deck": self.schema.to_yaml(self.deck), "run_id": self.run_id,
                "out_dir": str(self.out.resolve()) if self.write else None,
                "next_sample": self.next_sample, "accepted": st.n_accepted, "rejected": st.n_rejected,
                "doubling_level": self.doubling_level,
                "series": {k: v[:self.next_sample].tolist() for k, v in self.series.items()},
                "steps": self.steps[:self.next_sample].tolist()}
        if self.fields is not None:
            meta["fields"] = self.fields[:, :self.next_sample].tolist()
        if self.t_resume is not None:
            meta["t_resume"] = self.t_resume
        if isinstance(a, LocalOnly):
            meta["h"] = a.h
            if self.switching:
                meta.update(st.checkpoint_state())
        else:
            meta.update(dt=a.dt, h_local=a.splitting.h_local, split_steps=a.steps,
                        split_rejected=a.splitting.rejected, stages_total=a.splitting.stages_total)
        return meta

    def write_checkpoint(self, path):
        from lattice.checkpoint import write_checkpoint

        write_checkpoint(path, self.comm, self._partition(), self.y, self.checkpoint_meta())

    def restore(self, path):
        """Continue from a checkpoint written by a run of the same deck (RestartError otherwise,
        before any output is opened; checkpoints older than the deck record are not checked)."""
        from lattice.checkpoint import RESTART_MAY_CHANGE, RestartError, deck_differences, read_checkpoint

        self.y, meta = read_checkpoint(path, self.comm, self._partition())
        changed = deck_differences(meta["deck"], self.schema.to_yaml(self.deck)) if "deck" in meta else []
        if changed:
            raise RestartError(f"{path} was written by a run of another deck ({'; '.join(changed)}); a "
                               f"restart continues the same run, and only {', '.join(RESTART_MAY_CHANGE)} "
                               f"may change")
        for _ in range(int(meta.get("doubling_level", 0))):   # the seed field and box, as they were
            self._double(state=False)
        self.run_id = meta.get("run_id", self.run_id)
        self.next_sample = int(meta["next_sample"])
        self.t_resume = meta.get("t_resume")
        self.stepper.n_accepted, self.stepper.n_rejected = meta["accepted"], meta["rejected"]
        for key, values in meta["series"].items():
            self.series[key][:self.next_sample] = values
        self.steps[:self.next_sample] = meta["steps"]
        if self.fields is not None:
            self.fields[:, :self.next_sample] = np.array(meta["fields"]).reshape(self.system.n_fields, -1)
        if isinstance(self.advancer, LocalOnly):
            self.advancer.h = meta["h"]
            if self.switching:
                if not self.stepper.has_state(meta):
                    raise RestartError(f"{path} was written by a stepper without the explicit branch (the "
                                       f"Python Rodas4, or a version before it); restart it with the "
                                       f"version that wrote it")
                self.stepper.restore_state(meta)
        else:
            self.advancer.dt, self.advancer.steps = meta["dt"], meta["split_steps"]
            self.advancer.splitting.h_local = meta["h_local"]
            self.advancer.splitting.stages_total = meta["stages_total"]
            self.advancer.splitting.rejected = meta["split_rejected"]

    def start_from_snapshot(self, path):
        """Take the fields of a snapshot as the initial state (`qke run --from-snapshot`).

        The deck must be the snapshot's, except for the keys in SNAPSHOT_MAY_CHANGE, and its
        time.T_start_MeV must be the snapshot's T (the CLI sets it). The integrator starts
        afresh (first step dt_initial·t), so the continuation equals the original run to the
        integration tolerance, not bitwise; an exact continuation is `--restart CHECKPOINT`.
        Raises RestartError, read on every rank before any output is opened.
        """
        from lattice.checkpoint import SNAPSHOT_MAY_CHANGE, RestartError, deck_differences, read_snapshot_state

        if self.lattice is None:
            raise RestartError("this deck runs a single site, which has no snapshots to start from (a lattice deck needed)")
        y, attrs = read_snapshot_state(path, self.comm, self._partition(), self.system.field_names)
        changed = deck_differences(attrs["deck"], self.schema.to_yaml(self.deck), SNAPSHOT_MAY_CHANGE,
                                   saved_as="snapshot") if "deck" in attrs else []
        if changed:
            raise RestartError(f"{path} was written by a run of another deck ({'; '.join(changed)}); only "
                               f"{', '.join(SNAPSHOT_MAY_CHANGE)} may differ")
        if float(attrs["T"]) != self.deck.time.T_start_MeV:
            raise RestartError(f"{path} was written at T = {float(attrs['T'])!r} MeV, the deck starts at "
                               f"time.T_start_MeV = {self.deck.time.T_start_MeV!r}")
        level = int(attrs.get("doubling_level", 0))
        if level > self.deck.grid.max_doublings:
            raise RestartError(f"{path} was written after {level} grid doublings, more than "
                               f"grid.max_doublings = {self.deck.grid.max_doublings} allows")
        for _ in range(level):   # the seed field and box, as they were
            self._double(state=False)
        self.y = self.lattice.xp.asarray(y)

    # -- the output folder ------------------------------------------------------------------------
    def claim_output(self, overwrite=False, continuing=False, keep=()):
        """Check (collectively, before any output) that the run may write into its folder
        (runfolder.claim, on rank 0); raises runfolder.FolderError on every rank, one line."""
        error = None
        if self.comm.rank == 0:
            try:
                runfolder.claim(self.out, self.run_id, overwrite, continuing, keep, *self.output_bytes())
            except runfolder.FolderError as exc:
                error = str(exc)
        error = self.comm.bcast(error)
        if error:
            raise runfolder.FolderError(error)

    def output_bytes(self):
        """(bytes, what): an upper estimate of what the run writes into its folder: the time
        series (HDF5 chunks of 4096 rows per column), the snapshots and a checkpoint (twice: the
        new one is written beside the old before it replaces it)."""
        n_state = self.system.n_fields * (int(np.prod(self.lattice.partition.global_shape))
                                          if self.lattice is not None else self.y[0].size)
        cells = n_state // self.system.n_fields
        rows = -(-len(self.T_samples) // 4096) * 4096
        columns = len(self.units) + 3 + (self.system.n_fields if self.fields is not None else 0)
        series = 8 * rows * columns + 2**16 + 16 * n_state
        snapshots = len(self.snapshot_at) * (8 * (n_state + 2 * cells) + 2**16)
        checkpoint = 2 * (8 * n_state + 2**16)
        what = f"time series {series / 1e6:.2g} MB"
        if snapshots:
            what += f", {len(self.snapshot_at)} snapshots {snapshots / 1e6:.2g} MB"
        return series + snapshots + checkpoint, what + f", checkpoints {checkpoint / 1e6:.2g} MB"

    def _record(self, status, T=None, detail=""):
        if self.write and self.comm.rank == 0:
            runfolder.write_record(self.out, self.run_id, status, T, detail)

    # -- grid doubling ---------------------------------------------------------------------------
    def _double_if_resolved(self, T):
        """Double the grid while ℓ_D spans ≥ 2 × grid.doubling_cells_per_lD cells, at and below
        grid.doubling_below_T_MeV (a global decision: every rank computes the same numbers)."""
        if self.lattice is None:
            return
        grid = self.deck.grid
        cells = grid.doubling_cells_per_lD if T <= grid.doubling_below_T_MeV else 0.0
        ell = self.setup.diffusion.comoving_diffusion_length(T, self.system.cosmology.hubble(T))
        while cells and self.doubling_level < grid.max_doublings and ell >= 2.0 * cells * max(self.lattice.spacing):
            self._double()
            if self.comm.rank == 0:
                dx = self.lattice.spacing[0] / self.setup.hubble_length
                print(f"grid doubled at T = {T:.6g} MeV: level {self.doubling_level}, dx = {dx:.4e} "
                      f"(box {self.lattice.box[0] / self.setup.hubble_length:.4e}) Hubble lengths at "
                      f"T_ref; l_D = {ell / self.lattice.spacing[0]:.2f} cells", file=sys.stderr, flush=True)

    def _double(self, state=True):
        """One doubling: the seed field L0 (and the state, if `state`) redistributed, the box doubled."""
        L0 = self.system.L0
        fields = np.concatenate([self.y, L0[None]]) if state else L0[None]
        new = coarsen(fields, self.lattice.partition, self.comm, self.deck.grid.doubling_coarsening)
        L0[...] = new[-1]
        if state:
            self.y = new[:-1]
        self.lattice.double_box()
        self.doubling_level += 1

    # -- the loop --------------------------------------------------------------------------------
    def _observe(self, i, t):
        system, y = self.system, self.y
        obs = system.observables_from_sums(self.comm.allreduce_sum(system.observable_sums(y)))
        if "sign_changes" in self.units:
            obs["sign_changes"] = 0 if self.lattice is None else count_sign_changes(self.lattice, system, y)
        if "doubling_level" in self.units:
            obs["doubling_level"] = self.doubling_level
        if self.switching:
            obs["integrator"] = int(self.stepper.state[0])
            obs["explicit_steps"] = int(self.stepper.counts[2])
            obs["h_rho"] = self.stepper.h_rho
        for name, value in obs.items():
            self.series[name][i] = value
        self.steps[i] = self.stepper.n_accepted
        if self.fields is not None:
            self.fields[:, i] = y[:, 0]
        if i in self.snapshot_at and self.write:
            write_snapshot(self.snapshots, self.snapshot_at.index(i), self.lattice, system, y, self.deck,
                           self.schema, self.T_samples[i], t, self.stepper.n_accepted,
                           self.setup.hubble_length, self.doubling_level, self.run_id)
        return obs

    def _open_outputs(self):
        self.timeseries = self.snapshots = None
        if not self.write:
            return
        if self.comm.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            self._record("running", self.T_samples[self.next_sample - 1] if self.next_sample else None)
            self.timeseries = TimeseriesWriter(
                self.out / "timeseries.h5", self.units, self.system.field_names if self.fields is not None else (),
                attrs={"deck": self.schema.to_yaml(self.deck), "model": self.deck.model, "title": self.deck.title,
                       "run_id": self.run_id})
            for i in range(self.next_sample):  # rows restored from a checkpoint
                self._append(i)
        self.comm.barrier()
        if self.snapshot_at:
            from lattice.snapshots import SnapshotWriter

            self.snapshots = SnapshotWriter(self.out, self.lattice.partition, self.comm,
                                            self.system.field_names + ("L",))

    def _append(self, i):
        row = {"T": self.T_samples[i], "t": self.t_samples[i], "steps": self.steps[i],
               **{k: v[i] for k, v in self.series.items()}}
        self.timeseries.append(row, None if self.fields is None else self.fields[:, i])

    def run(self, control=None) -> RunResult:
        """Integrate to T_end; `control` (lattice.control.RunControl) may checkpoint and stop."""
        deck = self.deck
        self._open_outputs()
        bar = Progress(deck.time.T_start_MeV, deck.time.T_end_MeV, deck.output.progress,
                       deck.output.log_interval_s, enabled=self.comm.rank == 0)
        wall0 = time.perf_counter()
        if self.lattice is not None and isinstance(self.advancer, LocalOnly):  # samples can be minutes apart
            krylov = self.stepper.system.stats
            branch = (lambda: f", {self.stepper.branch}") if self.switching else (lambda: "")
            self.stepper.on_accept = lambda t, h: bar.update(
                self.system.temperature(t), f"step {self.stepper.n_accepted}, dt·H = "
                f"{h * self.system.cosmology.hubble(self.system.temperature(t)):.2e}" + branch() + (
                    f", GMRES {krylov.iterations / krylov.solves:.1f} it/solve" if krylov.solves else ""))
        if isinstance(self.advancer, Split):  # samples can be minutes apart on a lattice
            self.advancer.on_step = lambda t: bar.update(
                self.system.temperature(t), f"step {self.advancer.steps}, dt·H = "
                f"{self.advancer.dt * self.system.cosmology.hubble(self.system.temperature(t)):.2e}")
        decision = []            # the stop flag of a checkpoint asked for between samples

        def interrupt():
            write, stop = control.poll()
            if write:
                decision.append(stop)
            return write

        try:
            for i in range(self.next_sample, len(self.t_samples)):
                if i:
                    self._advance_to(i, control, interrupt if control else None, decision)
                    if self.stepper.n_accepted + self.stepper.n_rejected > deck.integrator.max_steps:
                        raise RuntimeError(f"integrator.max_steps = {deck.integrator.max_steps} "
                                           f"exceeded at T = {self.T_samples[i]:.6g} MeV")
                obs = self._observe(i, self.t_samples[i])
                self._double_if_resolved(self.T_samples[i])
                self.next_sample = i + 1
                if self.timeseries:
                    self._append(i)
                bar.update(self.T_samples[i], f"<L> = {obs['L']:+.4e}  steps {self.stepper.n_accepted}")
                if control and self.next_sample < len(self.t_samples):
                    write, stop = control.poll()
                    if write:
                        self.write_checkpoint(control.path)
                    if stop:
                        raise Stopped(control.path, self.T_samples[i], control.reason)
        except BaseException as exc:
            if self.timeseries:
                self.timeseries.close(self._stats(wall0))
            T_last = self.T_samples[self.next_sample - 1] if self.next_sample else None
            try:
                if isinstance(exc, Stopped):
                    self._record("stopped", exc.T, str(exc))
                elif isinstance(exc, KeyboardInterrupt):
                    self._record("failed", T_last, "aborted by a second Ctrl-C; no checkpoint of this stop")
                else:
                    self._record("failed", T_last, " ".join(f"{type(exc).__name__}: {exc}".split()))
            except OSError:     # e.g. the disk is full: the error being raised says what matters
                pass
            raise
        finally:
            bar.close()
        result = RunResult(self.T_samples, self.t_samples, self.series, self.fields, self.y,
                           self._stats(wall0))
        result.summary = self.spec.summarise(result, deck)
        if self.timeseries:
            if hasattr(self.system, "spectra"):
                self.timeseries.write_arrays("final", self.system.spectra(self.y), "dimensionless")
            self.timeseries.close(result.summary)
        self._record("complete", self.T_samples[-1])
        return result

    def _advance_to(self, i, control, interrupt, decision):
        """Advance the state to sample i; a checkpoint asked for on the way is written there,
        between samples, and a stop raises Stopped after it."""
        t = self.t_samples[i - 1] if self.t_resume is None else self.t_resume
        while True:
            self.y = self.advancer.advance(t, self.y, self.t_samples[i], interrupt)
            t = self.advancer.t_reached
            if t >= self.t_samples[i]:
                self.t_resume = None
                return
            self.t_resume = t
            self.write_checkpoint(control.path)
            if decision.pop():
                raise Stopped(control.path, self.system.temperature(t), control.reason)

    def _stats(self, wall0):
        stats = {"accepted": self.stepper.n_accepted, "rejected": self.stepper.n_rejected,
                 "wall_s": time.perf_counter() - wall0}
        if self.switching:
            stats.update(self.stepper.split_stats())
        krylov = getattr(self.stepper.system, "stats", None)
        if krylov is not None:
            stats.update(krylov_solves=krylov.solves, krylov_iterations=krylov.iterations,
                         krylov_failures=krylov.failures, krylov_estimate_misses=krylov.estimate_misses)
        if isinstance(self.advancer, Split):
            stats["split_steps"] = self.advancer.steps
            stats["split_rejected"] = self.advancer.splitting.rejected
            stats["diffusion_stages"] = self.advancer.splitting.stages_total
        return stats


def run(deck, schema, out_dir=None, write=True, progress=None, comm=None, restart=None,
        control=None, from_snapshot=None, overwrite=False) -> RunResult:
    """Integrate a deck (see Simulation); `restart` continues from a checkpoint file, exactly;
    `from_snapshot` starts from a snapshot's fields (Simulation.start_from_snapshot).

    The output folder is checked first (Simulation.claim_output): a folder holding another
    run's files is refused (runfolder.FolderError) unless `overwrite`."""
    if progress:
        deck = _with_progress(deck, progress)
    sim = Simulation(deck, schema, out_dir, write, comm=comm)
    if restart:
        sim.restore(restart)
    elif from_snapshot:
        sim.start_from_snapshot(from_snapshot)
    if write:
        sim.claim_output(overwrite, continuing=bool(restart), keep=[p for p in (restart, from_snapshot) if p])
    return sim.run(control)


def _with_progress(deck, mode):
    import dataclasses

    return dataclasses.replace(deck, output=dataclasses.replace(deck.output, progress=mode))


def count_sign_changes(lattice, system, y):
    """Number of neighbouring cell pairs (all axes) where L changes sign, over the global grid."""
    L = system.asymmetry(y)
    padded = lattice.fill_ghosts(np.broadcast_to(L, y.shape))  # every field slot holds L
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


def write_snapshot(writer, index, lattice, system, y, deck, schema, T, t, steps, hubble_length, level=0,
                   run_id=""):
    """One snapshot of the 8 fields and L; lengths in Hubble lengths at T_ref (comoving)."""
    data = np.concatenate([y, system.asymmetry(y)[None]])
    writer.write(index, data, {"T": float(T), "t": float(t), "step": int(steps), "doubling_level": int(level),
                               "dx": tuple(dx / hubble_length for dx in lattice.spacing),
                               "origin": (0.0,) * lattice.ndim, "deck": schema.to_yaml(deck),
                               "run_id": run_id})
