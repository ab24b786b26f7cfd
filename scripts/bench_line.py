"""`qke bench line`: the cost of one step attempt on a 1D lattice, per integrator.

The point-B laptop deck (input/fig3_B_laptop.yaml, or `--deck`) is built at `--cells` cells and
advanced over a short window from its start (`--T-start`, default the deck's, to `--T-end`,
default 0.1 % below it) from its initial state, or from a snapshot's fields (`--snapshot`,
e.g. a state after the resonance). Timed, best of `--repeat`, in one process:

- the Python Rodas4 (lattice.rosenbrock) on the implicit lattice with the direct line solve
  (lattice.line_solver), the path `integrator.stage_solver: direct` took before the compiled
  engine;
- the compiled line engine (lattice.compiled_line) with method rodas4 (implicit throughout)
  and dopri5 (explicit throughout), and auto (switching).

Printed per integrator: accepted and rejected steps, wall seconds and µs per attempt, and for
auto the split between the branches. Steps differ between the branches (different methods and
tolerances); the per-attempt cost is the figure to compare. Accuracy at equal cost is measured
by `qke bench lattice --mol ... --project-set integrator.stage_solver=direct` (against SciPy's
BDF on the same problem, in one process) and tests/lattice/test_explicit_branch.py.
"""

from __future__ import annotations

import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
DECK = ROOT / "input" / "fig3_B_laptop.yaml"


def _simulation(deck_path, cells, T_start, T_end, method, snapshot):
    from lattice.driver import Simulation
    from scripts.models import load_deck

    deck, schema = load_deck(deck_path, [f"grid.shape=[{cells}]", f"time.T_start_MeV={T_start}",
                                         f"time.T_end_MeV={T_end}", "output.samples=2", "output.snapshots=0",
                                         "output.progress=none", "integrator.stage_solver=direct",
                                         f"integrator.method={method}"])
    sim = Simulation(deck, schema, write=False)
    if snapshot:
        sim.start_from_snapshot(snapshot)
    return sim, deck


def _time(advance, repeat):
    best = None
    for _ in range(repeat):
        wall = time.perf_counter()
        stats = advance()
        wall = time.perf_counter() - wall
        if best is None or wall < best[0]:
            best = (wall, stats)
    return best


def line_costs(deck_path=DECK, cells=128, T_start=None, T_end=None, repeat=3, snapshot=None, say=print,
               python=True):
    """Time each integrator over the window; returns {name: (wall s, accepted, rejected, split)}."""
    from lattice.rosenbrock import Rodas4
    from scripts.models import load_deck

    deck0, _ = load_deck(deck_path)
    T_start = deck0.time.T_start_MeV if T_start is None else T_start
    T_end = T_start * 0.999 if T_end is None else T_end
    say(f"{Path(deck_path).name}: {cells} cells, {T_start:g} -> {T_end:g} MeV"
        + (f" from {snapshot}" if snapshot else "") + f", best of {repeat}")
    results = {}
    for method in ("rodas4", "dopri5", "auto"):
        sim, deck = _simulation(deck_path, cells, T_start, T_end, method, snapshot)
        t0, t1, y0 = sim.samples.t[0], sim.samples.t[-1], sim.y.copy()
        h0 = deck.integrator.dt_initial * t0
        sim.stepper.advance(t0, y0, t1, h0)          # compile and warm up

        def compiled(sim=sim, method=method):
            stepper = type(sim.stepper)(sim.stepper.kernels, sim.stepper.system, sim.lattice, sim.stepper.cell_field,
                                        deck.integrator.rtol, deck.integrator.explicit_rtol_factor, method,
                                        probe_steps=deck.integrator.probe_steps)
            stepper.advance(t0, y0, t1, h0)
            return stepper.counts.copy()

        wall, counts = _time(compiled, repeat)
        results[f"compiled {method}"] = (wall, int(counts[0] + counts[2]), int(counts[1] + counts[3]), counts)
    if python:
        sim, deck = _simulation(deck_path, cells, T_start, T_end, "rodas4", snapshot)
        error_norm = sim.system.error_norm(deck.integrator.rtol, deck.integrator)
        t0, t1, y0 = sim.samples.t[0], sim.samples.t[-1], sim.y.copy()

        def interpreted():
            stepper = Rodas4(sim.stepper.system, error_norm)
            stepper.advance(t0, y0.copy(), t1, deck.integrator.dt_initial * t0)
            return stepper

        wall, stepper = _time(interpreted, 1)
        results["Python rodas4"] = (wall, stepper.n_accepted, stepper.n_rejected, None)
    for name, (wall, acc, rej, counts) in results.items():
        split = ""
        if counts is not None and name.endswith("auto"):
            split = (f"; rodas4 {counts[0]} + {counts[1]} rejected, dopri5 {counts[2]} + {counts[3]} rejected, "
                     f"{counts[4]} switches")
        say(f"  {name:16s} {acc:8d} steps {rej:6d} rejected  {wall:8.3f} s  "
            f"{1e6 * wall / max(acc + rej, 1):8.1f} µs per attempt{split}")
    return results


def main(args, say=print):
    line_costs(args.deck or DECK, args.cells, args.T_start, args.T_end, args.repeat, args.snapshot, say,
               python=not args.no_python)
    return 0
