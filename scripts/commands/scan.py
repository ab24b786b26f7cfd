"""`qke scan DECK`: one key at several values (scripts/scan.py), or the Fig. 1 map (scripts/fig1_map.py)."""

from __future__ import annotations

import sys

from scripts.commands.decks import add_deck_arguments, load


def add_parser(subparsers):
    """Register `qke scan` with its --param/--values options and the --map options of Fig. 1."""
    from scripts.fig1_map import add_map_arguments

    scan = subparsers.add_parser("scan", help="run a deck at several values of one key (MPI ranks share "
                                 "the points; launch with mpiexec -n N python -m mpi4py -m scripts.cli scan ...)")
    add_deck_arguments(scan)
    scan.add_argument("--param", metavar="SECTION.KEY", help="the key to vary (required without --map)")
    scan.add_argument("--values", nargs="+", help="values of the key (required without --map)")
    scan.add_argument("--observable", default="N_eff", help="summary column to report (default N_eff)")
    scan.add_argument("--threshold", type=float, default=None,
                      help="print the bracket where the observable crosses this value")
    scan.add_argument("--refine", type=int, default=0,
                      help="rounds of parallel multi-section refinement of the bracket")
    add_map_arguments(scan)
    return scan


def execute(args, comm, say):
    """The deck is checked first (a DeckError before any point runs), then the scan or the map."""
    load(args.deck, args.overrides)
    if args.map:
        from scripts.fig1_map import scan_map

        return scan_map(args, comm, say)
    if not (args.param and args.values):
        say("qke scan: --param and --values are required (or --map for the batched Fig. 1 map)", file=sys.stderr)
        return 2
    from scripts.scan import scan

    return scan(args, comm, say)
