"""The run driver: integrate a model from T_start to T_end, sample, report, write.

The same driver runs every model; a single site (the homogeneous QKE) is the lattice of
shape (1,). Time is cosmic time t [MeV^-1]; samples are log-spaced in T [MeV].
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lattice.progress import Progress
from lattice.rosenbrock import Rodas4
from lattice.timeseries import VERSION, TimeseriesWriter
from physics import analysis
from physics.models import build_local_system


@dataclass
class RunResult:
    """What a run produced: sampled series, final state, integrator statistics, summary."""

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


def run(deck, schema, out_dir=None, write=True, progress=None) -> RunResult:
    """Integrate the deck's model and (if write) store DIR/timeseries.h5.

    Args:
        deck, schema: a validated deck and its schema (for the resolved text).
        out_dir: output directory (default from the deck).
        write: False keeps everything in memory (tests, benchmarks).
        progress: progress mode overriding output.progress.
    """
    system = build_local_system(deck)
    y = system.initial_state((1,))
    T_samples = np.geomspace(deck.time.T_start_MeV, deck.time.T_end_MeV, deck.output.samples)
    t_samples = system.cosmology.time(T_samples)
    integ = deck.integrator
    stepper = Rodas4(system, system.error_norm(integ.rtol, integ.atol_plus, integ.atol_minus))
    units = system.observable_units
    series = {name: np.empty(len(T_samples)) for name in units}
    fields = np.empty((system.n_fields, len(T_samples)))
    steps = np.empty(len(T_samples))

    writer = None
    if write:
        out = Path(out_dir) if out_dir is not None else default_output_dir(deck)
        out.mkdir(parents=True, exist_ok=True)
        writer = TimeseriesWriter(out / "timeseries.h5", units, system.field_names,
                                  attrs={"deck": schema.to_yaml(deck), "model": deck.model,
                                         "title": deck.title})
    bar = Progress(deck.time.T_start_MeV, deck.time.T_end_MeV, progress or deck.output.progress,
                   deck.output.log_interval_s)
    wall0 = time.perf_counter()
    h = integ.dt_initial * t_samples[0]
    t = t_samples[0]
    try:
        for i, t_target in enumerate(t_samples):
            if i:
                y, h = stepper.advance(t, y, t_target, h)
                t = t_target
                if stepper.n_accepted + stepper.n_rejected > integ.max_steps:
                    raise RuntimeError(f"integrator.max_steps = {integ.max_steps} exceeded at "
                                       f"T = {T_samples[i]:.6g} MeV")
            obs = system.observables(y)
            for name, value in obs.items():
                series[name][i] = value
            fields[:, i] = y[:, 0]
            steps[i] = stepper.n_accepted
            if writer:
                writer.append({"T": T_samples[i], "t": t, **obs, "steps": steps[i]}, y[:, 0])
            bar.update(T_samples[i], f"L = {obs['L']:+.4e}  steps {stepper.n_accepted}")
    finally:
        bar.close()
        wall = time.perf_counter() - wall0
        stats = {"accepted": stepper.n_accepted, "rejected": stepper.n_rejected, "wall_s": wall}
        summary = dict(stats)
        if writer:
            writer.close(summary)
    result = RunResult(T_samples, t_samples, series, fields, y, stats)
    result.summary = analysis.summarise(result, deck)
    if write:
        with_summary(out / "timeseries.h5", result.summary)
    return result


def with_summary(path, summary):
    """Store the closing summary as attributes of an existing timeseries file."""
    import h5py

    with h5py.File(path, "a") as f:
        for key, value in summary.items():
            f.attrs[f"summary_{key}"] = np.nan if value is None else value
