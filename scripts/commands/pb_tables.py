"""`qke pb-tables [--quick]`: the Pauli–Boltzmann validation tables (scripts/pb_tables.py)."""

from __future__ import annotations


def add_parser(subparsers):
    """Register `qke pb-tables`."""
    tables = subparsers.add_parser("pb-tables", help="run the Pauli–Boltzmann validation cases and print "
                                   "measured values against the paper's")
    tables.add_argument("--quick", action="store_true", help="small grids, skip the 3-flavour scan")
    tables.add_argument("--n-points", type=int, default=None, help="momentum points (default: decks')")
    return tables


def execute(args, comm, say):
    """Run the cases (spread over comm's ranks) and print the tables."""
    from scripts.pb_tables import tables

    return tables(args, comm, say)
