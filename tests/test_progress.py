"""The progress log's ETA follows the recent rate, not the average since the start."""

import io
import math

import lattice.progress as progress


def test_eta_uses_the_recent_rate_after_a_slowdown(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    T_start, T_end = 30.0, 10.0
    bar = progress.Progress(T_start, T_end, mode="log", interval_s=0.0, stream=stream)

    def report_at(frac):
        bar.update(T_start * math.exp(-frac * math.log(T_start / T_end)))

    for k in range(1, 11):          # fast: 5 % of the span per second, to 50 %
        clock[0] += 1.0
        report_at(0.05 * k)
    for k in range(1, 11):          # then 10x fewer per 10 s: 1 % per 10 s, to 60 %
        clock[0] += 10.0
        report_at(0.5 + 0.01 * k)
    # 40 % left at 1 % per 10 s: 400 s (the average since the start, 110 s for 60 %, would say 73 s)
    assert abs(bar.eta() - 400.0) < 1.0
    assert stream.getvalue().splitlines()[-1].endswith("ETA 06:40")
