"""Run control: periodic checkpoints, a wall-time limit and SIGTERM, decided collectively.

Every rank polls after each output sample and after each accepted step (all ranks take the same
steps); the flags are combined with one max-reduction, so all ranks write the (collective)
checkpoint and stop together, never half of them. Polling after every step means a SIGTERM is
answered within one step, not at the next output sample, which in an oscillation phase can be
an hour away.
"""

from __future__ import annotations

import signal
import threading
import time

import numpy as np


class RunControl:
    """Decide after each sample or step whether to write a checkpoint and whether to stop.

    Args:
        comm: lattice.parallel communicator.
        path: checkpoint file.
        every_s: wall seconds between checkpoints (0: none besides stopping).
        walltime_s: stop with a checkpoint once this wall time has passed (0: no limit).
    """

    def __init__(self, comm, path, every_s=0.0, walltime_s=0.0):
        self.comm, self.path = comm, path
        self.every_s, self.walltime_s = every_s, walltime_s
        self.start = self.last = time.monotonic()
        self.terminated = False
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum, frame):
        self.terminated = True

    def poll(self):
        """(write_checkpoint, stop) for this sample, the same on every rank."""
        now = time.monotonic()
        flags = (float(self.terminated),
                 float(self.walltime_s > 0 and now - self.start >= self.walltime_s),
                 float(self.every_s > 0 and now - self.last >= self.every_s))
        term, over, due = self.comm.allreduce_array(np.array(flags), "max")
        stop = bool(term or over)
        write = stop or bool(due)
        if write:
            self.last = now
        return write, stop
