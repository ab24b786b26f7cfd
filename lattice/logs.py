"""Rank-aware logging for runs: rank 0 reports at INFO, the other ranks only warnings and
errors (each prefixed with its rank), all on the process's current stderr.

Modules log through `logging.getLogger(__name__)`; entry points call `setup(rank)` once per
command (repeated calls replace the handler, so tests may call it again). QKE_LOG_LEVEL
(DEBUG, INFO, WARNING, ...) overrides the level on every rank.
"""

from __future__ import annotations

import logging
import os
import sys

ROOT = "qke"
"""Name of the handler this module installs (found again by it on a repeated setup)."""


class _CurrentStderr(logging.StreamHandler):
    """A stream handler writing to whatever sys.stderr is at the time of the record."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):   # StreamHandler.__init__ assigns it; the property ignores it
        pass


def setup(rank: int = 0, size: int = 1) -> None:
    """Route the project's log records to stderr: INFO and above on rank 0, WARNING and above
    elsewhere (QKE_LOG_LEVEL overrides both)."""
    level = os.environ.get("QKE_LOG_LEVEL") or ("INFO" if rank == 0 else "WARNING")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == ROOT]:
        root.removeHandler(handler)
    handler = _CurrentStderr()
    handler.set_name(ROOT)
    prefix = f"[rank {rank}] " if size > 1 else ""
    handler.setFormatter(logging.Formatter(prefix + "%(message)s"))
    for name in ("lattice", "physics", "scripts", "kernels"):
        logging.getLogger(name).setLevel(level)
    root.addHandler(handler)
