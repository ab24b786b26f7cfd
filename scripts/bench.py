"""`qke bench homogeneous`: the project's homogeneous run against SciPy's Radau, one process.

Both integrate the same equations (the project's right-hand side and Jacobian; SciPy gets
them as plain functions) from T_start to T_end of the deck. The project runs as `qke run` does
(a single-site QKE deck: the compiled loop of lattice.compiled_rodas, with the deck's
integrator.method; when that is not rodas4, Rodas4 alone runs too, for the ratio), after a warm-up
run over a short window so that compilation (or loading the compiled code from the cache) is
not timed; printed: wall time, accepted and rejected steps and the cost per attempt,
wall / (accepted + rejected) (output sampling included).

SciPy Radau runs twice:
- the reference, at --ref-rtol (default 1e-10, the reference setting of the accuracy tests)
  with per-field absolute tolerances 1e-14 (P⁺) and 1e-22 (P⁻);
- at the project's rtol with the same absolute tolerances: equal tolerance. (Not the project's
  atol_minus: the project's norm measures the minus fields through L = L0 + …, relative to
  |L| ≥ ~|L0|, while Radau's per-field norm would demand atol_minus = 1e-24 absolutely of each
  P⁻ field, which makes it several times slower and far more accurate than the project.)
  Its error and the project's are measured against the reference (|L| and the sterile/active
  ratio at the last output sample both reached), so the speed-up at equal tolerance can be read
  with the two accuracies beside it; where Radau is no more accurate than the project there,
  the speed-up at equal accuracy is at least that figure.
With --ref-max-wall each Radau run stops after that many seconds, and a speed-up over a run
that did not finish is a lower bound (the project did the whole range in its time).
"""

from __future__ import annotations

import math
import time

import numpy as np

from scripts.models import load_deck


def _radau(system, y0, t_eval, rtol, atol_plus, atol_minus, max_wall):
    """SciPy Radau from t_eval[0] towards t_eval[-1]; returns (states at the t_eval reached
    (8, m), T reached, wall [s], steps)."""
    from scipy.integrate import solve_ivp

    from physics.qke import MINUS_FIELDS

    atol = np.full(8, atol_plus)
    atol[list(MINUS_FIELDS)] = atol_minus
    wall0 = time.perf_counter()
    state = {"calls": 0, "cut": math.inf}
    limit = math.inf if max_wall is None else max_wall

    def out_of_time(t, y):
        # evaluated once per step (and in a root search after the sign change): a step function
        # of t, so that the root search converges to the time at which the limit was noticed
        state["calls"] += 1
        if state["cut"] == math.inf and time.perf_counter() - wall0 >= limit:
            state["cut"] = t
        return 1.0 if t < state["cut"] else -1.0

    out_of_time.terminal = True
    sol = solve_ivp(lambda t, y: system.f(t, y[:, None])[:, 0], (t_eval[0], t_eval[-1]), y0[:, 0],
                    method="Radau", rtol=rtol, atol=atol, jac=lambda t, y: system.jac(t, y[:, None])[0],
                    t_eval=t_eval, events=out_of_time)
    wall = time.perf_counter() - wall0
    t_end = sol.t_events[0][0] if len(sol.t_events[0]) else sol.t[-1]
    return sol.y, system.temperature(t_end), wall, state["calls"] - 1


def _observables(system, states):
    """(L, sterile/active) of each column of `states` (8, m)."""
    return system.asymmetry(states), system.sterile_density(states) / system.active_density(states)


def bench_homogeneous(args, say):
    """Run the comparison and print the figures; returns the exit status."""
    from lattice.driver import Simulation, run
    from physics.qke_model import build_local_system

    path = args.deck or "input/homogeneous_B.yaml"
    overrides = ["output.progress=none"]
    if args.rtol:
        overrides.append(f"integrator.rtol={args.rtol}")
    if args.T_end:
        overrides.append(f"time.T_end_MeV={args.T_end}")
    deck, schema = load_deck(path, overrides)
    T0, T1 = deck.time.T_start_MeV, deck.time.T_end_MeV
    integ = deck.integrator
    say(f"deck {path}: T = {T0} -> {T1} MeV, project rtol {integ.rtol:g}, "
        f"SciPy Radau rtol {args.ref_rtol:g} (reference) and {integ.rtol:g} (equal tolerance)")
    warm, _ = load_deck(path, overrides + [f"time.T_end_MeV={T0 * (1 - 1e-4)!r}", "output.samples=2"])
    run(warm, schema, write=False)          # compiles, or loads the compiled code: not timed
    methods = [integ.method] + (["rodas4"] if integ.method != "rodas4" else [])
    loops = {}
    for method in methods:                  # the deck's method, and Rodas4 alone to compare with
        sim = Simulation(load_deck(path, overrides + [f"integrator.method={method}"])[0], schema, write=False)
        one = sim.run()
        st = one.stats
        attempts = st["accepted"] + st["rejected"]
        loop = getattr(sim.stepper, "wall_s", None)    # time inside the compiled loop, if it ran
        loops[method] = loop
        split = (f"; {st['dopri5_accepted']} DOPRI5 steps, {st['switches']} switches"
                 if st.get("switches") is not None else "")
        say(f"project, method {method}{', compiled' if loop is not None else ''}: {st['wall_s']:9.2f} s  "
            f"{st['accepted']:9d} steps ({st['rejected']} rejected{split}), "
            f"{1e6 * st['wall_s'] / attempts:.2f} µs per attempt"
            + (f" ({loop:.3f} s, {1e6 * loop / attempts:.2f} µs per attempt in the step loop, the rest "
               f"output sampling)" if loop else "")
            + f"  L = {one.series['L'][-1]:+.6e}  sterile/active = {one.series['sterile_over_active'][-1]:.6e}")
        if method == integ.method:
            result = one
    if len(methods) > 1 and all(loops.values()):
        ratio = loops["rodas4"] / loops[integ.method]
        say(f"  step loop, method {integ.method} against rodas4 alone: {ratio:.2f}x faster")
    ours = result.stats["wall_s"]
    L, S = result.series["L"], result.series["sterile_over_active"]
    system = build_local_system(deck)
    y0, t_eval = system.initial_state((1,)), result.t
    runs = {}
    for label, rtol, ap, am in (("reference", args.ref_rtol, 1e-14, 1e-22),
                                ("equal tol.", integ.rtol, 1e-14, 1e-22)):
        states, T_reached, wall, steps = _radau(system, y0, t_eval, rtol, ap, am, args.ref_max_wall)
        runs[label] = (_observables(system, states), T_reached, wall)
        done = T_reached <= T1 * (1 + 1e-9)
        Lr, Sr = runs[label][0]
        say(f"SciPy Radau, {label} rtol {rtol:g}: {wall:9.2f} s  {steps:9d} steps  reached T = {T_reached:.4f} MeV"
            + (f"  L = {Lr[-1]:+.6e}  sterile/active = {Sr[-1]:.6e}" if done else ""))
        if done:
            say(f"  speed-up: {wall / ours:.1f}x")
        else:
            covered = math.log(T0 / T_reached) / math.log(T0 / T1)
            say(f"  speed-up: > {wall / ours:.1f}x (Radau stopped at its wall limit after covering "
                f"{100 * covered:.1f} % of ln T)")
    (L_ref, S_ref), _, _ = runs["reference"]
    (L_eq, S_eq), _, _ = runs["equal tol."]
    n = min(L_ref.size, L_eq.size)
    if n > 1:                           # the first sample is the common initial state
        i = n - 1
        rel = lambda a, b: abs(abs(a) - abs(b)) / abs(b)  # noqa: E731
        say(f"against the reference at T = {result.T[i]:.4f} MeV: |L| relative difference project "
            f"{rel(L[i], L_ref[i]):.2e}, Radau at equal tolerance {rel(L_eq[i], L_ref[i]):.2e}; "
            f"sterile/active project {rel(S[i], S_ref[i]):.2e}, Radau {rel(S_eq[i], S_ref[i]):.2e}; "
            f"final signs {'agree' if np.sign(L_ref[i]) == np.sign(L[i]) else 'differ'} (project), "
            f"{'agree' if np.sign(L_ref[i]) == np.sign(L_eq[i]) else 'differ'} (Radau)")
    return 0
