"""`qke bench lattice`: lattice step throughput, memory bandwidth, and the speed-up over MOL.

Throughput: for each shape (default a 1D 2^20-site and a 3D 128³ lattice) the point-B deck is
built on this communicator's ranks at T = 20 MeV with the spacing of the item-5 comparison
problem (0.05/H(18 MeV) per 64 cells along every axis, so the box grows with the cell count)
and a uniform L0. Every site starts on the relaxed pre-resonance state of a single-site run
from 24 MeV, so the local solver works as in a long run (one accepted sub-step per local
solve) rather than through a start-up transient; every kernel (RKL2 stages with halo
exchange, Jacobians, 8×8 inverses, Rodas stages) runs in full whatever the data. The number
of local attempts per step, the one data-dependent cost, is printed. `--steps` coupled steps of a fixed dt (`--dt-hubble`
Hubble times, the size the accuracy control takes there) are timed after one warm-up step. A site-update is one site advanced by one coupled step (two RKL2
diffusion steps, the predictor and the corrector local solves; lattice/splitting.py).

Bandwidth: a STREAM-like copy of a 512 MiB array in the same process (best of 5), counted as
read + write, all ranks copying at once. The fraction printed is the compulsory traffic (the 8 fields read once and
written once, 128 B per site-update) over that bandwidth: what an ideal fused kernel would
need. The NumPy implementation moves many times more; issue 6 accounts for it.

Method of lines (`--mol N ...`): the independent SciPy BDF solve of tests/reference_mol.py and
the project run the 64-cell comparison problem of tests/test_lattice_reference.py (24 → 22 MeV)
at each N; both are timed, their L(x) compared, the wall times fitted with t ∝ N^a, and the
speed-up printed at N = 1024 (measured for the project, extrapolated for MOL unless 1024 is
in the list).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from physics.models import load_deck

ROOT = Path(__file__).resolve().parents[1]
DECK = ROOT / "input" / "lattice_1d_laptop.yaml"
COMPULSORY_BYTES = 2 * 8 * 8  # 8 float64 fields, read once and written once


def stream_copy_bandwidth(nbytes=512 << 20, repeats=5):
    """Host memory bandwidth [bytes/s] from the best of `repeats` copies of nbytes."""
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.nbytes / best


L0_MEAN = 0.75e-10


def _deck(shape, T_start, T_end, extra=()):
    overrides = [f"grid.shape={list(shape)}", "seed.kind=sine", f"physics.L0={L0_MEAN}",
                 "seed.amplitude=0.25e-10", f"time.T_start_MeV={T_start}", f"time.T_end_MeV={T_end}",
                 "output.samples=2", "output.snapshots=0", "output.progress=none", *extra]
    return load_deck(DECK, overrides)


def lattice_throughput(shape, comm, steps, dt_hubble, T=20.0):
    """Site-updates per second of the coupled lattice step on `shape`; returns a dict."""
    from lattice.driver import Simulation

    deck, schema = _deck(shape, T, 0.5 * T, [f"grid.box_hubble={0.05 * shape[0] / 64}",
                                             "seed.amplitude=0"])
    sim = Simulation(deck, schema, write=False, comm=comm)
    sim.y = relaxed_state(T, sim.system.L0)
    coupling, stepper = sim.advancer.splitting, sim.stepper
    t = sim.system.cosmology.time(T)
    dt = dt_hubble / sim.system.cosmology.hubble(T)
    y, _ = coupling.step(t, sim.y, dt)  # warm-up
    y = sim.y if y is None else y
    comm.barrier()
    local0, stages0 = stepper.n_accepted + stepper.n_rejected, coupling.stages_total
    wall = time.perf_counter()
    for i in range(steps):
        y_new, _ = coupling.step(t + (i + 1) * dt, y, dt)
        y = y if y_new is None else y_new
    comm.barrier()
    wall = time.perf_counter() - wall
    sites = int(np.prod(shape))
    return {"sites": sites, "wall_s": wall, "updates_per_s": sites * steps / wall,
            "local_per_step": (stepper.n_accepted + stepper.n_rejected - local0) / steps,
            "stages_per_step": (coupling.stages_total - stages0) / steps}


def relaxed_state(T, L0, T_start=24.0):
    """Pre-resonance state at T [MeV] for a per-site background L0 (array): the single-site
    solution at L0_MEAN, with its P⁻ fields scaled by L0 / L0_MEAN (linear response)."""
    from lattice.driver import run
    from physics.qke import MINUS_FIELDS

    deck, schema = _deck((1,), T_start, T)
    y1 = run(deck, schema, write=False).state[:, 0]
    y = np.empty((len(y1),) + np.shape(L0))
    y[...] = y1.reshape((-1,) + (1,) * np.ndim(L0))
    for f in MINUS_FIELDS:
        y[f] = y1[f] * (L0 / L0_MEAN)
    return y


def _mol_module():
    sys.path.insert(0, str(ROOT / "tests"))
    import reference_mol

    return reference_mol


def mol_comparison(cells, say, mol_rtol, T_end=22.0):
    """Time project and SciPy BDF MOL on the item-5 problem for each N; print the speed-up."""
    from lattice.driver import run

    mol = _mol_module()
    rows = []
    for N in cells:
        deck, schema = _deck((N,), 24.0, T_end)
        r = run(deck, schema, write=False)
        L = mol.seed_sine(N, 0.75e-10, 0.25e-10) + 0.375 * (r.state[1] + r.state[7])
        ref = mol.solve_mol(N, 24.0, T_end, np.array([T_end]), rtol=mol_rtol,
                            L0_mean=0.75e-10, L0_amp=0.25e-10)
        L_ref = ref["L"][-1]
        diff = np.abs(L - L_ref).max() / np.abs(L_ref).max()
        rows.append((N, r.stats["wall_s"], ref["wall_s"], diff))
        say(f"N = {N:5d}: project {r.stats['wall_s']:8.2f} s, SciPy BDF MOL (rtol {mol_rtol:g}) "
            f"{ref['wall_s']:8.2f} s, speed-up {ref['wall_s'] / r.stats['wall_s']:6.1f}x, "
            f"max|L - L_MOL| / max|L_MOL| = {diff:.2e}")
    n = np.log([row[0] for row in rows])
    if len(rows) >= 2:
        a_p, b_p = np.polyfit(n, np.log([row[1] for row in rows]), 1)
        a_m, b_m = np.polyfit(n, np.log([row[2] for row in rows]), 1)
        t_p, t_m = math.exp(b_p + a_p * math.log(1024)), math.exp(b_m + a_m * math.log(1024))
        measured = {row[0]: row for row in rows}
        if 1024 in measured:
            t_p, t_m = measured[1024][1], measured[1024][2]
        say(f"wall time ∝ N^a: project a = {a_p:.2f}, MOL a = {a_m:.2f}; at N = 1024: project "
            f"{t_p:.1f} s, MOL {t_m:.1f} s -> speed-up {t_m / t_p:.1f}x")
    return rows


def bench_lattice(args, comm, say):
    """Print bandwidth, throughput per shape and (optionally) the MOL comparison."""
    comm.barrier()
    bw = comm.allreduce_sum(stream_copy_bandwidth())  # all ranks copy at once: the machine's figure
    say(f"ranks {comm.size}; STREAM-like copy bandwidth, all ranks at once: {bw / 1e9:.2f} GB/s")
    for text in args.shapes:
        shape = tuple(int(v) for v in text.lower().split("x"))
        r = lattice_throughput(shape, comm, args.steps, args.dt_hubble)
        achieved = r["updates_per_s"] * COMPULSORY_BYTES
        say(f"shape {'x'.join(map(str, shape)):>12} ({r['sites']:,} sites, dt·H = {args.dt_hubble:g}, "
            f"{args.steps} steps): {r['updates_per_s']:.3e} site-updates/s; "
            f"{r['local_per_step']:.1f} local attempts and {r['stages_per_step']:.0f} RKL2 stages "
            f"per step; compulsory traffic {COMPULSORY_BYTES} B/site-update -> "
            f"{achieved / 1e9:.3f} GB/s = {100 * achieved / bw:.2f} % of the copy bandwidth")
    if args.mol:
        if comm.size > 1:
            say("--mol runs on one rank only; skipped")
        else:
            mol_comparison(args.mol, say, args.mol_rtol)
    return 0
