"""`qke bench batch`: many independent single sites in one compiled batch (lattice/batched_sites.py).

The sites spread over the parameter plane, log-spaced: |δm²| from 1e-2 to 1e3 eV² and sin²2θ
from 1e-12 to 1e-2 on a grid of about √N × √N points, the sign of δm² alternating like a
chessboard (both signs over the whole range), L0 and the tolerances from the deck (default
input/homogeneous_B.yaml). Each site runs as `qke run` runs its deck: from its own 2 T_res to
T_end = --window × T_res (default 1: the approach to its resonance), or to --T-end [MeV] for
all, sampled at output.samples log-spaced temperatures (--samples), first step
integrator.dt_initial × t_start, each with its own step-size control.

The batch runs once per thread count (--threads, default 1 and 2), after a warm-up that
compiles the loop (not timed). Printed per thread count: wall time of the compiled loop,
step attempts (accepted + rejected) over all sites, site-steps per second (attempts / wall) and
the cost per attempt (wall × threads / attempts, so equal figures mean perfect scaling); then
whether every thread count gave the same states bit for bit. With --singles K, K of the sites
(spread over the batch) also run one by one through the driver (`run(deck, write=False)`, the
Python sample loop around the same compiled step loop) and as a batch of K on one thread.

With --backend cupy the batch runs on the GPU instead (lattice/device_batch.py: numba.cuda, one
thread per site), the --sites sites --replicate R times over so that there are enough threads
to fill the device, after a warm-up that compiles the kernel (not timed); printed: the same
figures, and how the device's states compare with the host batch's (Numba threads: all) on the
--sites distinct sites: the largest difference relative to each site's largest |field| and the
sites whose step counts agree (they agree to the tolerance, not bit for bit: device libm, FMA).

--project-set SECTION.KEY=VALUE overrides every site's deck (e.g. integrator.method=rodas4, to
compare with the default auto: Rodas4 and DOPRI5 switching).

Measured, not asserted: the machine's load changes the figures (shared cores especially).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np


def _decks(args):
    """The N site decks and their schema, and a description of the spread."""
    from scripts.models import load_deck
    from physics.qke import MixingParameters

    n = args.sites
    n1 = max(1, int(round(math.sqrt(n))))
    n2 = -(-n // n1)
    dm2 = np.geomspace(1e-2, 1e3, n1)
    s2 = np.geomspace(1e-12, 1e-2, n2)
    path = args.deck or "input/homogeneous_B.yaml"
    common = ["output.progress=none", *getattr(args, "project_overrides", [])]
    if args.rtol:
        common.append(f"integrator.rtol={args.rtol!r}")
    if args.samples:
        common.append(f"output.samples={args.samples}")
    decks, schema = [], None
    for i in range(n1):
        for j in range(n2):
            if len(decks) == n:
                break
            d = float(dm2[i] if (i + j) % 2 else -dm2[i])
            T_res = MixingParameters(d, float(s2[j])).resonance_temperature()
            T_end = args.T_end if args.T_end else args.window * T_res
            if T_end >= 2 * T_res:
                raise ValueError(f"T_end = {T_end:.6g} MeV is not below the start 2 T_res = {2 * T_res:.6g} MeV "
                                 f"of the site δm² = {d:g} eV², sin²2θ = {s2[j]:g}")
            deck, schema = load_deck(path, common + [
                f"physics.delta_m2_eV2={d!r}", f"physics.sin2_2theta={float(s2[j])!r}",
                f"time.T_start_MeV={2 * T_res!r}", f"time.T_end_MeV={T_end!r}"])
            decks.append(deck)
    what = (f"{len(decks)} sites: |δm²| 1e-2..1e3 eV² ({n1} values) × sin²2θ 1e-12..1e-2 ({n2} values), "
            f"log-spaced, δm² signs alternating; deck {path} (L0 {decks[0].physics.L0:g}, rtol "
            f"{decks[0].integrator.rtol:g}); each from 2 T_res to "
            + (f"T = {args.T_end} MeV" if args.T_end else f"{args.window:g} T_res")
            + f", {decks[0].output.samples} samples")
    return decks, schema, what


def _line(label, batch, threads):
    a = int(batch.attempts.sum())
    acc = int(batch.accepted.sum())
    wall = batch.wall_s
    return (f"{label}: {wall:8.2f} s, {a:.4e} attempts ({acc:.4e} accepted, {a - acc:.3e} rejected), "
            f"{a / wall:.4e} site-steps/s, {1e6 * wall * threads / a:.3f} µs per attempt per thread")


def bench_batch(args, say):
    """Run the batch benchmark and print the figures; returns the exit status."""
    import numba

    from lattice.batched_sites import batch_of, simulations

    try:
        decks, schema, what = _decks(args)
    except ValueError as exc:
        say(f"qke bench batch: {exc}")
        return 2
    if getattr(args, "backend", "numpy") == "cupy":
        return _bench_gpu(args, decks, schema, what, say)
    threads = args.threads or [1, 2]
    most = numba.config.NUMBA_NUM_THREADS
    if max(threads) > most:
        say(f"qke bench batch: --threads {max(threads)}: Numba has {most} threads here (NUMBA_NUM_THREADS)")
        return 2
    say(what)
    say(f"CPU: {os.cpu_count()} cores visible, Numba {numba.__version__}, up to {most} threads")
    sims = simulations(decks, schema)
    wall0 = time.perf_counter()
    warm = batch_of(sims[:1])
    warm.n_samples[:] = 2                        # one short interval: compiles the loop
    warm.run()
    say(f"warm-up (compiles the batch loop, not timed): {time.perf_counter() - wall0:.1f} s")
    runs = {}
    for k in threads:
        batch = batch_of(sims)
        batch.run(threads=k)
        runs[k] = batch
        say(_line(f"{len(sims)} sites, {k} thread{'s' if k > 1 else ' '}", batch, k))
    first = runs[threads[0]]
    for k in threads[1:]:
        say(f"speed-up with {k} threads over {threads[0]}: {first.wall_s / runs[k].wall_s:.2f}×")
    same = all(np.array_equal(b.states, first.states, equal_nan=True) and np.array_equal(b.steps, first.steps)
               and np.array_equal(b.rejected, first.rejected) for b in runs.values())
    a = first.attempts
    say(f"every thread count gave the same states and step counts bit for bit: {'yes' if same else 'NO'}; "
        f"sites failed: {int((first.status != 0).sum())}; attempts per site {int(a.min())}..{int(a.max())} "
        f"(median {int(np.median(a))}; the costliest site is {100 * a.max() / a.sum():.1f} % of the total)")
    if args.singles:
        _singles(args.singles, decks, schema, sims, say)
    return 0 if same else 1


def _singles(k, decks, schema, sims, say):
    """K sites one by one through the driver, and the same K as a batch on one thread."""
    from lattice.batched_sites import batch_of
    from lattice.driver import run

    pick = sorted(set(np.linspace(0, len(decks) - 1, k).round().astype(int)))
    wall0 = time.perf_counter()
    attempts = 0
    for j in pick:
        st = run(decks[j], schema, write=False).stats
        attempts += st["accepted"] + st["rejected"]
    wall = time.perf_counter() - wall0
    batch = batch_of([sims[j] for j in pick]).run(threads=1)
    say(f"{len(pick)} of the sites one by one through the driver (qke run's loop): {wall:.2f} s, "
        f"{attempts / wall:.4e} site-steps/s, {1e6 * wall / attempts:.3f} µs per attempt (sampling included); "
        f"as one batch on 1 thread: {batch.wall_s:.2f} s, {1e6 * batch.wall_s / attempts:.3f} µs per attempt")


def _bench_gpu(args, decks, schema, what, say):
    """The batch on the GPU: timing, then agreement with the host batch on the distinct sites."""
    from lattice.batched_sites import batch_of, simulations
    from lattice.device_batch import cuda_or_none, gpu_name

    if cuda_or_none() is None:
        say("qke bench batch --backend cupy: no CUDA device answers (numba.cuda.is_available() is False)")
        return 2
    replicate = max(1, int(args.replicate))
    say(what + (f", each {replicate} times over" if replicate > 1 else ""))
    say(f"GPU: {gpu_name()}")
    sims = simulations(decks, schema)
    wall0 = time.perf_counter()
    warm = batch_of(sims[:1])
    warm.n_samples[:] = 2
    warm.run(gpu=True)
    say(f"warm-up (compiles the kernel, not timed): {time.perf_counter() - wall0:.1f} s")
    batch = batch_of(sims * replicate).run(gpu=True)
    say(_line(f"{len(batch)} sites on the GPU", batch, 1).replace(" per attempt per thread", " per attempt"))
    host = batch_of(sims).run()
    n = len(sims)
    scale = np.nanmax(np.abs(host.states), axis=(1, 2))
    worst = float(np.nanmax(np.nanmax(np.abs(host.states - batch.states[:n]), axis=(1, 2)) / scale))
    same = int(np.sum((host.attempts == batch.attempts[:n]) & (host.status == batch.status[:n])))
    say(f"against the host batch ({n} sites, {host.wall_s:.2f} s): largest state difference {worst:.2e} of the "
        f"site's largest |field|; {same} of {n} sites with the same step counts and status")
    return 0
