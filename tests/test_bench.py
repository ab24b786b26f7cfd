"""`qke bench homogeneous` runs end to end on a short window (figures are not asserted)."""

from conftest import INPUT
from scripts.cli import main


def test_bench_command_prints_the_comparison(capsys):
    rc = main(["bench", "homogeneous", "--deck", str(INPUT / "homogeneous_A.yaml"), "--T-end", "64",
               "--ref-rtol", "1e-8"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "project (Rodas4)" in out and "SciPy Radau" in out and "speed-up:" in out
    assert "final signs agree" in out
