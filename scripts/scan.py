"""`qke scan`: run one deck at several values of one key, the points spread over MPI ranks.

    qke scan DECK --param physics.delta_m2_tau_eV2 --values -16 -17 -18 [--set ...]
             [--observable N_eff] [--threshold 0.5] [--refine R]

Points go round-robin to the ranks (point i on rank i mod size); every run is a serial run of
its own (the Pauli–Boltzmann model is one rank per run), so the results do not depend on the
number of ranks. Rank 0 prints one row per point. With --threshold, the bracket where the
observable crosses the threshold is printed; --refine R then runs R rounds that each place
max(size, 2) equally spaced points inside the bracket (a parallel multi-section search).
"""

from __future__ import annotations

import numpy as np


def run_job(deck_path, overrides, keep=()):
    """One serial, in-memory run; returns its numeric summary, the final spectra and the series
    named in `keep` (picklable, for gathering over ranks)."""
    from lattice.driver import run
    from lattice.parallel import SerialComm
    from scripts.models import load_deck

    deck, schema = load_deck(deck_path, list(overrides) + ["output.progress=none"])
    result = run(deck, schema, write=False, comm=SerialComm())
    out = {k: v for k, v in result.summary.items() if isinstance(v, (int, float)) or v is None}
    out["series"] = {"T": result.T, **{k: result.series[k] for k in keep}}
    out["spectra"] = schema.spec.build_system(deck).final_arrays(result.state) or None
    return out


def run_jobs(comm, jobs, keep=()):
    """Run jobs [(deck_path, overrides), ...] round-robin over the ranks (job i on rank i mod
    size); every rank gets all results, in job order."""
    mine = [(i, run_job(deck, overrides, keep)) for i, (deck, overrides) in enumerate(jobs)
            if i % comm.size == comm.rank]
    done = dict(item for part in comm.allgather(mine) for item in part)
    return [done[i] for i in range(len(jobs))]


def run_points(comm, deck_path, overrides, param, values):
    """The deck at each value of `param`; [(value, summary), ...] in input order."""
    jobs = [(deck_path, list(overrides) + [f"{param}={float(v)!r}"]) for v in values]
    return list(zip(values, run_jobs(comm, jobs)))


def bracket(rows, key, threshold):
    """(a, b): adjacent scanned values between which `key` crosses threshold; None if it does not."""
    rows = sorted(rows, key=lambda r: r[0])
    for (a, sa), (b, sb) in zip(rows, rows[1:]):
        if (sa[key] - threshold) * (sb[key] - threshold) <= 0:
            return a, b
    return None


def format_row(value, s, observable):
    onset = s.get("onset_T_MeV")
    return (f"{value:>14.6g}  {s[observable]:>12.6g}  {s.get('L_final', float('nan')):>+13.5e}  "
            f"{onset if onset is not None else float('nan'):>9.4g}  {s['accepted']:>8d}  {s['wall_s']:>8.1f}")


def scan(args, comm, say):
    """The `qke scan` command; returns the exit status."""
    observable = args.observable if args.observable.endswith("_final") else args.observable + "_final"
    values = [float(v) for v in args.values]
    rows = run_points(comm, args.deck, args.overrides, args.param, values)
    for _ in range(args.refine if args.threshold is not None else 0):
        found = bracket(rows, observable, args.threshold)
        if found is None:
            break
        k = max(comm.size, 2)
        inner = [float(v) for v in np.linspace(found[0], found[1], k + 2)[1:-1]]
        rows += run_points(comm, args.deck, args.overrides, args.param, inner)
    say(f"# {args.deck}: {args.param} scanned on {comm.size} rank(s)")
    say(f"{args.param.split('.')[-1]:>14}  {observable:>12}  {'L_final':>13}  {'T_c [MeV]':>9}  "
        f"{'steps':>8}  {'wall [s]':>8}")
    for value, s in sorted(rows, key=lambda r: r[0]):
        say(format_row(value, s, observable))
    if args.threshold is not None:
        found = bracket(rows, observable, args.threshold)
        say(f"{observable} crosses {args.threshold:g} between {args.param} = {found[0]:.6g} and "
            f"{found[1]:.6g}" if found else f"{observable} does not cross {args.threshold:g} in the scan")
    return 0
