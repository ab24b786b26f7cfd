"""Run control: periodic checkpoints, a wall-time limit, SIGTERM and SIGINT, decided collectively.

Every rank polls after each output sample and after each accepted step (all ranks take the same
steps); the flags are combined with one max-reduction, so all ranks write the (collective)
checkpoint and stop together, never half of them. Polling after every step means a SIGTERM is
answered within one step, not at the next output sample, which in an oscillation phase can be
an hour away.

SIGINT (Ctrl-C) is answered as SIGTERM: a checkpoint, then a stop. A second SIGINT before the
stop raises KeyboardInterrupt at once (abort without a checkpoint).
"""

from __future__ import annotations

import signal
import threading
import time

import numpy as np


class RunControl:
    """Decide after each sample or step whether to write a checkpoint and whether to stop.

    What the driver uses (a stand-in in tests provides the same): `path`, `poll()` and `reason`.

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
        self.reason = None
        """Why the run stops: 'SIGTERM', 'SIGINT' or 'wall-time limit' (None while it runs)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum, frame):
        if signum == signal.SIGINT and self.terminated:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.terminated = True
        self.reason = signal.Signals(signum).name

    def release(self):
        """Give SIGTERM and SIGINT their default handling back (at the end of the run)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def poll(self):
        """(write_checkpoint, stop) for this sample, the same on every rank."""
        now = time.monotonic()
        flags = (float(self.terminated),
                 float(self.walltime_s > 0 and now - self.start >= self.walltime_s),
                 float(self.every_s > 0 and now - self.last >= self.every_s))
        term, over, due = self.comm.allreduce_array(np.array(flags), "max")
        stop = bool(term or over)
        if stop and self.reason is None:
            self.reason = "SIGTERM or SIGINT on another rank" if term else "wall-time limit"
        write = stop or bool(due)
        if write:
            self.last = now
        return write, stop
