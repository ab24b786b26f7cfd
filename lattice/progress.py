"""Progress display: a bar on a terminal, periodic log lines with ETA otherwise.

Progress is measured in ln T, the natural clock of an expanding universe. The ETA extrapolates
the recent rate (wall time per unit ln T over the last RATE_WINDOW reports), not the average
since the start: a run through a resonance is fast before it and may be a hundred times slower
in the oscillation phase after it, where the average would promise minutes for hours. No ETA is
shown until a rate has been measured: the window starts at the first report (so start-up and
compilation before it do not count) and needs MIN_RATE_REPORTS reports after it.
"""

from __future__ import annotations

import math
import sys
import time
from collections import deque

RATE_WINDOW = 10
"""Reports (log lines, or bar refreshes) over which the rate behind the ETA is measured."""
MIN_RATE_REPORTS = 2
"""Reports after the first one before an ETA is shown."""


class Progress:
    """Report progress of a run from T_start down to T_end [MeV].

    Args:
        T_start, T_end: temperature span [MeV].
        mode: 'auto' (bar on a TTY, log lines otherwise), 'bar', 'log' or 'none'.
        interval_s: seconds between log lines (and bar refreshes, at most 10 per second).
        stream: where to write (stderr by default).
    """

    def __init__(self, T_start, T_end, mode="auto", interval_s=10.0, stream=None, enabled=True):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "log"
        self.mode = mode if enabled else "none"
        self.span = math.log(T_start / T_end)
        self.T_start = T_start
        self.interval = 0.1 if self.mode == "bar" else interval_s
        self.t0 = time.monotonic()
        self.last = self.t0
        self._recent = deque(maxlen=RATE_WINDOW + 1)   # (wall time, fraction covered) per report

    def fraction(self, T):
        """Fraction of the ln T span covered at temperature T."""
        return min(1.0, max(0.0, math.log(self.T_start / T) / self.span))

    def update(self, T, info=""):
        """Report that the run has reached temperature T [MeV]; info is appended."""
        if self.mode == "none":
            return
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        frac = self.fraction(T)
        elapsed = now - self.t0
        self._recent.append((now, frac))
        eta = self.eta()
        text = (f"{100 * frac:5.1f}%  T = {T:8.4f} MeV  {info}  elapsed {_clock(elapsed)}"
                + (f"  ETA {_clock(eta)}" if math.isfinite(eta) else ""))
        if self.mode == "bar":
            width = 30
            filled = int(width * frac)
            self.stream.write("\r[" + "#" * filled + "." * (width - filled) + "] " + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def eta(self):
        """Seconds left at the rate of the last RATE_WINDOW reports (nan until it is measured)."""
        if len(self._recent) < MIN_RATE_REPORTS + 1:
            return float("nan")
        (w0, f0), (w1, f1) = self._recent[0], self._recent[-1]
        if f1 <= f0:
            return float("nan")
        return (w1 - w0) * (1.0 - f1) / (f1 - f0)

    def close(self):
        """End the bar line."""
        if self.mode == "bar":
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds):
    if not math.isfinite(seconds):
        return "--:--"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
