"""The `qke` command: run, validate and describe decks, and benchmark.

    qke run DECK.yaml [--out DIR] [--set section.key=value ...] [--progress MODE]
    qke validate DECK.yaml [--set ...]      check a deck, print the resolved deck
    qke schema [--model qke]                every deck key with unit, default and range
    qke bench homogeneous [...]             time against SciPy Radau (see scripts/bench.py)
    qke bench lattice [...]                 site-updates/s, bandwidth, MOL speed-up (scripts/bench_lattice.py)

Exit status: 0 on success, 2 for a bad deck or command line, 3 when the run stopped early
(SIGTERM or checkpoint.walltime_s) after writing a checkpoint, 1 for a failed run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lattice.deck import DeckError


def _parser():
    p = argparse.ArgumentParser(prog="qke", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def deck_args(sp):
        sp.add_argument("deck", help="YAML deck file")
        sp.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override a deck value (repeatable)")

    run = sub.add_parser("run", help="run a deck")
    deck_args(run)
    run.add_argument("--out", help="output directory (default: output.dir or out/<deck name>)")
    run.add_argument("--progress", choices=("auto", "bar", "log", "none"),
                     help="progress display (default: output.progress)")
    run.add_argument("--restart", metavar="CHECKPOINT",
                     help="continue from a checkpoint written by a run of the same deck")
    val = sub.add_parser("validate", help="validate a deck and print it resolved")
    deck_args(val)
    sch = sub.add_parser("schema", help="list every deck key with unit, default and range")
    sch.add_argument("--model", default="qke")
    bench = sub.add_parser("bench", help="benchmarks (print figures; not tests)")
    bench.add_argument("what", choices=("homogeneous", "lattice"))
    bench.add_argument("--deck", default=None, help="deck to time (default input/homogeneous_B.yaml)")
    bench.add_argument("--rtol", type=float, default=None, help="project rtol (default: the deck's)")
    bench.add_argument("--ref-rtol", type=float, default=1e-10, help="SciPy Radau rtol")
    bench.add_argument("--T-end", type=float, default=None, help="stop both at this T [MeV]")
    bench.add_argument("--ref-max-wall", type=float, default=None,
                       help="stop SciPy Radau after this many seconds (speed-up becomes a bound)")
    bench.add_argument("--shapes", nargs="+", default=["1048576", "128x128x128"],
                       help="lattice shapes for `bench lattice`, e.g. 1048576 128x128x128")
    bench.add_argument("--steps", type=int, default=3, help="timed coupled steps per shape")
    bench.add_argument("--dt-hubble", type=float, default=3e-5,
                       help="coupled step in Hubble times (the control's choice at 20 MeV, rtol 1e-6)")
    bench.add_argument("--mol", type=int, nargs="*", default=None, metavar="N",
                       help="also time the SciPy BDF method-of-lines reference at these cell counts")
    bench.add_argument("--mol-rtol", type=float, default=1e-8, help="rtol of the MOL reference")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    from lattice.parallel import world
    from physics.models import load_deck, schema_for

    comm = world()
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    try:
        if args.command == "schema":
            say(schema_for(args.model).describe())
            return 0
        if args.command == "bench" and args.what == "lattice":
            from scripts.bench_lattice import bench_lattice

            return bench_lattice(args, comm, say)
        if args.command == "bench":
            from scripts.bench import bench_homogeneous

            return bench_homogeneous(args, say)
        deck, schema = load_deck(args.deck, args.overrides)
        if args.command == "validate":
            say(f"# {args.deck}: valid\n" + schema.to_yaml(deck), end="")
            return 0
        from physics.models import build_lattice, is_single_site

        if comm.size > 1 and is_single_site(deck):
            raise DeckError(f"model {deck.model!r} on a single site runs on one rank; "
                            f"launched on {comm.size} (run without mpiexec or with -n 1)")
        if not is_single_site(deck):
            try:
                build_lattice(deck, comm)  # decomposition and seed checked before any output
            except (ValueError, OSError) as exc:
                raise DeckError(f"grid/seed: {exc}") from None
        from lattice.control import RunControl
        from lattice.driver import Stopped, default_output_dir, run

        out = Path(args.out) if args.out else default_output_dir(deck)
        ck = deck.checkpoint
        control = RunControl(comm, ck.file or str(out / "checkpoint.h5"), ck.every_s, ck.walltime_s)
        if args.restart and not Path(args.restart).exists():
            raise DeckError(f"--restart {args.restart}: no such checkpoint file")
        try:
            result = run(deck, schema, out_dir=out, progress=args.progress, comm=comm,
                         restart=args.restart, control=control)
        except Stopped as stopped:
            say(f"qke: {stopped}; continue with: qke run {args.deck} --restart {stopped.path}",
                file=sys.stderr)
            return 3
        say(format_summary(result))
        return 0
    except DeckError as exc:
        say(f"qke: deck error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        say("qke: interrupted", file=sys.stderr)
        return 130


def format_summary(result) -> str:
    """One closing line with the run's key figures."""
    s = result.summary
    onset = f"{s['onset_T_MeV']:.4f} MeV" if s.get("onset_T_MeV") else "none"
    slope = s.get("power_law_slope")
    slope_text = (f"{slope:+.3f} over T = {s['power_law_T_hi_MeV']:.3g}..{s['power_law_T_lo_MeV']:.3g} MeV"
                  if slope is not None else "n/a")
    return (f"done: T = {s['T_final_MeV']:.4g} MeV, L = {s['L_final']:+.6e}, "
            f"sterile/active = {s['sterile_over_active_final']:.6e}, growth onset (|L| > 1e3 |L0|) "
            f"at {onset}, d ln|L|/d ln T = {slope_text}; {s['accepted']} steps "
            f"({s['rejected']} rejected) in {s['wall_s']:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
