"""The run driver: integrate a model from T_start to T_end, sample, report, write.

The same driver runs a single site (the homogeneous QKE: the local stepper alone) and a
decomposed lattice (Strang splitting of the local stepper and RKL2 diffusion). Time is
cosmic time t [MeV^-1]; samples are log-spaced in T [MeV]. Every decision that affects the
solution (step sizes, accept/reject) is a global reduction, so results do not depend on the
number of ranks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lattice.parallel import SerialComm
from lattice.progress import Progress
from lattice.rosenbrock import Rodas4
from lattice.splitting import StrangSplitting
from lattice.timeseries import TimeseriesWriter
from physics import analysis
from physics.models import build_lattice, build_local_system, is_single_site


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

    def advance(self, t, y, t_end):
        y, self.h = self.stepper.advance(t, y, t_end, self.h)
        return y


class Split:
    """Advance a lattice by Strang steps; dt from the local accuracy control, capped."""

    def __init__(self, splitting, dt, dt_cap):
        self.splitting, self.dt, self.dt_cap = splitting, dt, dt_cap
        self.steps = 0

    def advance(self, t, y, t_end):
        while t < t_end:
            dt = min(self.dt, self.dt_cap(t))
            last = t + dt >= t_end
            dt = t_end - t if last else dt
            y = self.splitting.step(t, y, dt)
            self.steps += 1
            t = t_end if last else t + dt
            proposal = self.splitting.proposed_dt()
            if not last:
                self.dt = min(proposal, 2.0 * dt)
        return y


def run(deck, schema, out_dir=None, write=True, progress=None, comm=None) -> RunResult:
    """Integrate the deck's model and (if write) store DIR/timeseries.h5 and snapshots.

    Args:
        deck, schema: a validated deck and its schema (for the resolved text).
        out_dir: output directory (default from the deck).
        write: False keeps everything in memory (tests, benchmarks).
        progress: progress mode overriding output.progress.
        comm: lattice.parallel communicator (default: one rank).
    """
    comm = comm or SerialComm()
    integ = deck.integrator
    if is_single_site(deck):
        lattice, system = None, build_local_system(deck)
        y = system.initial_state((1,))
    else:
        setup = build_lattice(deck, comm)
        lattice, system = setup.lattice, setup.system
        y = system.initial_state(lattice.local_shape)
    T_samples = np.geomspace(deck.time.T_start_MeV, deck.time.T_end_MeV, deck.output.samples)
    t_samples = system.cosmology.time(T_samples)
    stepper = Rodas4(system, system.error_norm(integ.rtol, integ.atol_plus, integ.atol_minus),
                     reduce_max=comm.allreduce_max)
    dt0 = integ.dt_initial * t_samples[0]
    if lattice is None:
        advancer = LocalOnly(stepper, dt0)
    else:
        diffusion = setup.diffusion
        splitting = StrangSplitting(
            stepper,
            lambda v, t: diffusion.tendency(lattice.laplacian(v), system.temperature(t)),
            lambda t: lattice.explicit_limit(diffusion.max_rate_coefficient(system.temperature(t))))
        advancer = Split(splitting, dt0, lambda t: integ.max_dt_hubble / system.cosmology.hubble(
            system.temperature(t)))

    units = dict(system.observable_units, sign_changes="count")
    series = {name: np.empty(len(T_samples)) for name in units}
    fields = np.empty((system.n_fields, len(T_samples))) if lattice is None else None
    writer = snapshots = None
    snapshot_at = set()
    if write:
        out = Path(out_dir) if out_dir is not None else default_output_dir(deck)
        if comm.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            writer = TimeseriesWriter(out / "timeseries.h5", units,
                                      system.field_names if lattice is None else (),
                                      attrs={"deck": schema.to_yaml(deck), "model": deck.model,
                                             "title": deck.title})
        comm.barrier()
        if lattice is not None and deck.output.snapshots:
            from lattice.snapshots import SnapshotWriter

            snapshots = SnapshotWriter(out, lattice.partition, comm, system.field_names + ("L",))
            snapshot_at = set(np.round(np.linspace(0, len(T_samples) - 1, deck.output.snapshots)).astype(int))
    bar = Progress(deck.time.T_start_MeV, deck.time.T_end_MeV, progress or deck.output.progress,
                   deck.output.log_interval_s, enabled=comm.rank == 0)
    wall0 = time.perf_counter()
    t = t_samples[0]
    try:
        for i, t_target in enumerate(t_samples):
            if i:
                y = advancer.advance(t, y, t_target)
                t = t_target
                if stepper.n_accepted + stepper.n_rejected > integ.max_steps:
                    raise RuntimeError(f"integrator.max_steps = {integ.max_steps} exceeded at "
                                       f"T = {T_samples[i]:.6g} MeV")
            obs = system.observables_from_sums(comm.allreduce_sum(system.observable_sums(y)))
            obs["sign_changes"] = 0 if lattice is None else count_sign_changes(lattice, system, y)
            for name, value in obs.items():
                series[name][i] = value
            if fields is not None:
                fields[:, i] = y[:, 0]
            if writer:
                writer.append({"T": T_samples[i], "t": t, **obs, "steps": stepper.n_accepted},
                              None if fields is None else y[:, 0])
            if snapshots and i in snapshot_at:
                write_snapshot(snapshots, sorted(snapshot_at).index(i), lattice, system, y, deck,
                               schema, T_samples[i], t, stepper.n_accepted, setup.hubble_length)
            bar.update(T_samples[i], f"<L> = {obs['L']:+.4e}  steps {stepper.n_accepted}")
    finally:
        bar.close()
        wall = time.perf_counter() - wall0
        stats = {"accepted": stepper.n_accepted, "rejected": stepper.n_rejected, "wall_s": wall}
        if lattice is not None:
            stats["split_steps"] = advancer.steps
            stats["diffusion_stages"] = advancer.splitting.stages_total
        if writer:
            writer.close(stats)
    result = RunResult(T_samples, t_samples, series, fields, y, stats)
    result.summary = analysis.summarise(result, deck)
    if writer:
        with_summary(out / "timeseries.h5", result.summary)
    return result


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


def write_snapshot(writer, index, lattice, system, y, deck, schema, T, t, steps, hubble_length):
    """One snapshot of the 8 fields and L; lengths in Hubble lengths at T_ref (comoving)."""
    data = np.concatenate([y, system.asymmetry(y)[None]])
    writer.write(index, data, {"T": float(T), "t": float(t), "step": int(steps), "doubling_level": 0,
                               "dx": tuple(dx / hubble_length for dx in lattice.spacing),
                               "origin": (0.0,) * lattice.ndim, "deck": schema.to_yaml(deck)})


def with_summary(path, summary):
    """Store the closing summary as attributes of an existing timeseries file."""
    import h5py

    with h5py.File(path, "a") as f:
        for key, value in summary.items():
            f.attrs[f"summary_{key}"] = np.nan if value is None else value
