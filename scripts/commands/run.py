"""`qke run DECK`: run a deck (lattice.launch checks it, lattice.driver runs it)."""

from __future__ import annotations

import shlex
import sys

from lattice.deck import DeckError
from scripts.commands.decks import add_deck_arguments, load


def add_parser(subparsers):
    """Register `qke run`."""
    run = subparsers.add_parser("run", help="run a deck")
    add_deck_arguments(run)
    run.add_argument("--out", help="output directory (default: output.dir or out/<deck name>)")
    run.add_argument("--progress", choices=("auto", "bar", "log", "none"),
                     help="progress display (default: output.progress)")
    run.add_argument("--overwrite", action="store_true",
                     help="remove the files of a run already in the output folder first")
    run.add_argument("--restart", metavar="CHECKPOINT",
                     help="continue from a checkpoint written by a run of the same deck (in its "
                     "output folder, unless --out says otherwise)")
    run.add_argument("--from-snapshot", metavar="SNAPSHOT",
                     help="start from the fields of a snapshot (e.g. to take a finished lattice run "
                     "further): time.T_start_MeV becomes the snapshot's T; physics, grid and seed "
                     "must be those of the run that wrote it; time, integrator, output and the doubling "
                     "trigger (grid.doubling_cells_per_lD, max_doublings, doubling_below_T_MeV) may differ")
    return run


def execute(args, comm, say):
    """Checks that need no output first, then the run; 0, or 3 with the continue command if it stopped."""
    deck, schema = load(args.deck, args.overrides, args.from_snapshot)
    from lattice.checkpoint import RestartError
    from lattice.control import RunControl
    from lattice.driver import Stopped, run
    from lattice.launch import prepare_run

    plan = prepare_run(deck, schema, comm, out=args.out, restart=args.restart, overwrite=args.overwrite)
    ck = deck.checkpoint
    control = RunControl(comm, plan.checkpoint_file, ck.every_s, ck.walltime_s)
    try:
        result = run(deck, schema, out_dir=plan.out_dir, progress=args.progress, comm=comm, restart=args.restart,
                     control=control, from_snapshot=args.from_snapshot, overwrite=args.overwrite)
    except Stopped as stopped:
        say(f"qke: {stopped}; continue with: {continue_command(args, comm, plan.out_dir, stopped.path)}",
            file=sys.stderr)
        return 3
    except RestartError as exc:   # read on every rank before any output: the same on all
        raise DeckError(f"{'--restart' if args.restart else '--from-snapshot'}: {exc}") from None
    finally:
        control.release()
    say(schema.spec.summary_line(result.summary))
    return 0


def continue_command(args, comm, out, checkpoint):
    """The command that, pasted as is, continues a stopped run in the same folder."""
    words = (["mpiexec", "-n", str(comm.size)] if comm.size > 1 else []) + ["qke", "run", args.deck]
    for override in args.overrides:
        words += ["--set", override]
    if args.from_snapshot:
        words += ["--from-snapshot", args.from_snapshot]
    if args.progress:
        words += ["--progress", args.progress]
    return shlex.join(words + ["--out", str(out), "--restart", str(checkpoint)])
