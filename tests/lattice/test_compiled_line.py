"""The compiled line engine (lattice/compiled_line.py): its Rodas4 branch against the Python
Rodas4 with the direct line solve, the explicit branch's invariants, and exact continuation
(chunks, restarts) across switches between the branches.

The accuracy of the explicit branch and of the switching is checked against the independent
method-of-lines reference in tests/physics/test_lattice_reference.py, and over the wall-held phase of
point B in tests/lattice/test_explicit_branch.py.
"""

import h5py
import numpy as np
import pytest

from conftest import INPUT
from lattice import compiled_line
from lattice.compiled_line import DOPRI5, RODAS4, CompiledLineStepper
from lattice.driver import Simulation, Stopped, run
from lattice.rosenbrock import Rodas4
from scripts.models import load_deck
from physics.qke import P0M
from test_restart import TermAfter

WINDOW = ["grid.shape=[16]", "seed.kind=sine", "physics.L0=1e-10", "seed.amplitude=5e-11",
          "time.T_start_MeV=24", "time.T_end_MeV=23.9", "output.samples=3", "output.snapshots=2",
          "output.progress=none", "integrator.atol_minus=1e-20", "integrator.stage_solver=direct"]


def _simulation(*extra):
    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml", WINDOW + list(extra))
    return Simulation(deck, schema, write=False), deck


@pytest.mark.parametrize("bc", ["periodic", "neumann", "offdiag_zero"])
def test_rodas4_branch_matches_the_python_rodas4_with_the_direct_line_solve(bc):
    """Same method, tableau, controller and exact stage solve: the same accepted and rejected
    steps, and states equal to round-off. The two differ only in the order of a few sums (the
    Laplacian's and the diffusion matrix's), a relative 1e-16 per evaluation; over ~100 steps of
    a contracting system the measured difference is ~1e-14 of the field's largest value, and
    1e-10 leaves room for the growth of round-off that a sign flip of L would amplify."""
    sim, deck = _simulation(f"grid.bc={bc}", "integrator.method=rodas4")
    assert isinstance(sim.stepper, CompiledLineStepper)
    python = Rodas4(sim.stepper.system, sim.system.error_norm(deck.integrator.rtol, deck.integrator))
    t0, t1 = sim.samples.t[0], sim.samples.t[-1]
    h0 = deck.integrator.dt_initial * t0
    y_c, h_c = sim.stepper.advance(t0, sim.y, t1, h0)
    y_p, h_p = python.advance(t0, sim.y.copy(), t1, h0)
    assert (sim.stepper.n_accepted, sim.stepper.n_rejected) == (python.n_accepted, python.n_rejected)
    assert sim.stepper.n_accepted > 30
    scale = np.abs(y_p).max(axis=1, keepdims=True)
    assert np.all(np.abs(y_c - y_p) <= 1e-10 * scale)
    assert h_c == pytest.approx(h_p, rel=1e-6)


def _advance(chunk, probe_steps=40, method="auto"):
    sim, _ = _simulation(f"integrator.method={method}")
    stepper = sim.stepper
    stepper.chunk = chunk
    stepper.controls[4] = probe_steps
    t0, t1 = sim.samples.t[0], sim.samples.t[-1]
    y, h = stepper.advance(t0, sim.y, t1, 1e-6 * t0)
    return y, h, stepper


def test_the_steps_do_not_depend_on_the_chunk_across_switches():
    """A call returns to Python every `chunk` accepted steps (progress, stop requests); the
    branch, the switching counters and the step carry over exactly, so any chunk gives the bits
    of one uninterrupted call, here across switches both ways (a probe every 40 explicit steps)."""
    y_a, h_a, a = _advance(chunk=10**9)
    y_b, h_b, b = _advance(chunk=7)
    assert a.counts[4] >= 4                              # switched both ways, twice
    assert a.counts[0] > 0 and a.counts[2] > 0
    np.testing.assert_array_equal(y_a, y_b)
    assert h_a == h_b
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.state, b.state)


@pytest.mark.parametrize("method", ["dopri5", "auto"])
def test_explicit_branch_conserves_the_integral_of_P0_minus(method):
    """P0⁻ has no local source; the flux-form Laplacian moves it and the per-step shift keeps
    its total to round-off: of the order of ε × cells × max|P0⁻| per step, not growing."""
    sim, _ = _simulation(f"integrator.method={method}")
    y0 = sim.y.copy()
    y, _, stepper = _advance(chunk=10**9, method=method)
    assert stepper.counts[2] > 0
    moved = np.abs(y[P0M] - y0[P0M]).sum()
    assert moved > 0
    total0, total = y0[P0M].sum(), y[P0M].sum()
    assert abs(total - total0) <= 64 * np.finfo(float).eps * np.abs(y[P0M]).sum()


def test_methods_rodas4_and_dopri5_keep_to_their_branch():
    _, _, rodas = _advance(chunk=10**9, method="rodas4")
    _, _, dopri = _advance(chunk=10**9, method="dopri5")
    assert rodas.counts[2] == rodas.counts[3] == rodas.counts[4] == 0 and rodas.state[0] == RODAS4
    assert dopri.counts[0] == dopri.counts[1] == dopri.counts[4] == 0 and dopri.state[0] == DOPRI5


def test_a_run_stopped_between_samples_after_switches_restarts_bitwise(tmp_path, monkeypatch):
    """The checkpoint carries the branch, the counters of both switching tests and h: a run
    stopped inside a sample interval after several switches and restarted equals the
    uninterrupted run bit for bit, time series included (integrator column, h·ρ)."""
    monkeypatch.setattr(compiled_line, "CHUNK", 25)
    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml", WINDOW + ["integrator.probe_steps=40"])
    whole = run(deck, schema, out_dir=tmp_path / "whole")
    assert whole.stats["switches"] >= 4
    ck = tmp_path / "part" / "checkpoint.h5"
    with pytest.raises(Stopped):
        run(deck, schema, out_dir=tmp_path / "part", control=TermAfter(str(ck), 9))
    with h5py.File(ck) as f:
        import json

        meta = json.loads(f.attrs["meta"])
    assert meta["next_sample"] == 1 and "t_resume" in meta and meta["switch_counts"][4] >= 1
    resumed = run(deck, schema, out_dir=tmp_path / "part", restart=str(ck))
    np.testing.assert_array_equal(resumed.state, whole.state)
    for key in ("accepted", "rejected", "rodas4_accepted", "dopri5_accepted", "switches"):
        assert resumed.stats[key] == whole.stats[key]
    with h5py.File(tmp_path / "whole" / "timeseries.h5") as a, h5py.File(tmp_path / "part" / "timeseries.h5") as b:
        for key in ("T", "L", "L_abs", "sterile_over_active", "steps", "integrator", "explicit_steps", "h_rho"):
            np.testing.assert_array_equal(a[key][:], b[key][:])


def test_a_checkpoint_of_the_python_stepper_is_refused_by_the_line_engine(tmp_path):
    """A run of stage_solver = gmres cannot be continued with the direct solver's engine: the
    deck differs (stage_solver), and the restart is refused before any output."""
    from lattice.checkpoint import RestartError

    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml", [w for w in WINDOW if "stage_solver" not in w])
    ck = tmp_path / "a" / "checkpoint.h5"
    with pytest.raises(Stopped):
        run(deck, schema, out_dir=tmp_path / "a", control=TermAfter(str(ck), 3))
    deck2, schema2 = load_deck(INPUT / "lattice_1d_laptop.yaml", WINDOW)
    with pytest.raises(RestartError):
        run(deck2, schema2, out_dir=tmp_path / "a", restart=str(ck))
