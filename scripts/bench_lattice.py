"""`qke bench lattice`: lattice step throughput, memory traffic, and the speed-up over MOL.

Throughput: for each shape (default a 1D 2^20-site and a 3D 128³ lattice) the point-B deck is
built on this communicator's ranks at T = 20 MeV with the spacing of the item-5 comparison
problem (0.05/H(18 MeV) per 64 cells along every axis, so the box grows with the cell count)
and a uniform L0. Every site starts on the relaxed pre-resonance state of a single-site run
from 24 MeV, as in a long run past its start-up transient. `--steps` implicit steps
(lattice/implicit.py: Rodas4 with the diffusion in its stages, GMRES stage solves), or with
`--method dopri5` explicit DOPRI5 steps (lattice/dopri5.py), of a fixed dt (`--dt-hubble`
Hubble times; 1e-3 is the size the accuracy control takes for Rodas4 there, DOPRI5 needs one
its stability allows) are timed after one warm-up step. A site-update is one site advanced by
one step. Printed per shape: site-updates per second, GMRES iterations per stage solve (the one
data-dependent cost of Rodas4) and the error norm of the timed steps (≤ 1: the step meets the
deck's tolerance).

Bandwidth: a STREAM-like copy of a 512 MiB array in the same process (best of 5), counted as
read + write, all ranks copying at once. Two traffic figures are set against it:
- compulsory: the 8 fields read once and written once, 128 B per site-update (an ideal fused
  kernel);
- implementation: the bytes the NumPy code actually moves per site-update, counted by running
  one step on a sample lattice of the same dimensionality (4096 sites) with every array a
  scripts.traffic.CountingArray (each ufunc call's operands and results; no cache reuse).
The percentages are (site-updates/s × bytes per site-update) / copy bandwidth.

Method of lines (`--mol N ...`): the independent SciPy BDF solve of tests/reference_mol.py and
the project run the 64-cell comparison problem of tests/physics/test_lattice_reference.py (24 → 22 MeV)
at each N; both are timed, their L(x) compared, the wall times fitted with t ∝ N^a, and the
speed-up printed at N = 1024 (measured for the project, extrapolated for MOL unless 1024 is
in the list).

Work-precision (`--mol N ... --rtols R ... --mol-rtols R ...`): at each N a tight MOL solve
(rtol `--ref-rtol`) is the reference; the project at each of `--rtols` and the MOL at each of
`--mol-rtols` are timed and their error max|L − L_ref| / max|L_ref| at 22 MeV measured. The
speed-up at an error E (1e-2, the item-5 criterion; 1e-4; 1e-6) is the wall time of the MOL's
cheapest run with error ≤ E over that of the project's cheapest run with error ≤ E.
`--project-set KEY=VALUE` passes deck overrides to the project runs of both MOL modes (e.g.
integrator.stage_solver=direct).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from scripts.models import load_deck

ROOT = Path(__file__).resolve().parents[1]
DECK = ROOT / "input" / "lattice_1d_laptop.yaml"
COMPULSORY_BYTES = 2 * 8 * 8  # 8 float64 fields, read once and written once


L0_MEAN = 0.75e-10
L0_AMP = 0.25e-10


def _deck(shape, T_start, T_end, extra=()):
    overrides = [f"grid.shape={list(shape)}", "seed.kind=sine", f"physics.L0={L0_MEAN}",
                 f"seed.amplitude={L0_AMP}", f"time.T_start_MeV={T_start}", f"time.T_end_MeV={T_end}",
                 "output.samples=2", "output.snapshots=0", "output.progress=none", *extra]
    return load_deck(DECK, overrides)


def _implicit_steps(shape, comm, dt_hubble, T, xp=np, method="rodas4"):
    """(stepper, t, dt, relaxed state) for fixed steps of `method` (rodas4: implicit, GMRES
    stages; dopri5: explicit) on `shape` at T [MeV], with the fields in xp arrays (numpy, or
    cupy on a GPU)."""
    from kernels.backend import to_host
    from lattice.driver import Simulation

    deck, schema = _deck(shape, T, 0.5 * T, [f"grid.box_hubble={0.05 * shape[0] / 64}",
                                             "seed.amplitude=0", "integrator.coupling=implicit",
                                             f"integrator.method={method}"])
    sim = Simulation(deck, schema, write=False, comm=comm, xp=xp)
    cosmology = sim.system.cosmology
    y = xp.asarray(relaxed_state(T, to_host(sim.system.L0)))
    return sim.stepper, cosmology.time(T), dt_hubble / cosmology.hubble(T), y


class _Stopwatch:
    """Wraps a function and adds up the wall time spent in it [s]."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def lattice_throughput(shape, comm, steps, dt_hubble, T=20.0, xp=np, method="rodas4"):
    """Site-updates per second of the lattice step (`method`) on `shape`; returns a dict (with
    `halo_share`: the largest fraction over ranks of the step time spent in halo exchanges)."""
    stepper, t, dt, y = _implicit_steps(shape, comm, dt_hubble, T, xp, method)
    krylov = stepper.system.stats
    exchanger = stepper.system.lattice.exchanger
    exchanger.exchange = halo = _Stopwatch(exchanger.exchange)
    y, _ = stepper.replay(t, y, [dt])  # warm-up
    comm.barrier()
    solves, iterations = krylov.solves, krylov.iterations
    halo.seconds = 0.0
    wall = time.perf_counter()
    y, error = stepper.replay(t + dt, y, [dt] * steps)
    comm.barrier()
    wall = time.perf_counter() - wall
    sites = int(np.prod(shape))
    return {"sites": sites, "wall_s": wall, "updates_per_s": sites * steps / wall, "error_norm": error,
            "halo_share": comm.allreduce_max(halo.seconds / wall),
            "iterations_per_solve": (krylov.iterations - iterations) / max(krylov.solves - solves, 1)}


def implementation_bytes(ndim, dt_hubble, T=20.0, sites=4096, method="rodas4"):
    """Bytes per site-update the NumPy step moves, counted on a one-rank sample lattice of `ndim`
    axes and about `sites` cells; returns (bytes, GMRES iterations per solve in the sample)."""
    from lattice.parallel import SerialComm
    from scripts.traffic import bytes_moved

    side = round(sites ** (1.0 / ndim))
    shape = (side,) * ndim
    stepper, t, dt, y = _implicit_steps(shape, SerialComm(), dt_hubble, T, method=method)
    y, _ = stepper.replay(t, y, [dt])
    krylov = stepper.system.stats
    solves, iterations = krylov.solves, krylov.iterations
    _, moved = bytes_moved(lambda v: stepper.replay(t + dt, v, [dt]), y)
    return moved / side ** ndim, (krylov.iterations - iterations) / max(krylov.solves - solves, 1)


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
    """tests/reference_mol.py (and the reference_qke it imports), loaded from their files: they
    import nothing of the project, and the process's import path is left alone."""
    import importlib.util

    for name in ("reference_qke", "reference_mol"):
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    return sys.modules["reference_mol"]


def _project_L(N, T_end, extra=()):
    """(L at T_end on N cells, wall seconds, run stats) for the project on the item-5 problem."""
    from lattice.driver import run

    deck, schema = _deck((N,), 24.0, T_end, extra)
    r = run(deck, schema, write=False)
    L = _mol_module().seed_sine(N, L0_MEAN, L0_AMP) + 0.375 * (r.state[1] + r.state[7])
    return L, r.stats["wall_s"], r.stats


def _mol_L(N, T_end, rtol):
    """(L at T_end, wall seconds, LU factorisations) for the SciPy MOL solve."""
    ref = _mol_module().solve_mol(N, 24.0, T_end, np.array([T_end]), rtol=rtol,
                                  L0_mean=L0_MEAN, L0_amp=L0_AMP)
    return ref["L"][-1], ref["wall_s"], ref["nlu"]


def _relative_error(L, L_ref):
    return float(np.abs(L - L_ref).max() / np.abs(L_ref).max())


def work_precision(cells, say, rtols, mol_rtols, ref_rtol, targets=(1e-2, 1e-4, 1e-6), T_end=22.0,
                   project_overrides=()):
    """Error against a tight MOL reference vs wall time for the project and the MOL at several
    rtols; the speed-up at each target error E is the MOL's cheapest run with error ≤ E over the
    project's cheapest run with error ≤ E."""
    table = {}
    for N in cells:
        L_ref, wall_ref, _ = _mol_L(N, T_end, ref_rtol)
        say(f"N = {N}: reference SciPy BDF MOL at rtol {ref_rtol:g}: {wall_ref:.1f} s")
        points = {"MOL": [], "project": []}
        for rtol in mol_rtols:
            L, wall, nlu = _mol_L(N, T_end, rtol)
            points["MOL"].append((_relative_error(L, L_ref), wall))
            say(f"  MOL     rtol {rtol:7.1e}: {wall:8.2f} s, error {points['MOL'][-1][0]:.2e} ({nlu} LU factorisations)")
        for rtol in rtols:
            L, wall, stats = _project_L(N, T_end, [f"integrator.rtol={rtol}", *project_overrides])
            points["project"].append((_relative_error(L, L_ref), wall))
            its = stats.get("krylov_iterations", 0) / max(stats.get("krylov_solves", 0), 1)
            say(f"  project rtol {rtol:7.1e}: {wall:8.2f} s, error {points['project'][-1][0]:.2e} "
                f"({stats['accepted']} steps, {stats['rejected']} rejected, {its:.1f} GMRES it/solve)")
        for E in targets:
            best = {who: min((w for e, w in pts if e <= E), default=None) for who, pts in points.items()}
            if None in best.values():
                missing = [who for who, w in best.items() if w is None]
                say(f"  error <= {E:g}: no {' or '.join(missing)} run reaches it")
            else:
                say(f"  error <= {E:g}: project {best['project']:.1f} s, MOL {best['MOL']:.1f} s (cheapest "
                    f"run of each that reaches it) -> speed-up {best['MOL'] / best['project']:.1f}x")
            table[N, E] = best
    return table


def mol_comparison(cells, say, mol_rtol, T_end=22.0, project_overrides=()):
    """Time project and SciPy BDF MOL on the item-5 problem for each N; print the speed-up."""
    rows = []
    for N in cells:
        L, wall, _ = _project_L(N, T_end, project_overrides)
        L_ref, wall_mol, _ = _mol_L(N, T_end, mol_rtol)
        diff = _relative_error(L, L_ref)
        rows.append((N, wall, wall_mol, diff))
        say(f"N = {N:5d}: project {wall:8.2f} s, SciPy BDF MOL (rtol {mol_rtol:g}) "
            f"{wall_mol:8.2f} s, speed-up {wall_mol / wall:6.1f}x, "
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
    from kernels.backend import array_module
    from scripts.bench_kernels import copy_bandwidth

    try:
        xp = array_module(getattr(args, "backend", "numpy"))
    except ValueError as exc:
        print(f"qke bench lattice: error: {exc}", file=sys.stderr)
        return 2
    comm.barrier()
    bw = comm.allreduce_sum(copy_bandwidth(xp, 512 << 20))  # all ranks copy at once: the machine's figure
    if xp is np:
        say(f"ranks {comm.size}; STREAM-like copy bandwidth, all ranks at once: {bw / 1e9:.2f} GB/s")
    else:
        say(f"ranks {comm.size}, CuPy; device copy bandwidth, all ranks: {bw / 1e9:.1f} GB/s")
    for text in args.shapes:
        shape = tuple(int(v) for v in text.lower().split("x"))
        method = getattr(args, "method", "rodas4")
        r = lattice_throughput(shape, comm, args.steps, args.dt_hubble, xp=xp, method=method)
        moved, sample_its = implementation_bytes(len(shape), args.dt_hubble, method=method)
        rate = r["updates_per_s"]
        solves = (f"GMRES {r['iterations_per_solve']:.1f} iterations per stage solve, " if method == "rodas4"
                  else "")
        say(f"shape {'x'.join(map(str, shape)):>12} ({r['sites']:,} sites, {method}, dt·H = {args.dt_hubble:g}, "
            f"{args.steps} steps): {rate:.3e} site-updates/s; {solves}step error norm {r['error_norm']:.2f}, "
            f"halo exchange {100 * r['halo_share']:.1f} % of the step time")
        sample = f", {sample_its:.1f} GMRES it/solve" if method == "rodas4" else ""
        say(f"  traffic per site-update: compulsory {COMPULSORY_BYTES} B -> "
            f"{100 * rate * COMPULSORY_BYTES / bw:.3f} % of the copy bandwidth; implementation "
            f"{moved / 1e3:.1f} kB (counted on a {len(shape)}D sample{sample}) -> "
            f"{rate * moved / 1e9:.2f} GB/s = {100 * rate * moved / bw:.1f} % of the copy bandwidth")
    if args.mol:
        if comm.size > 1:
            say("--mol runs on one rank only; skipped")
        else:
            if args.rtols:
                work_precision(args.mol, say, args.rtols, args.mol_rtols or [args.mol_rtol], args.ref_rtol,
                               project_overrides=args.project_overrides)
            else:
                mol_comparison(args.mol, say, args.mol_rtol, project_overrides=args.project_overrides)
    return 0
