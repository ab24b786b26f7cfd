"""`qke bench homogeneous`: the project's homogeneous run against SciPy's Radau, one process.

Both integrate the same equations (the project's right-hand side and Jacobian; SciPy gets
them as plain functions) from T_start to T_end of the deck. SciPy Radau runs at --ref-rtol
(default 1e-10, the reference setting of the accuracy tests) with per-field absolute
tolerances 1e-14 (P⁺) and 1e-22 (P⁻). Printed: wall time, steps, the speed-up, and the
agreement of |L| and the sterile/active ratio at the end. With --ref-max-wall the Radau run
stops after that many seconds and the speed-up printed is a lower bound, extrapolated from the
fraction of ln T covered.
"""

from __future__ import annotations

import math
import time

import numpy as np

from physics.models import load_deck


def _radau(system, y0, T_start, T_end, rtol, max_wall):
    from scipy.integrate import solve_ivp

    from physics.qke import MINUS_FIELDS

    atol = np.full(8, 1e-14)
    atol[list(MINUS_FIELDS)] = 1e-22
    t0, t1 = system.cosmology.time(T_start), system.cosmology.time(T_end)
    wall0 = time.perf_counter()

    def out_of_time(t, y):
        return 1.0 if time.perf_counter() - wall0 < max_wall else -1.0

    out_of_time.terminal = True
    sol = solve_ivp(lambda t, y: system.f(t, y[:, None])[:, 0], (t0, t1), y0[:, 0], method="Radau",
                    rtol=rtol, atol=atol, jac=lambda t, y: system.jac(t, y[:, None])[0],
                    events=out_of_time if max_wall else None)
    wall = time.perf_counter() - wall0
    return sol.y[:, -1:], system.temperature(sol.t[-1]), wall, len(sol.t) - 1


def bench_homogeneous(args, say):
    """Run the comparison and print the figures; returns the exit status."""
    from lattice.driver import run

    path = args.deck or "input/homogeneous_B.yaml"
    overrides = ["output.progress=none"]
    if args.rtol:
        overrides.append(f"integrator.rtol={args.rtol}")
    if args.T_end:
        overrides.append(f"time.T_end_MeV={args.T_end}")
    deck, schema = load_deck(path, overrides)
    T0, T1 = deck.time.T_start_MeV, deck.time.T_end_MeV
    say(f"deck {path}: T = {T0} -> {T1} MeV, project rtol {deck.integrator.rtol:g}, "
        f"SciPy Radau rtol {args.ref_rtol:g}")
    result = run(deck, schema, write=False)
    ours = result.stats["wall_s"]
    say(f"project (Rodas4): {ours:9.2f} s  {result.stats['accepted']:9d} steps  "
        f"L = {result.series['L'][-1]:+.6e}  sterile/active = {result.series['sterile_over_active'][-1]:.6e}")
    from physics.models import build_local_system

    system = build_local_system(deck)
    y, T_reached, wall, steps = _radau(system, system.initial_state((1,)), T0, T1, args.ref_rtol,
                                       args.ref_max_wall)
    obs = system.observables_from_sums(system.observable_sums(y))
    done = T_reached <= T1 * (1 + 1e-9)
    say(f"SciPy Radau:      {wall:9.2f} s  {steps:9d} steps  reached T = {T_reached:.4f} MeV"
        + (f"  L = {obs['L']:+.6e}  sterile/active = {obs['sterile_over_active']:.6e}" if done else ""))
    if done:
        say(f"speed-up: {wall / ours:.1f}x;  |L| relative difference "
            f"{abs(abs(obs['L']) - abs(result.series['L'][-1])) / abs(obs['L']):.2e}, "
            f"sterile/active relative difference "
            f"{abs(obs['sterile_over_active'] / result.series['sterile_over_active'][-1] - 1):.2e}, "
            f"final signs {'agree' if np.sign(obs['L']) == np.sign(result.series['L'][-1]) else 'differ'}")
    else:
        covered = math.log(T0 / T_reached) / math.log(T0 / T1)
        say(f"speed-up: > {wall / ours:.1f}x (Radau stopped at its wall limit after covering "
            f"{100 * covered:.1f} % of ln T)")
    return 0
