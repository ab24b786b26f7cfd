"""`qke plot fig1|fig2|fig3|domains ...`: the paper's figures from run output (scripts/figures.py)."""

from __future__ import annotations

import sys


def add_parser(subparsers):
    """Register `qke plot` and its figures (their options are scripts.figures.add_parser's)."""
    from scripts.figures import add_parser as add_plot_parser

    return add_plot_parser(subparsers)


def execute(args, comm, say):
    """Draw the figure; 2 with a one-line message for unusable input (scripts.figures.PlotError)."""
    from scripts.figures import PlotError, plot

    try:
        return plot(args, say)
    except PlotError as exc:
        say(f"qke plot {args.figure}: error: {exc}", file=sys.stderr)
        return 2
