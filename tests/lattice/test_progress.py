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


def test_no_eta_until_the_rate_is_measured_and_start_up_does_not_count(monkeypatch):
    """A run that spends its first 30 s compiling and then covers 10 % of the span per second:
    the first reports show no ETA at all (not hours from the 30 s start-up), and once two reports
    have followed the first, the ETA is the measured rate's (80 % left at 10 %/s: 8 s)."""
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    bar = progress.Progress(30.0, 10.0, mode="log", interval_s=0.0, stream=stream)
    span = math.log(3.0)
    clock[0] = 30.0                                   # start-up before the first report
    bar.update(30.0 * math.exp(-1e-6 * span))
    clock[0] += 1.0
    bar.update(30.0 * math.exp(-0.1 * span))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and not any("ETA" in line for line in lines)
    clock[0] += 1.0
    bar.update(30.0 * math.exp(-0.2 * span))
    assert abs(bar.eta() - 8.0) < 0.01               # 80 % left at 10 % per second
    assert stream.getvalue().splitlines()[-1].endswith("ETA 00:08")
