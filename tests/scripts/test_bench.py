"""`qke bench homogeneous` runs end to end on a short window (figures are not asserted)."""

import pytest

from conftest import INPUT
from scripts.cli import main


def test_bench_command_prints_the_comparison(capsys):
    rc = main(["bench", "homogeneous", "--deck", str(INPUT / "homogeneous_A.yaml"), "--T-end", "64",
               "--ref-rtol", "1e-8"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "project, method auto" in out and "method rodas4" in out and "SciPy Radau" in out and "speed-up:" in out
    assert "final signs agree" in out


@pytest.mark.parametrize("method", ["rodas4", "dopri5"])
def test_bench_lattice_prints_throughput_and_bandwidth(capsys, method):
    """`qke bench lattice` on small shapes, implicit and explicit: per shape a line with
    site-updates/s, (Rodas4) GMRES iterations and the step's error norm, and a line with both
    traffic figures against the copy bandwidth."""
    import re

    step = "1e-3" if method == "rodas4" else "1e-7"
    rc = main(["bench", "lattice", "--shapes", "256", "4x4x4", "--steps", "1", "--method", method,
               "--dt-hubble", step])
    out = capsys.readouterr().out
    assert rc == 0
    assert "copy bandwidth, all ranks at once" in out
    lines = [line for line in out.splitlines() if line.lstrip().startswith("shape")]
    assert len(lines) == 2
    for line in lines:
        rate = float(re.search(r"([0-9.e+]+) site-updates/s", line).group(1))
        assert rate > 0 and method in line and ("GMRES" in line) == (method == "rodas4")
        assert float(re.search(r"step error norm ([0-9.e+-]+)", line).group(1)) <= 1.0
    traffic = [line for line in out.splitlines() if "traffic per site-update" in line]
    assert len(traffic) == 2
    for line in traffic:
        assert float(re.search(r"implementation ([0-9.]+) kB", line).group(1)) > 0.128


def test_bench_line_prints_each_compiled_branch(capsys):
    """`qke bench line` on 32 cells: a line per branch of the compiled line loop (it raised an
    AttributeError since the line stepper's field was renamed cell_field)."""
    assert main(["bench", "line", "--cells", "32", "--repeat", "1", "--no-python"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "µs per attempt" in line]
    assert [line.split()[1] for line in lines] == ["rodas4", "dopri5", "auto"]


def test_bench_kernels_prints_both_kernels_and_their_traffic(capsys):
    """`qke bench kernels` (NumPy): per shape one line per kernel with site-updates/s and the
    compulsory traffic: the Laplacian reads and writes 8 fields once (2 × 8 B × 8 = 128 B/site),
    the block product reads 64 + 8 numbers and writes 8 (640 B/site)."""
    import re

    rc = main(["bench", "kernels", "--shapes", "512", "4x4x4", "--repeats", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "host copy bandwidth" in out
    lines = [line for line in out.splitlines() if "site-updates/s" in line]
    assert len(lines) == 4
    assert all(float(re.search(r"([0-9.e+]+) site-updates/s", line).group(1)) > 0 for line in lines)
    assert all("compulsory 128 B/site" in line for line in lines if "laplacian" in line)
    assert all("compulsory 640 B/site" in line for line in lines if "block" in line)


def test_bench_kernels_without_a_device_is_a_clear_error(capsys):
    import importlib.util

    if importlib.util.find_spec("cupy") is not None:
        import pytest

        pytest.skip("CuPy is installed here")
    rc = main(["bench", "kernels", "--backend", "cupy", "--shapes", "64"])
    assert rc == 2
    assert "no usable CuPy device" in capsys.readouterr().err

def test_work_precision_measures_both_solvers_against_the_reference():
    """The work-precision mode of `qke bench lattice --mol N --rtols ...` on 4 cells and a
    24 → 23.95 MeV window: one row per solver and rtol, errors measured against the tight MOL
    reference, and a speed-up wherever both solvers reach the target error. The project at rtol
    1e-6 must agree with the independent reference to ≤ 1e-4 of max|L| (at 64 cells, rtol 1e-6
    runs agree with it to ≤ 3.6e-7; 1e-4 leaves room for the 4-cell window's own figure)."""
    from scripts.bench_lattice import work_precision

    lines = []
    table = work_precision([4], lines.append, [1e-3, 1e-6], [1e-3], 1e-8, targets=(1e-2,), T_end=23.95)
    rows = [line for line in lines if "rtol" in line and "error" in line]
    assert len(rows) == 3
    errors = [float(line.split("error ")[1].split()[0]) for line in rows]
    assert errors[-1] <= 1e-4
    assert set(table) == {(4, 1e-2)}
