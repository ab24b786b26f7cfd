"""Shared fixtures: paths, a helper to run decks in memory, and the one way tests launch MPI."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INPUT = ROOT / "input"


@pytest.fixture
def run_deck():
    """Run a deck in memory with overrides; returns the RunResult."""
    from lattice.driver import run
    from scripts.models import load_deck

    def _run(name, *overrides):
        deck, schema = load_deck(INPUT / name, list(overrides) + ["output.progress=none"])
        return run(deck, schema, write=False)

    return _run


def stop_after(path, n):
    """A lattice.control.RunControl that stops the run with a checkpoint at `path` at its n-th
    poll, as a wall-time limit would (restart tests)."""
    from lattice.control import RunControl
    from lattice.parallel import SerialComm

    class StopAfter(RunControl):
        def __init__(self):
            super().__init__(SerialComm(), path)
            self.n = n

        def poll(self):
            self.n -= 1
            return (self.n == 0, self.n == 0)

    return StopAfter()


def whole_and_resumed(deck, schema, checkpoint, polls):
    """(the RunResult of an uninterrupted in-memory run of the deck, that of the same run stopped
    with a checkpoint at its polls-th poll and restored from it), for restart tests."""
    from lattice.driver import Simulation, Stopped

    whole = Simulation(deck, schema, write=False).run()
    with pytest.raises(Stopped):
        Simulation(deck, schema, write=False).run(stop_after(str(checkpoint), polls))
    resumed = Simulation(deck, schema, write=False)
    resumed.restore(checkpoint)
    return whole, resumed.run()


def mpiexec_path():
    """The mpiexec beside this Python (the mpich wheel's) or on PATH; skips the test if none."""
    for candidate in (Path(sys.executable).parent / "mpiexec", shutil.which("mpiexec")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.skip("mpiexec not found (pip install mpi4py mpich)")


def run_mpiexec(n, *argv, timeout=120, cwd=ROOT, program=None, pythonpath=(), env=None):
    """`mpiexec -n n PROGRAM *argv` with the repository (after the folders `pythonpath`) on
    PYTHONPATH (PROGRAM: this Python unless given) and the variables `env` set; returns the
    finished subprocess.CompletedProcess (text, output captured)."""
    cmd = [mpiexec_path(), "-n", str(n), program or sys.executable, *argv]
    env = dict(os.environ, **(env or {}), PYTHONPATH=os.pathsep.join([*map(str, pythonpath), str(ROOT)]))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


# -- the CuPy stand-in ------------------------------------------------------------------------------

FAKECUPY = Path(os.environ.get("QKE_FAKECUPY") or ROOT.parent / "shared" / "tools" / "fakecupy")
"""The stand-in's folder (put on sys.path, `import cupy` gives it): $QKE_FAKECUPY, else
../shared/tools/fakecupy beside the checkout."""

_SWAPPED = ("cupy", "cupyx", "kernels.cupy_ops", "kernels.cupy_kernels")


def _take_cupy_modules():
    """Remove `cupy`, `cupyx` and the modules importing them from sys.modules (and from their
    packages' attributes, which `from package import module` would otherwise find); returns them."""
    taken = {name: sys.modules.pop(name) for name in list(sys.modules)
             if name.split(".")[0] in ("cupy", "cupyx") or name in _SWAPPED}
    for name in taken:
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            vars(sys.modules[parent]).pop(child, None)
    return taken


def _put_back(modules):
    sys.modules.update(modules)
    for name, module in modules.items():
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], child, module)


REAL_CUPY = os.environ.get("QKE_CUPY") == "device"
"""QKE_CUPY=device: the `cupy` fixture gives the installed CuPy on a real GPU (the one-shot device
script, scripts/device/one_shot.py, runs the stand-in's tests so), else the stand-in."""


@pytest.fixture(scope="module")
def cupy():
    """The stand-in as `cupy` for this module; whatever `cupy` was imported before (a real CuPy,
    or none) is put back afterwards, so the other tests see the real one. With QKE_CUPY=device,
    the installed CuPy (skipped without a device)."""
    if REAL_CUPY:
        real = pytest.importorskip("cupy")
        if real.cuda.runtime.getDeviceCount() == 0:
            pytest.skip("QKE_CUPY=device: no CUDA device")
        yield real
        return
    if not (FAKECUPY / "cupy" / "__init__.py").is_file():
        pytest.skip(f"the CuPy stand-in is not at {FAKECUPY}")
    saved = _take_cupy_modules()
    patch = pytest.MonkeyPatch()
    patch.syspath_prepend(str(FAKECUPY))
    patch.delenv("FAKECUPY_FMA", raising=False)    # kernels without FMA contraction: as the project builds them
    try:
        import cupy as stand_in

        assert stand_in.__version__ == "0.0-fake", stand_in.__file__
        yield stand_in
    finally:
        _take_cupy_modules()
        _put_back(saved)
        patch.undo()


@pytest.fixture(scope="module")
def device(cupy):
    """The CuPy backend on the stand-in."""
    from kernels.backend import backend_for

    return backend_for(cupy)
