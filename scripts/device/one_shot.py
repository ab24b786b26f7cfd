"""The one-shot GPU session (issue 21): every check and benchmark in its own process with its own
timeout, all figures into one JSON file, `$OUT/device.json` (or ./device.json).

    python -m scripts.device.one_shot            # about 8 minutes on one H100/H200

Parts: the card and the environment; the backend-parametrised tests on the device
(QKE_CUPY=device: tests/lattice/test_gpu_run.py, tests/kernels/test_backend.py with the real
CuPy, tests/kernels/test_gpu_kernels.py); the copy bandwidth and the kernels (`qke bench
kernels`); the implicit and the explicit lattice step at 1D 2^24 and at 256³ (`qke bench
lattice`, `--method dopri5`); two ranks on
one device (a short `qke run` under mpiexec with QKE_DEVICE=0); the batch of single sites on the
GPU (`qke bench batch --backend cupy`, 65 536 sites, with its agreement with the CPU batch);
compute-sanitizer (memcheck) on the kernel tests, where it is installed. A part that fails or
runs out of time is recorded with its exit status and the tail of its output; the others still
run, within a budget of BUDGET_S seconds for the whole session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
BUDGET_S = 510
"""The whole session's time [s]: each part's timeout is cut to what is left of it, and a part
that would start with under MIN_PART_S left is recorded as skipped (rc 125), so that the script
ends within 9 minutes on a machine held for 10."""
MIN_PART_S = 20
DEVICE_TESTS = ["tests/lattice/test_gpu_run.py", "tests/kernels/test_backend.py", "tests/kernels/test_gpu_kernels.py",
                "tests/lattice/test_device_batch.py"]


def parts(out: Path) -> list:
    """(name, command, timeout [s], extra environment) of every part, in the order they run."""
    pytest = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rs"]
    mpiexec = shutil.which("mpiexec") or str(Path(PY).parent / "mpiexec")
    run_deck = [PY, "-m", "scripts.cli", "run", "input/lattice_3d_laptop.yaml", "--progress", "none",
                "--set", "device.backend=cupy", "--set", "time.T_end_MeV=23.9", "--overwrite"]
    sanitizer = shutil.which("compute-sanitizer")
    return [
        ("card", ["nvidia-smi", "--query-gpu=name,memory.total,clocks.max.memory,driver_version",
                  "--format=csv"], 30, {}),
        ("versions", [PY, "-c", "import cupy, numpy, numba; print('cupy', cupy.__version__, 'numpy', "
                      "numpy.__version__, 'numba', numba.__version__, 'devices', "
                      "cupy.cuda.runtime.getDeviceCount())"], 60, {}),
        ("device_tests", pytest + DEVICE_TESTS, 240, {"QKE_CUPY": "device"}),
        ("bench_kernels", [PY, "-m", "scripts.cli", "bench", "kernels", "--backend", "cupy", "--shapes",
                           "16777216", "256x256x256"], 90, {}),
        ("bench_implicit", [PY, "-m", "scripts.cli", "bench", "lattice", "--backend", "cupy", "--shapes",
                            "16777216", "256x256x256", "--steps", "2"], 150, {}),
        ("bench_explicit", [PY, "-m", "scripts.cli", "bench", "lattice", "--backend", "cupy", "--method", "dopri5",
                            "--dt-hubble", "1e-7", "--shapes", "16777216", "256x256x256", "--steps", "3"], 90, {}),
        ("bench_batch", [PY, "-m", "scripts.cli", "bench", "batch", "--backend", "cupy", "--sites", "1024",
                         "--replicate", "64", "--window", "1.95", "--rtol", "1e-4", "--samples", "8"], 150, {}),
        ("two_ranks_one_device", [mpiexec, "-n", "2", *run_deck, "--out", str(out / "two_ranks")], 90,
         {"QKE_DEVICE": "0"}),
        ("sanitizer", ([sanitizer, "--tool", "memcheck", *pytest, "tests/kernels/test_gpu_kernels.py"]
                       if sanitizer else [PY, "-c", "print('compute-sanitizer not installed')"]), 120, {}),
    ]


def run_part(name, command, timeout, env) -> dict:
    """Run one part; its exit status, wall time [s] and the tail of its output."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, **env))
        rc, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, output = 124, f"timed out after {timeout} s\n" + (exc.stdout or b"").decode(errors="replace")[-4000:]
    except OSError as exc:
        rc, output = 127, f"{type(exc).__name__}: {exc}"
    return {"name": name, "rc": rc, "wall_s": round(time.perf_counter() - start, 1), "output": output[-6000:]}


def main() -> int:
    out = Path(os.environ.get("OUT", "."))
    out.mkdir(parents=True, exist_ok=True)
    results = []
    start = time.perf_counter()
    for name, command, timeout, env in parts(out):
        left = BUDGET_S - (time.perf_counter() - start)
        if left < MIN_PART_S:
            results.append({"name": name, "rc": 125, "wall_s": 0.0,
                            "output": f"skipped: {left:.0f} s of the {BUDGET_S} s budget left"})
        else:
            results.append(run_part(name, command, min(timeout, int(left)), env))
        print(f"{name}: rc {results[-1]['rc']} in {results[-1]['wall_s']} s", flush=True)
        (out / "device.json").write_text(json.dumps(results, indent=1))      # kept if a later part hangs
    return 0 if all(r["rc"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
