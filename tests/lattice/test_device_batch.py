"""The batch of single sites on a GPU (lattice/device_batch.py, issue 21): one CUDA thread per
site, running the host batch's own loop compiled with numba.cuda.

CI has no GPU: the case (tests/lattice/device_batch_case.py) runs in Numba's CUDA simulator, in a
process of its own (NUMBA_ENABLE_CUDASIM must be set before Numba is imported). With QKE_CUPY=device
(the one-shot device script) it runs on the GPU as well.

What is asserted, and why these tolerances: both runs integrate the same equations with the same
controller at rtol 1e-4. They differ by round-off per step (the simulator's Python arithmetic and
the device's libdevice and FMAs against the host's compiled code), which the controller keeps
from growing unless a step-size decision flips; a flipped decision changes the step sequence,
and two step sequences that each meet rtol give solutions within a few rtol of each other. So:
the same outcome per site (status, samples reached), step counts within 5 %, states within
10 rtol of the site's largest field. In the simulator they agree to ~1e-16, same step counts.
After the first chunk the sites go to threads in decreasing order of cost (the order changes
no site's arithmetic, which the agreement checks).
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

CASE = ROOT / "tests" / "lattice" / "device_batch_case.py"


def _environment(simulator: bool = False) -> dict:
    """This process's environment with the repository on PYTHONPATH and Numba's CUDA simulator on
    or off (a child process reads NUMBA_ENABLE_CUDASIM when it imports Numba)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return env


def _case(simulator: bool) -> dict:
    env = _environment(simulator)
    done = subprocess.run([sys.executable, str(CASE)], capture_output=True, text=True, timeout=600, env=env,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_agrees(result):
    rtol = result["rtol"]
    statuses = []
    for site in result["sites"]:
        host, device = site["status"]
        statuses.append(host)
        assert device == host, site
        assert site["samples"][1] == site["samples"][0], site
        for key in ("accepted", "rejected"):
            h, d = site[key]
            assert abs(d - h) <= 0.05 * max(h, 20), (key, site)
        assert site["max_state_difference"] <= 10 * rtol, site
    assert statuses == [2, 0, 0]                  # the first site stops on integrator.max_steps
    switching = result["sites"][1]
    assert switching["switches"][0] >= 4 and switching["dopri5_accepted"][0] > 0   # both branches ran
    reports = result["reports"]
    assert reports == sorted(reports) and reports[-1] == 3 * 7                   # progress after each chunk
    orders = result["orders"]
    assert orders[0] == [0, 1, 2] and all(sorted(o) == [0, 1, 2] for o in orders)
    assert any(o[-1] == 0 for o in orders[1:])    # the stopped site (no cost) handed out last


def test_the_gpu_batch_in_the_cuda_simulator_agrees_with_the_host_batch():
    result = _case(simulator=True)
    assert result["device"] == "Numba's CUDA simulator"
    _assert_agrees(result)


@pytest.mark.gpu
def test_the_gpu_batch_on_a_device_agrees_with_the_host_batch():
    if os.environ.get("QKE_CUPY") != "device":
        pytest.skip("needs a CUDA device (QKE_CUPY=device)")
    result = _case(simulator=False)
    print(json.dumps(result))
    _assert_agrees(result)


def test_without_a_device_the_gpu_batch_says_so():
    """In a process without the simulator and without a driver, run(gpu=True) raises one clear
    error (the benchmark turns it into a one-line message and exit status 2)."""
    code = ("import sys; from lattice.device_batch import cuda_or_none; "
            "sys.exit(0 if cuda_or_none() is None else 3)")
    env = _environment()
    if subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT).returncode == 3:
        pytest.skip("a CUDA device answers here")
    done = subprocess.run([sys.executable, "-m", "scripts.cli", "bench", "batch", "--backend", "cupy", "--sites", "2"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 2
    assert "no CUDA device answers" in done.stdout + done.stderr


def test_the_gpu_batch_compiles_for_sm_90():
    """numba-cuda compiles the kernel (the model's per-site kernels inside) to PTX for sm_90 with
    no GPU and no driver, where numba-cuda and its NVVM are installed (`pip install numba-cuda
    nvidia-cuda-nvcc-cu12 nvidia-cuda-nvrtc-cu12`); skipped elsewhere."""
    pytest.importorskip("numba_cuda")
    code = (ROOT / "tests" / "lattice" / "device_batch_ptx.py")
    env = _environment()
    done = subprocess.run([sys.executable, str(code)], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    if done.returncode == 5:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stderr[-4000:]
    assert "PTX for sm_90" in done.stdout


def test_a_batch_that_does_not_fit_the_device_says_how_much_it_needs(monkeypatch):
    """Before anything is allocated: the device holds the per-site arrays and one chunk's window
    of the per-sample results (not all samples), and a batch needing more than the device has
    free is a RuntimeError giving both figures (the device's answer is stood in for here)."""
    import importlib.util
    import types

    from lattice import device_batch
    from lattice.batched_sites import batch_of, simulations

    spec = importlib.util.spec_from_file_location("device_batch_case", CASE)
    case = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(case)
    batch = batch_of(simulations(*case.decks()))
    per_sample = sum(getattr(batch, name)[:, :1].nbytes for name in device_batch.SAMPLE_ARRAYS)
    assert device_batch.device_bytes_needed(batch, 5) - device_batch.device_bytes_needed(batch, 2) == 3 * per_sample
    need = device_batch.device_bytes_needed(batch, 2)
    context = types.SimpleNamespace(get_memory_info=lambda: (need - 1, 10 * need))
    monkeypatch.setattr(device_batch.cuda, "current_context", lambda: context, raising=False)
    with pytest.raises(RuntimeError, match=r"3 sites needs about .* GB of device memory \(2 samples per chunk\), "
                                           r".* GB free"):
        device_batch.check_memory(batch, 2)
    context.get_memory_info = lambda: (need, 10 * need)
    device_batch.check_memory(batch, 2)
