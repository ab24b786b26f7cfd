"""The `qke` command: run, validate and describe decks, benchmark, and plot run output.

    qke run DECK.yaml [--out DIR] [--set section.key=value ...] [--progress MODE]
    qke validate DECK.yaml [--set ...]      check a deck, print the resolved deck
    qke schema [--model qke]                every deck key with unit, default and range
    qke bench homogeneous [...]             time against SciPy Radau (see scripts/bench.py)
    qke bench lattice [...]                 site-updates/s, bandwidth, MOL speed-up (scripts/bench_lattice.py)
    qke bench kernels [--backend cupy]      stencil and block-product kernels on NumPy or CuPy
                                            (scripts/bench_kernels.py)
    qke bench batch [--sites N]             N single sites in one compiled batch, site-steps/s per thread
                                            count (scripts/bench_batch.py)
    qke bench line [--cells N]              µs per step attempt of a 1D lattice per integrator (scripts/bench_line.py)
    qke scan DECK --param KEY --values V ... one key at several values, points over MPI ranks
    qke scan DECK --map [...]                the paper's Fig. 1: a classified |dm2| x sin^2 2theta grid, one
                                             batch (scripts/fig1_map.py)
    qke pb-tables [--quick]                  the Pauli–Boltzmann validation tables (items 1–5)
    qke plot fig2|fig3|domains RUN_DIR ...   the paper's figures from lattice run output (scripts/figures.py)
    qke plot fig1 MAP.h5 [--out PNG]         the classified mixing plane from `qke scan --map` output

Exit status: 0 on success, 2 for a bad deck, command line, output folder or checkpoint, 3 when
the run stopped early (SIGTERM, Ctrl-C or checkpoint.walltime_s) after writing a checkpoint, 1 for
a failed run. Under MPI an error on any rank ends every rank (MPI_Abort) after one message.

This module holds the top-level parser, the error handling of `main` and the table of subcommands
(COMMANDS); each subcommand is a module of scripts/commands/ (see its __init__ for what one offers).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from lattice import logs
from lattice.deck import DeckError
from lattice.runfolder import FolderError
from scripts.commands import bench, pb_tables, plot, run, scan, schema, targets, validate

COMMANDS = {"run": run, "validate": validate, "schema": schema, "bench": bench, "scan": scan,
            "pb-tables": pb_tables, "targets": targets, "plot": plot}
"""Subcommand -> its module (scripts/commands/): add_parser(subparsers) and execute(args, comm, say)."""


def _version():
    try:
        from importlib.metadata import version

        return version("qke-lattice")
    except Exception:   # not installed (run from a source tree)
        from lattice.timeseries import VERSION

        return VERSION


def _parser():
    """The `qke` parser with every subcommand (docs/hooks/deck_reference.py prints its help)."""
    p = argparse.ArgumentParser(prog="qke", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"qke {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    from lattice.parallel import world

    comm = world()
    logs.setup(comm.rank, comm.size)
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    try:
        return COMMANDS[args.command].execute(args, comm, say)
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
    raises), its abort ends the job with a single message. After the message every rank waits
    half a second before the abort, so that mpiexec forwards it (once, under a loaded machine,
    the job ended with the line lost)."""
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
        time.sleep(0.5)     # let mpiexec forward the line: MPI_Abort may drop output still in the pipe
        comm.abort(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
