"""What a run ends with: its result, or Stopped when it stopped early after a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RunResult:
    """What a run produced: sampled series, final state (this rank's block), statistics.

    T [MeV] and t [MeV^-1] of the samples; series: observable name -> values; fields: the state
    at every sample of a single site (n_fields, samples), else None; stats and summary: dicts."""

    T: np.ndarray
    t: np.ndarray
    series: dict
    fields: np.ndarray
    state: np.ndarray
    stats: dict
    summary: dict = field(default_factory=dict)


class Stopped(Exception):
    """The run stopped early (SIGTERM, SIGINT or wall-time limit) after writing a checkpoint."""

    def __init__(self, path, T, reason=None):
        why = f" ({reason})" if reason else ""
        super().__init__(f"stopped{why} at T = {T:.6g} MeV; checkpoint written to {path}")
        self.path, self.T, self.reason = path, T, reason
