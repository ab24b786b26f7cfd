"""N independent single sites in one compiled batch, each with its own step-size control.

Why (issue 19): a scan over parameters (δm², sin²2θ, L0) is N single-site runs. Run one by one,
each pays Python at every output sample; run with one shared step, a batch would change every
site's arithmetic (a chaotic site's result depends on its step sequence) and cost the union of
all sites' oscillation phases. Here every site keeps its own state, its own sample times, its
own step proposal and its own attempt counters, and a `numba.prange` over the sites calls, sample
interval after sample interval, the same compiled per-site loop that a single-site `qke run`
calls (lattice.compiled_rodas.make_site_integrator's `advance`), with the same arguments: the
interval's end points t_samples[i-1], t_samples[i], the step proposal carried from the previous
interval, the site's parameter vector and the same controller settings. So each site gets
exactly the arithmetic of its own single run: its states at the samples, its step counts and
its failure (if any) are bit for bit those of `qke run` of its deck, whatever the number of
sites, their order in the batch or the number of Numba threads (tests/lattice/test_batched_sites.py).

Two layers:

- `SiteBatch`: the compiled machinery, no physics. It takes a model's SiteKernels (the kernels,
  shared by all sites) and per-site arrays: the parameter vectors (N, P), the sample times
  (N, S) with the number of samples of each site (they may differ; unused entries are padding),
  the initial states (N, n), the first step proposals (N,) and the attempt limits (N,).
  `run(chunk_samples, report)` advances every site through its samples, storing at each sample
  the state and the accepted-step count (what the time series needs); with `chunk_samples` the
  batch runs that many sample indices at a time and calls `report` between chunks (progress),
  which does not change any site's arithmetic (every site's state and step proposal carry over).
  A site that fails (step below the floor, too many attempts in one interval, more than its
  max_steps attempts in all) stops at the last sample it reached; the others go on.
- `run_decks(decks, schema)`: N resolved single-site decks of one model -> one `BatchSiteResult`
  per deck, in the form `lattice.driver.run(deck, schema, write=False)` returns (T, t, series,
  fields, state, stats, summary). Every site is set up by the driver's own `Simulation` (its
  system, sample times, parameter vector, initial state, first step dt_initial·t_samples[0]),
  and its observables are computed from the stored states by the driver's own sampling code
  (`lattice.sampling.Samples.observe`), so they are the single run's, bitwise. Physics, time, integrator and
  output.samples may differ per deck; checkpoint settings and output.dir/progress are not used
  (nothing is written). Python runs only at the batch's boundaries.

This module imports nothing from physics/ (a model enters only through its SiteKernels, and
run_decks through lattice.driver, imported when called).

Scheduling: sites differ by orders of magnitude in cost (a site past its resonance takes far
more steps than one above it), so the prange is scheduled in chunks of one site
(numba.set_parallel_chunksize(1)): a thread takes the next site when it finishes one. Run in
chunks of samples, each chunk starts the sites that cost most in the previous chunk first
(longest first), so that no thread is left with one costly site at the end of a chunk; the
order changes no site's arithmetic.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from lattice.compiled_rodas import (OK, STEP_TOO_SMALL, TOO_MANY_ATTEMPTS, CompiledSiteStepper,
                                    SiteKernels, host_scratch, make_site_integrator_in)
from lattice.explicit_rk import PROBE_STEPS, SITE_COST_RATIO, SITE_EXPLICIT_MARGIN, initial_state
from lattice.outcome import RunResult
from lattice.rosenbrock import IntegrationError

MAX_STEPS_EXCEEDED = 3
"""Site status: more than max_steps attempts in all at a sample (the driver's run-wide check)."""
STATUS_NAMES = {OK: "ok", STEP_TOO_SMALL: "step too small", TOO_MANY_ATTEMPTS: "too many attempts",
                MAX_STEPS_EXCEEDED: "max_steps exceeded"}


@functools.cache
def make_site_samples(advance_with, n):
    """One site's run through its sample intervals, around a site loop of lattice.compiled_rodas
    with its work arrays given (n fields: make_site_integrator_in's on the host, make_site_loop's
    on a GPU), as a `register_jitable` function that the host batch (`make_batch_loop`) and the
    GPU batch (lattice.device_batch) both call.

    Returns site_samples(s, t_samples, n_samples, stop, y, h, params, params_explicit, constant,
    controls, auto, max_steps, next_sample, state, counts, memory, h_rho, status, t_stop, h_stop,
    first, states, steps, branches, explicit, h_rhos, mats, rows, piv): site s (status OK) is advanced
    from its sample next_sample[s] - 1 through its samples up to min(stop, n_samples[s]) - 1,
    with its own controls[s], auto[s], switching state[s], counters counts[s] and guard memory[s]
    (lattice.explicit_rk), in the work arrays mats, rows, piv; at each sample i reached,
    states[s, i - first] = y[s], steps[s, i - first] = its accepted steps, branches[s, i - first]
    = its branch, explicit[s, i - first] = its DOPRI5 steps and h_rhos[s, i - first] = h_rho[s]
    (the last h·ρ the loop returned): the per-sample arrays hold the samples from `first` on
    (the host batch passes them whole, first 0; the GPU batch a window per chunk). A failed interval sets status[s] (STEP_TOO_SMALL, TOO_MANY_ATTEMPTS), t_stop[s]
    and h_stop[s] as the loop returned them; more than max_steps[s] attempts in all after an
    interval sets MAX_STEPS_EXCEEDED; the site then stops, that sample not stored (as the driver
    raises before sampling it).
    """

    @register_jitable
    def site_samples(s, t_samples, n_samples, stop, y, h, params, params_explicit, constant, controls, auto,
                     max_steps, next_sample, state, counts, memory, h_rho, status, t_stop, h_stop, first, states,
                     steps, branches, explicit, h_rhos, mats, rows, piv):
        if status[s] != OK:
            return
        ys = y[s]
        c = counts[s]
        end = min(stop, n_samples[s])
        i = next_sample[s]
        while i < end:
            if i > 0:
                code, t_out, h_out, hr = advance_with(
                    t_samples[s, i - 1], t_samples[s, i], ys, h[s], params[s], params_explicit[s], constant,
                    controls[s], auto[s], state[s], c, memory[s], max_steps[s], mats, rows, piv)
                h[s] = h_out
                if hr == hr:
                    h_rho[s] = hr
                if code != OK:
                    status[s] = code
                    t_stop[s] = t_out
                    h_stop[s] = h_out
                    break
                if c[0] + c[1] + c[2] + c[3] > max_steps[s]:
                    status[s] = MAX_STEPS_EXCEEDED
                    t_stop[s] = t_out
                    break
            j = i - first
            for k in range(n):
                states[s, j, k] = ys[k]
            steps[s, j] = c[0] + c[2]
            branches[s, j] = state[s, 0]
            explicit[s, j] = c[2]
            h_rhos[s, j] = h_rho[s]
            i += 1
        next_sample[s] = i

    return site_samples


@functools.cache
def make_batch_loop(site_samples, n):
    """The compiled host batch loop around one site's `make_site_samples` (n fields).

    Returns loop(order, t_samples, n_samples, stop, y, h, params, params_explicit, constant,
    controls, auto, max_steps, next_sample, state, counts, memory, h_rho, status, t_stop, h_stop,
    states, steps, branches, explicit, h_rhos): every site runs `site_samples` with these
    arguments, in its own work arrays; the sites are started in the order `order` (a
    permutation; it changes no site's arithmetic).
    """

    # not cached on disk: Numba keys a closure's cache entry by its pickled cells, and a
    # dispatcher pickles with a per-process id (each process would add an entry); compiling
    # takes a few seconds once per process
    @njit(parallel=True, error_model="numpy")
    def loop(order, t_samples, n_samples, stop, y, h, params, params_explicit, constant, controls, auto,
             max_steps, next_sample, state, counts, memory, h_rho, status, t_stop, h_stop, states, steps, branches,
             explicit, h_rhos):
        old_chunk = numba.set_parallel_chunksize(1)     # threads take one site at a time
        for q in prange(order.shape[0]):
            mats, rows, piv = host_scratch(n)
            site_samples(order[q], t_samples, n_samples, stop, y, h, params, params_explicit, constant, controls,
                         auto, max_steps, next_sample, state, counts, memory, h_rho, status, t_stop, h_stop, 0,
                         states, steps, branches, explicit, h_rhos, mats, rows, piv)
        numba.set_parallel_chunksize(old_chunk)

    return loop


@dataclass
class BatchProgress:
    """What `SiteBatch.run` reports between chunks.

    Attributes:
        samples_done, samples_total: site-samples stored (failed sites count as done) and in all.
        sites_done, sites_failed, sites: sites finished (all samples or failed), failed, in all.
        attempts: step attempts (accepted + rejected) over the batch so far.
        wall_s: wall time in the compiled loop so far [s].
    """

    samples_done: int
    samples_total: int
    sites_done: int
    sites_failed: int
    sites: int
    attempts: int
    wall_s: float


class SiteBatch:
    """N independent sites advanced by one model's compiled per-site loop (Rodas4, DOPRI5 and the
    switching of lattice.explicit_rk, each site with its own switching state).

    Args:
        kernels: the model's SiteKernels (its kernels serve every site; its params are not used).
        params: (N, P) float64, each site's parameter vector.
        t_samples: sequence of N 1-D arrays, each site's sample times [MeV^-1] (increasing).
        y0: (N, n) initial states (at each site's t_samples[0]).
        h0: (N,) first step proposals.
        max_steps: (N,) or scalar: attempts per interval and in all before the site fails (the
            driver's integrator.max_steps, used both ways as a single run uses it).
        params_explicit: (N, P), each site's parameters of the explicit branch (default: params).
        methods: "auto", "rodas4" or "dopri5", one for all or one per site (default rodas4).
        probe_steps, explicit_margin: (N,) or scalar, as CompiledSiteStepper.
        safety, fac_min, fac_max, h_min_rel: the controller's settings (CompiledSiteStepper's).
    """

    def __init__(self, kernels: SiteKernels, params, t_samples, y0, h0, max_steps, params_explicit=None,
                 methods="rodas4", probe_steps=PROBE_STEPS, explicit_margin=SITE_EXPLICIT_MARGIN, safety=0.9,
                 fac_min=0.2, fac_max=6.0, h_min_rel=1e-14):
        self.kernels = kernels
        n = kernels.n_fields
        self.params = np.ascontiguousarray(params, dtype=np.float64)
        N = self.params.shape[0]
        self.params_explicit = np.ascontiguousarray(self.params if params_explicit is None else params_explicit,
                                                    dtype=np.float64)
        self.n_samples = np.array([len(ts) for ts in t_samples], dtype=np.int64)
        if len(self.n_samples) != N:
            raise ValueError(f"{len(self.n_samples)} sample-time arrays for {N} parameter vectors")
        self.t_samples = np.full((N, int(self.n_samples.max(initial=0))), np.nan)
        for s, ts in enumerate(t_samples):
            self.t_samples[s, :len(ts)] = ts
        self.y = np.array(y0, dtype=np.float64).reshape(N, n).copy()
        self.h = np.array(np.broadcast_to(np.asarray(h0, dtype=np.float64), (N,)))
        self.max_steps = np.array(np.broadcast_to(np.asarray(max_steps, dtype=np.int64), (N,)))
        self.constant = np.ascontiguousarray(kernels.constant_fields, dtype=np.int64)
        self.safety, self.fac_min, self.fac_max, self.h_min_rel = (float(safety), float(fac_min),
                                                                   float(fac_max), float(h_min_rel))
        methods = [methods] * N if isinstance(methods, str) else list(methods)
        self.state = np.stack([initial_state(m) for m in methods]) if N else np.zeros((0, 5), dtype=np.int64)
        """Each site's switching state (lattice.explicit_rk), (N, 5)."""
        self.auto = np.array([m == "auto" for m in methods], dtype=np.bool_)
        per_site = [np.broadcast_to(np.asarray(value, dtype=np.float64), (N,))
                    for value in (self.safety, self.fac_min, self.fac_max, self.h_min_rel, probe_steps, explicit_margin,
                                  SITE_COST_RATIO)]
        self.controls = np.ascontiguousarray(np.column_stack(per_site)).reshape(N, 7)
        self.counts = np.zeros((N, 5), dtype=np.int64)
        """Each site's counters: Rodas4 accepted, rejected, DOPRI5 accepted, rejected, switches."""
        self.memory = np.zeros((N, 2))
        """Each site's switching guard memory (lattice.explicit_rk.switch)."""
        self.h_rho = np.full(N, np.nan)
        self.next_sample = np.zeros(N, dtype=np.int64)
        self.status = np.full(N, OK, dtype=np.int64)
        self.t_stop = np.full(N, np.nan)
        self.h_stop = np.full(N, np.nan)
        S = self.t_samples.shape[1]
        self.states = np.full((N, S, n), np.nan)
        """states[s, i]: site s at its sample i (NaN where not reached)."""
        self.steps = np.zeros((N, S), dtype=np.int64)
        """steps[s, i]: accepted steps of site s up to its sample i."""
        self.branches = np.zeros((N, S), dtype=np.int64)
        """branches[s, i]: the branch site s's next step takes at its sample i."""
        self.explicit = np.zeros((N, S), dtype=np.int64)
        """explicit[s, i]: accepted DOPRI5 steps of site s up to its sample i."""
        self.h_rhos = np.full((N, S), np.nan)
        """h_rhos[s, i]: the site's h·ρ at its sample i (as CompiledSiteStepper.h_rho)."""
        self.wall_s = 0.0
        """Wall time spent in the compiled loop [s]."""
        advance_in = make_site_integrator_in(kernels.rhs, kernels.jac, kernels.dfdt, kernels.err, n)
        self._loop = make_batch_loop(make_site_samples(advance_in, n), n)

    @property
    def accepted(self):
        """Accepted steps of every site so far, (N,)."""
        return self.counts[:, 0] + self.counts[:, 2]

    @property
    def rejected(self):
        """Rejected attempts of every site so far, (N,)."""
        return self.counts[:, 1] + self.counts[:, 3]

    def __len__(self):
        return self.params.shape[0]

    @property
    def attempts(self):
        """Step attempts (accepted + rejected) of every site so far, (N,)."""
        return self.accepted + self.rejected

    def progress(self) -> BatchProgress:
        failed = self.status != OK
        done = failed | (self.next_sample >= self.n_samples)
        samples = np.where(failed, self.n_samples, self.next_sample)
        return BatchProgress(int(samples.sum()), int(self.n_samples.sum()), int(done.sum()), int(failed.sum()),
                             len(self), int(self.attempts.sum()), self.wall_s)

    def run(self, chunk_samples=None, report: Callable[[BatchProgress], None] | None = None, threads=None,
            gpu=False):
        """Advance every site through all its samples (or until it fails).

        Args:
            chunk_samples: run this many sample indices of every site per compiled call (None: all
                in one call); between calls `report` gets a BatchProgress.
            report: callable(BatchProgress), called after every chunk.
            threads: Numba threads for the batch (None: numba.get_num_threads()); restored after.
            gpu: run on the GPU, one CUDA thread per site (lattice.device_batch: the same loop,
                agreeing with the host run to the integration tolerance, not bit for bit).
        """
        total = self.t_samples.shape[1]
        chunk = total if not chunk_samples else max(1, int(chunk_samples))
        if gpu:
            from lattice.device_batch import run_on_device
            return run_on_device(self, chunk, report)
        order = np.arange(len(self), dtype=np.int64)
        old = numba.get_num_threads()
        if threads:
            numba.set_num_threads(int(threads))
        try:
            stop = int(self.next_sample.min(initial=total))
            while stop < total:
                stop = min(total, stop + chunk)
                before = self.attempts
                wall0 = time.perf_counter()
                self._loop(order, self.t_samples, self.n_samples, stop, self.y, self.h, self.params,
                           self.params_explicit, self.constant, self.controls, self.auto, self.max_steps,
                           self.next_sample, self.state, self.counts, self.memory, self.h_rho, self.status,
                           self.t_stop,
                           self.h_stop, self.states, self.steps, self.branches, self.explicit, self.h_rhos)
                self.wall_s += time.perf_counter() - wall0
                # the next chunk starts the sites that cost most in this one first (they are
                # likely to cost most again), so that no thread is left with a costly site at the end
                order = np.argsort(before - self.attempts, kind="stable").astype(np.int64)
                if report is not None:
                    report(self.progress())
        finally:
            numba.set_num_threads(old)
        return self

    def error(self, s, T_of=None) -> Exception | None:
        """The exception a single run of site s would have raised, or None if it has not failed.

        T_of: callable(i) -> T [MeV] of sample i, for the max_steps message (the driver's).
        """
        code = int(self.status[s])
        if code == OK:
            return None
        t = float(self.t_stop[s])
        if code == STEP_TOO_SMALL:
            return IntegrationError(f"step size {self.h_stop[s]:.3e} fell below {self.h_min_rel * abs(t):.3e} "
                                    f"at t = {t:.6e}")
        i = int(self.next_sample[s])
        if code == TOO_MANY_ATTEMPTS:
            return IntegrationError(f"{int(self.max_steps[s])} step attempts made before reaching t = "
                                    f"{self.t_samples[s, i]:.6e} (at t = {t:.6e})")
        where = f"T = {T_of(i):.6g} MeV" if T_of is not None else f"t = {self.t_samples[s, i]:.6e}"
        return RuntimeError(f"integrator.max_steps = {int(self.max_steps[s])} exceeded at {where}")


# -- decks in, RunResults out ----------------------------------------------------------------------
@dataclass
class BatchSiteResult(RunResult):
    """One site's result: a lattice.driver.RunResult (series and fields NaN after the last sample
    reached by a failed site; summary empty for a failed site; stats hold accepted, rejected,
    wall_s (this site's share of the batch's loop time, in proportion to its attempts: per-site
    times are not measured), batch_wall_s and batch_sites), and what the batch adds:

    Attributes:
        steps: accepted steps at each sample (the time series' steps column).
        error: None, or the exception the single run would have raised (the site stopped there).
    """

    steps: np.ndarray = None
    error: Exception | None = None


def simulations(decks, schema):
    """One driver Simulation per deck (write=False), checked to be single sites of one model
    stepped by the same compiled kernels and controller; raises ValueError otherwise."""
    from lattice.advancers import LocalOnly
    from lattice.driver import Simulation

    schemas = schema if isinstance(schema, (list, tuple)) else [schema] * len(decks)
    sims = [Simulation(deck, sch, write=False) for deck, sch in zip(decks, schemas)]
    if not sims:
        raise ValueError("no decks to run")
    first = sims[0].stepper
    for j, sim in enumerate(sims):
        st = sim.stepper
        compiled = isinstance(st, CompiledSiteStepper) and isinstance(sim.advancer, LocalOnly)
        if sim.lattice is not None or not compiled:
            raise ValueError(f"deck {j} ({sim.deck.source}): not a single site with compiled per-site kernels "
                             f"(model {sim.deck.model!r}); a batch takes single-site decks of a model that "
                             f"offers them")
        k, k0 = st.kernels, first.kernels
        same = ((k.rhs, k.jac, k.dfdt, k.err, k.n_fields) == (k0.rhs, k0.jac, k0.dfdt, k0.err, k0.n_fields)
                and np.array_equal(k.constant_fields, k0.constant_fields)
                and (st.safety, st.fac_min, st.fac_max, st.h_min_rel)
                == (first.safety, first.fac_min, first.fac_max, first.h_min_rel))
        if not same or sim.deck.model != sims[0].deck.model:
            raise ValueError(f"deck {j} ({sim.deck.source}): another model, kernels or controller than deck 0; "
                             f"a batch takes decks of one model")
    return sims


def batch_of(sims) -> SiteBatch:
    """The SiteBatch of these Simulations: each site as its single run starts."""
    st = sims[0].stepper
    return SiteBatch(st.kernels, np.stack([sim.stepper.kernels.params for sim in sims]),
                     [sim.samples.t for sim in sims],
                     np.stack([np.asarray(sim.y, dtype=np.float64).reshape(-1) for sim in sims]),
                     np.array([sim.advancer.h for sim in sims], dtype=np.float64),
                     np.array([sim.deck.integrator.max_steps for sim in sims], dtype=np.int64),
                     np.stack([sim.stepper.params_explicit for sim in sims]),
                     [sim.stepper.method for sim in sims],
                     np.array([sim.stepper.probe_steps for sim in sims]),
                     np.array([sim.stepper.explicit_margin for sim in sims]),
                     st.safety, st.fac_min, st.fac_max, st.h_min_rel)


def collect(batch: SiteBatch, sims) -> list:
    """Per-site BatchSiteResults from a finished batch: observables by the driver's sampling code
    from the stored states and step counts, summaries by the model's."""
    total_attempts = max(1, int(batch.attempts.sum()))
    out = []
    for s, sim in enumerate(sims):
        shape = np.shape(sim.y)
        st = sim.stepper
        for i in range(int(batch.next_sample[s])):
            sim.y = batch.states[s, i].reshape(shape)
            st.state[0], st.counts[2], st.h_rho = batch.branches[s, i], batch.explicit[s, i], batch.h_rhos[s, i]
            st.n_accepted = int(batch.steps[s, i])
            sim.samples.observe(i, sim.system, sim.y, sim.comm, None, st.n_accepted, sim.advancer.observe())
        sim.samples.next = int(batch.next_sample[s])
        st.state[:], st.counts[:], st.memory[:] = batch.state[s], batch.counts[s], batch.memory[s]
        st.h_rho = float(batch.h_rho[s])
        sim.y = batch.y[s].reshape(shape).copy()
        stats = {"accepted": sim.stepper.n_accepted, "rejected": sim.stepper.n_rejected,
                 "wall_s": batch.wall_s * int(batch.attempts[s]) / total_attempts,
                 "batch_wall_s": batch.wall_s, "batch_sites": len(batch), **st.split_stats()}
        error = batch.error(s, lambda i, sim=sim: sim.samples.T[i])
        smp = sim.samples
        result = BatchSiteResult(smp.T, smp.t, smp.series, smp.fields, sim.y, stats, {}, smp.steps.astype(np.int64),
                                 error)
        if error is None:
            result.summary = sim.spec.summarise(result, sim.deck)
        out.append(result)
    return out


def run_decks(decks, schema, chunk_samples=None, report=None, threads=None, gpu=False) -> list:
    """Run N single-site decks as one batch; one BatchSiteResult per deck, in order.

    Each site's series, fields, state and accepted/rejected counts are those of
    `lattice.driver.run(deck, schema, write=False)`, bit for bit; a site whose single run
    would fail carries that error (`result.error`) and the samples it reached; the others
    are not affected.

    Args:
        decks: validated decks of one model, single site each (physics, time, integrator and
            output.samples may differ).
        schema: their schema, or one per deck.
        chunk_samples, report, threads, gpu: see SiteBatch.run (on the GPU the results agree with
            the single runs to the integration tolerance, not bit for bit).
    """
    sims = simulations(list(decks), schema)
    batch = batch_of(sims)
    batch.run(chunk_samples, report, threads, gpu)
    return collect(batch, sims)
