"""The switch between Rodas4 and DOPRI5 on a GMRES lattice (lattice/switching.py: `integrator.method:
auto` with stage_solver gmres, any dimension and backend): its ρ estimate against the power
iteration of the dense coupled Jacobian, a switched run against a tight Rodas4 solution, and a
restart in the middle of an explicit run. (Rank counts and backends: test_local_comm.py and
test_gpu_run.py run the switch bitwise against one rank and against NumPy.)"""

import math

import numpy as np
import pytest

from conftest import INPUT, stop_after
from lattice.driver import Simulation, Stopped, run
from scripts.models import load_deck

WINDOW = ["grid.shape=[4, 3]", "seed.kind=sine", "seed.amplitude=5e-11", "time.T_start_MeV=24",
          "time.T_end_MeV=23.99", "output.samples=3", "output.snapshots=0", "output.progress=none"]


def _deck(*overrides):
    return load_deck(INPUT / "lattice_1d_laptop.yaml", WINDOW + list(overrides))


def _periodic_laplacian(shape, spacing):
    """The periodic 5-point (2D) Laplacian on a C-ordered grid, as a dense matrix [1/length²]."""
    cells = int(np.prod(shape))
    index = np.arange(cells).reshape(shape)
    L = np.zeros((cells, cells))
    for axis, dx in enumerate(spacing):
        for step in (1, -1):
            L[index.reshape(-1), np.roll(index, step, axis=axis).reshape(-1)] += 1.0 / dx ** 2
        L[index.reshape(-1), index.reshape(-1)] -= 2.0 / dx ** 2
    return L


def test_radius_is_the_power_iteration_of_the_dense_coupled_jacobian():
    """ρ(J_local + K∇²) as the stepper estimates it (products scaled by host numbers, two norms
    at the end) equals the textbook normalised power iteration on the dense matrix from the same
    start vector, the mean growth over the second half of 16 products, to 1e-10 (only rounding
    differs); the dense matrix is built here from the model's blocks and K and a hand-written
    Laplacian. The estimate is a lower bound of the largest |eigenvalue| here, within 2×."""
    from lattice.assembly import assemble
    from lattice.parallel import SerialComm

    deck, schema = _deck()
    parts = assemble(deck, schema.spec, SerialComm())
    stepper, y = parts.stepper, parts.y
    system = stepper.system
    t = system.local.cosmology.time(24.0)
    T = system.local.temperature(t)
    n, shape = y.shape[0], y.shape[1:]
    cells = int(np.prod(shape))
    blocks = system.local.jac(t, y).reshape(cells, n, n)
    J = np.zeros((n * cells, n * cells))        # field-major: index = field * cells + cell
    for c in range(cells):
        J[c::cells, c::cells] = blocks[c]
    J += np.kron(system.diffusion.matrix(T), _periodic_laplacian(shape, system.lattice.spacing))
    v = np.ravel(stepper._start_vector(y))
    growth = 0.0
    for it in range(16):
        w = J @ v
        if it >= 8:
            growth += math.log(np.linalg.norm(w) / np.linalg.norm(v))
        v = w / np.linalg.norm(w)
    reference = math.exp(growth / 8)
    got = stepper.radius(t, y)
    assert got == pytest.approx(reference, rel=1e-10)
    largest = np.abs(np.linalg.eigvals(J)).max()
    assert largest / 2 <= got <= largest * (1 + 1e-12)


def test_a_switched_run_follows_a_tight_rodas4_solution():
    """method auto switches to DOPRI5 here (most steps) and back on its probes. Against Rodas4 at
    rtol 1e-8, the observables of the switched run at rtol 1e-3 are within that rtol, and no
    further off than Rodas4 throughout at the same rtol (whose steps the switched run takes
    between probes; its DOPRI5 steps run at rtol × explicit_rtol_factor = 1e-5)."""
    switched = run(*_deck("integrator.rtol=1e-3", "integrator.probe_steps=50"), write=False)
    implicit = run(*_deck("integrator.rtol=1e-3", "integrator.method=rodas4"), write=False)
    reference = run(*_deck("integrator.rtol=1e-8", "integrator.method=rodas4"), write=False)
    stats = switched.stats
    assert stats["switches"] >= 2 and stats["dopri5_accepted"] > stats["rodas4_accepted"] > 0
    for name in ("L", "L_abs", "L_nutau", "sterile_over_active"):
        want = reference.series[name][-1]
        error = abs(switched.series[name][-1] / want - 1)
        assert error <= 1e-3 and error <= abs(implicit.series[name][-1] / want - 1), name


def test_a_restart_in_an_explicit_run_takes_the_uninterrupted_steps(tmp_path):
    """Stopped with a checkpoint after 100 accepted steps, inside a DOPRI5 run, and restored: the
    final state, the statistics and the time series are bitwise those of the uninterrupted run
    (the checkpoint carries the switching state: branch, counts, the guard's memory, h·ρ)."""
    deck, schema = _deck("integrator.rtol=1e-3", "integrator.probe_steps=50")
    whole = Simulation(deck, schema, write=False).run()
    stopped = Simulation(deck, schema, write=False)
    with pytest.raises(Stopped):
        stopped.run(stop_after(str(tmp_path / "checkpoint.h5"), 100))
    assert stopped.stepper.branch == "dopri5"
    resumed = Simulation(deck, schema, write=False)
    resumed.restore(tmp_path / "checkpoint.h5")
    result = resumed.run()
    assert np.array_equal(result.state, whole.state)
    def steps(stats):            # the GMRES counters too: the checkpoint carries them
        return {k: v for k, v in stats.items() if k != "wall_s"}

    assert steps(result.stats) == steps(whole.stats) and whole.stats["krylov_iterations"] > 0
    for name, values in whole.series.items():
        assert np.array_equal(result.series[name], values, equal_nan=True), name
