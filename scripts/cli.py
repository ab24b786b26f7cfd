"""The `qke` command: run, validate and describe decks, benchmark, and plot run output.

    qke run DECK.yaml [--out DIR] [--set section.key=value ...] [--progress MODE]
    qke validate DECK.yaml [--set ...]      check a deck, print the resolved deck
    qke schema [--model qke]                every deck key with unit, default and range
    qke bench homogeneous [...]             time against SciPy Radau (see scripts/bench.py)
    qke bench lattice [...]                 site-updates/s, bandwidth, MOL speed-up (scripts/bench_lattice.py)
    qke bench kernels [--backend cupy]      stencil and block-product kernels on NumPy or CuPy (scripts/bench_kernels.py)
    qke bench batch [--sites N]             N single sites in one compiled batch, site-steps/s per thread count (scripts/bench_batch.py)
    qke bench line [--cells N]              µs per step attempt of a 1D lattice per integrator (scripts/bench_line.py)
    qke scan DECK --param KEY --values V ... one key at several values, points over MPI ranks
    qke scan DECK --map [...]                the paper's Fig. 1: a classified |dm2| x sin^2 2theta grid, one batch (scripts/fig1_map.py)
    qke pb-tables [--quick]                  the Pauli–Boltzmann validation tables (items 1–5)
    qke plot fig2|fig3|domains RUN_DIR ...   the paper's figures from lattice run output (scripts/figures.py)
    qke plot fig1 MAP.h5 [--out PNG]         the classified mixing plane from `qke scan --map` output

Exit status: 0 on success, 2 for a bad deck, command line, output folder or checkpoint, 3 when
the run stopped early (SIGTERM, Ctrl-C or checkpoint.walltime_s) after writing a checkpoint, 1 for
a failed run. Under MPI an error on any rank ends every rank (MPI_Abort) after one message.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from pathlib import Path

from lattice import logs
from lattice.deck import DeckError
from lattice.runfolder import FolderError


def _version():
    try:
        from importlib.metadata import version

        return version("qke-lattice")
    except Exception:   # not installed (run from a source tree)
        from lattice.timeseries import VERSION

        return VERSION


def _parser():
    p = argparse.ArgumentParser(prog="qke", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"qke {_version()}")
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
    val = sub.add_parser("validate", help="validate a deck and print it resolved")
    deck_args(val)
    sch = sub.add_parser("schema", help="list every deck key with unit, default and range")
    sch.add_argument("--model", default="qke")
    bench = sub.add_parser("bench", help="benchmarks (print figures; not tests)")
    bench.add_argument("what", choices=("homogeneous", "lattice", "kernels", "batch", "line"))
    bench.add_argument("--deck", default=None, help="deck to time (default input/homogeneous_B.yaml)")
    bench.add_argument("--rtol", type=float, default=None, help="project rtol (default: the deck's)")
    bench.add_argument("--ref-rtol", type=float, default=1e-10, help="rtol of the reference: SciPy Radau (homogeneous), SciPy BDF MOL (lattice --rtols)")
    bench.add_argument("--T-end", type=float, default=None, help="stop both at this T [MeV]")
    bench.add_argument("--ref-max-wall", type=float, default=None,
                       help="stop SciPy Radau after this many seconds (speed-up becomes a bound)")
    bench.add_argument("--shapes", nargs="+", default=["1048576", "128x128x128"],
                       help="lattice shapes for `bench lattice`, e.g. 1048576 128x128x128")
    bench.add_argument("--steps", type=int, default=3, help="timed implicit lattice steps per shape")
    bench.add_argument("--dt-hubble", type=float, default=1e-3,
                       help="lattice step in Hubble times (about the accuracy control's choice at "
                       "20 MeV, rtol 1e-6)")
    bench.add_argument("--mol", type=int, nargs="*", default=None, metavar="N",
                       help="also time the SciPy BDF method-of-lines reference at these cell counts")
    bench.add_argument("--mol-rtol", type=float, default=1e-8, help="rtol of the MOL reference")
    bench.add_argument("--project-set", dest="project_overrides", action="append", default=[],
                       metavar="SECTION.KEY=VALUE", help="with --mol, and for batch: deck override for the "
                       "project runs, e.g. integrator.stage_solver=direct (repeatable)")
    bench.add_argument("--rtols", type=float, nargs="+", default=None, metavar="R",
                       help="with --mol: work-precision mode, the project at these rtols against a "
                       "MOL reference at --ref-rtol")
    bench.add_argument("--mol-rtols", type=float, nargs="+", default=None, metavar="R",
                       help="with --rtols: the MOL at these rtols (default --mol-rtol)")
    bench.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                       help="array library for `bench kernels`")
    bench.add_argument("--repeats", type=int, default=5, help="timed calls per kernel (`bench kernels`)")
    bench.add_argument("--sites", type=int, default=1024, help="`bench batch`: number of sites")
    bench.add_argument("--window", type=float, default=1.0, metavar="T_END/T_RES",
                       help="`bench batch`: each site runs from 2 T_res to this × T_res (unless --T-end)")
    bench.add_argument("--threads", type=int, nargs="+", default=None, metavar="K",
                       help="`bench batch`: Numba thread counts to time (default 1 2)")
    bench.add_argument("--samples", type=int, default=None,
                       help="`bench batch`: output samples per site (default: the deck's)")
    bench.add_argument("--cells", type=int, default=128, help="`bench line`: cells of the line")
    bench.add_argument("--T-start", type=float, default=None,
                       help="`bench line`: start of the timed window [MeV] (default: the deck's)")
    bench.add_argument("--snapshot", default=None,
                       help="`bench line`: start from this snapshot's fields (--T-start must be its T)")
    bench.add_argument("--repeat", type=int, default=3, help="`bench line`: timed runs per integrator (best kept)")
    bench.add_argument("--no-python", action="store_true", help="`bench line`: skip the Python Rodas4")
    bench.add_argument("--singles", type=int, default=0, metavar="K",
                       help="`bench batch`: also run K of the sites one by one through the driver")
    sc = sub.add_parser("scan", help="run a deck at several values of one key (MPI ranks share "
                        "the points; launch with mpiexec -n N python -m mpi4py -m scripts.cli scan ...)")
    deck_args(sc)
    sc.add_argument("--param", metavar="SECTION.KEY", help="the key to vary (required without --map)")
    sc.add_argument("--values", nargs="+", help="values of the key (required without --map)")
    sc.add_argument("--observable", default="N_eff", help="summary column to report (default N_eff)")
    sc.add_argument("--threshold", type=float, default=None,
                    help="print the bracket where the observable crosses this value")
    sc.add_argument("--refine", type=int, default=0,
                    help="rounds of parallel multi-section refinement of the bracket")
    from scripts.fig1_map import add_map_arguments

    add_map_arguments(sc)
    tab = sub.add_parser("pb-tables", help="run the Pauli–Boltzmann validation cases and print "
                         "measured values against the paper's")
    tab.add_argument("--quick", action="store_true", help="small grids, skip the 3-flavour scan")
    tab.add_argument("--n-points", type=int, default=None, help="momentum points (default: decks')")
    from scripts.figures import add_parser as add_plot_parser

    add_plot_parser(sub)
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    from lattice.parallel import world

    comm = world()
    logs.setup(comm.rank, comm.size)
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    try:
        return _command(args, comm, say)
    except (DeckError, FolderError) as exc:
        # Every rank reaches this point with the same error (validation, the decomposition and
        # folder checks are deterministic or broadcast): wait until rank 0 has printed, or a
        # rank exiting first makes mpiexec kill rank 0 before the message is out.
        kind = "deck error" if isinstance(exc, DeckError) else "error"
        say(f"qke: {kind}: {exc}", file=sys.stderr)
        sys.stderr.flush()
        comm.barrier()
        return 2
    except KeyboardInterrupt:
        return _fail(comm, "interrupted (no checkpoint written)", 130)
    except Exception as exc:   # a failed run: one line, and under MPI every rank ends
        return _fail(comm, " ".join(f"{type(exc).__name__}: {exc}".split()), 1)


def _fail(comm, message, code):
    """Report an error raised on this rank in one line and return `code`; under MPI, end the
    whole job (MPI_Abort) instead, since the other ranks may wait in a collective forever.

    A rank other than 0 waits a moment first: if rank 0 failed too (an error every rank
    raises), its abort ends the job with a single message."""
    where = f" on rank {comm.rank}" if comm.size > 1 else ""
    if comm.size > 1 and comm.rank:
        time.sleep(1.0)
    print(f"qke: {'run failed' if code == 1 else 'aborted'}{where}: {message}"
          + ("" if os.environ.get("QKE_TRACEBACK") or code != 1 else " (QKE_TRACEBACK=1 shows the traceback)"),
          file=sys.stderr, flush=True)
    if os.environ.get("QKE_TRACEBACK"):
        traceback.print_exc()
    if comm.size > 1:
        sys.stderr.flush()
        comm.abort(code)
    return code


def _command(args, comm, say):
    from scripts.models import load_deck, schema_for

    if args.command == "schema":
        say(schema_for(args.model).describe())
        return 0
    if args.command == "bench" and args.what == "kernels":
        from scripts.bench_kernels import bench_kernels

        return bench_kernels(args, say)
    if args.command == "bench" and args.what == "batch":
        from scripts.bench_batch import bench_batch

        return bench_batch(args, say)
    if args.command == "bench" and args.what == "line":
        from scripts.bench_line import main as bench_line

        return bench_line(args, say)
    if args.command == "bench" and args.what == "lattice":
        from scripts.bench_lattice import bench_lattice

        return bench_lattice(args, comm, say)
    if args.command == "bench":
        from scripts.bench import bench_homogeneous

        return bench_homogeneous(args, say)
    if args.command == "pb-tables":
        from scripts.pb_tables import tables

        return tables(args, comm, say)
    if args.command == "plot":
        from scripts.figures import PlotError, plot

        try:
            return plot(args, say)
        except PlotError as exc:
            say(f"qke plot {args.figure}: error: {exc}", file=sys.stderr)
            return 2
    overrides, note = list(args.overrides), ""
    if getattr(args, "from_snapshot", None):
        T_snap = _snapshot_temperature(args.from_snapshot)
        overrides.append(f"time.T_start_MeV={T_snap!r}")
        note = f" (with --from-snapshot, time.T_start_MeV is the snapshot's T, {T_snap!r} MeV)"
    try:
        deck, schema = load_deck(args.deck, overrides)
    except DeckError as exc:
        raise DeckError(f"{exc}{note}") from None
    if args.command == "scan" and args.map:
        from scripts.fig1_map import scan_map

        return scan_map(args, comm, say)
    if args.command == "scan":
        from scripts.scan import scan

        if not (args.param and args.values):
            say("qke scan: --param and --values are required (or --map for the batched Fig. 1 map)", file=sys.stderr)
            return 2
        return scan(args, comm, say)
    if args.command == "validate":
        say(f"# {args.deck}: valid\n" + schema.to_yaml(deck), end="")
        return 0
    return _run(args, deck, schema, comm, say)


def _run(args, deck, schema, comm, say):
    """`qke run`: checks that need no output first, then the run; 3 with a restart hint if it stopped."""
    from lattice.assembly import build_lattice

    on_lattice = schema.spec.on_lattice(deck)
    if comm.size > 1 and not on_lattice:
        raise DeckError(f"model {deck.model!r} without a decomposed lattice runs on one rank; "
                        f"launched on {comm.size} (run without mpiexec or with -n 1)")
    if on_lattice:
        try:
            build_lattice(deck, schema.spec, comm)  # decomposition and seed checked before any output
        except (ValueError, OSError) as exc:
            raise DeckError(f"grid/seed: {exc}") from None
    from lattice.checkpoint import RestartError, checkpoint_output_dir
    from lattice.control import RunControl
    from lattice.driver import Stopped, default_output_dir, run

    if args.restart and args.overwrite:
        raise DeckError("--overwrite starts a run afresh; it cannot be combined with --restart")
    if args.restart and not Path(args.restart).exists():
        raise DeckError(f"--restart {args.restart}: no such checkpoint file")
    try:
        recorded = checkpoint_output_dir(args.restart) if args.restart and not args.out else None
    except RestartError as exc:
        raise DeckError(f"--restart: {exc}") from None
    out = Path(args.out or recorded or default_output_dir(deck))
    ck = deck.checkpoint
    control = RunControl(comm, ck.file or str(out / "checkpoint.h5"), ck.every_s, ck.walltime_s)
    try:
        result = run(deck, schema, out_dir=out, progress=args.progress, comm=comm, restart=args.restart,
                     control=control, from_snapshot=args.from_snapshot, overwrite=args.overwrite)
    except Stopped as stopped:
        say(f"qke: {stopped}; continue with: {_continue_command(args, comm, out, stopped.path)}",
            file=sys.stderr)
        return 3
    except RestartError as exc:   # read on every rank before any output: the same on all
        raise DeckError(f"{'--restart' if args.restart else '--from-snapshot'}: {exc}") from None
    finally:
        control.release()
    say(schema.spec.summary_line(result.summary))
    return 0


def _continue_command(args, comm, out, checkpoint):
    """The command that, pasted as is, continues a stopped run in the same folder."""
    words = (["mpiexec", "-n", str(comm.size)] if comm.size > 1 else []) + ["qke", "run", args.deck]
    for override in args.overrides:
        words += ["--set", override]
    if args.from_snapshot:
        words += ["--from-snapshot", args.from_snapshot]
    if args.progress:
        words += ["--progress", args.progress]
    return shlex.join(words + ["--out", str(out), "--restart", str(checkpoint)])


def _snapshot_temperature(path):
    """T [MeV] of a snapshot, as a DeckError (exit 2 on every rank) if it cannot be read."""
    from lattice.checkpoint import RestartError, snapshot_temperature

    if not Path(path).exists():
        raise DeckError(f"--from-snapshot {path}: no such snapshot file")
    try:
        return snapshot_temperature(path)
    except RestartError as exc:
        raise DeckError(f"--from-snapshot: {exc}") from None


if __name__ == "__main__":
    sys.exit(main())
