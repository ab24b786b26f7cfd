"""The compiled single-site path (issue 19): per-site kernels against the NumPy model, the
compiled Rodas4 loop against the Python Rodas4, exact continuation, and its use by `qke run`.

Tolerances:
- kernels: they do the NumPy path's operations in its order, in plain IEEE double arithmetic (no
  fastmath, so no contraction into fused multiply-adds), and are bitwise equal to it where this
  was written. What a compiler may still change is T(t) = (…)^½ (pow or sqrt: ≤ 1 ulp) and thus
  the power laws T⁵ (≤ ~5 ulp); every output is a sum of ≤ 4 such products, so each agrees to
  ≤ ~1e-15 of the sum of its terms' magnitudes. We allow 1e-14 of that magnitude.
- steppers: the stage systems are solved differently (LU in the loop vs LAPACK's inverse), so
  the error estimates differ in round-off and an attempt whose error lies within round-off of 1
  may be decided differently; then the step sequences part. Both are then rtol integrations of
  the same smooth problem (above the resonance), so they must differ by less than one local
  tolerance (the model's error norm of their difference ≤ 1) and their step counts by ≪ 1 %.
"""

import numpy as np
import pytest

from conftest import INPUT
from lattice.compiled_rodas import (CompiledSiteStepper, compiled_site_stepper, lu_factor, lu_solve)
from lattice.rosenbrock import IntegrationError, Rodas4
from physics import qke_kernels as qk
from physics.qke_model import build_local_system
from scripts.models import load_deck
from physics.qke import MINUS_FIELDS, P0M, P0P, PXM, PXP, PYM, PYP, PZM, PZP, LocalCoefficients

ROUNDOFF = 1e-14


def _system(deck_name="homogeneous_B.yaml", *overrides):
    deck, _ = load_deck(INPUT / deck_name, list(overrides))
    system = build_local_system(deck)
    i = deck.integrator
    return deck, system, system.error_norm(i.rtol, i)


def _states(system, n, seed=7):
    """Plausible single-site states: near equilibrium (P0⁺ ≈ Pz⁺ ≈ 2), small coherences, a
    minus sector of L-sized fields (P0⁻ ≠ 0 as after diffusion or from a checkpoint)."""
    rng = np.random.default_rng(seed)
    scale = np.array([1e-3, 1e-9, 1e-4, 1e-12, 1e-4, 1e-12, 1e-3, 1e-9])
    return [system.initial_state((1,))[:, 0] + rng.normal(size=8) * scale for _ in range(n)]


def _rhs_magnitude(y, k: LocalCoefficients, L0):
    """Per component, the sum of the magnitudes of the terms of f (the round-off scale)."""
    a = np.abs(y)
    VL = abs(k.kL) * (abs(L0) + 0.375 * (a[P0M] + a[PZM]))
    C = 2.0 * abs(k.Gamma) * (1.0 + 0.0625 * ((a[P0P] + a[PZP]) ** 2 + (a[P0M] + a[PZM]) ** 2))
    V0, D, Vx = abs(k.V0), abs(k.D), abs(k.Vx)
    m = np.empty(8)
    m[P0P], m[P0M] = C, 0.0
    m[PXP] = V0 * a[PYP] + VL * a[PYM] + D * a[PXP]
    m[PXM] = V0 * a[PYM] + VL * a[PYP] + D * a[PXM]
    m[PYP] = V0 * a[PXP] + VL * a[PXM] + D * a[PYP] + Vx * a[PZP]
    m[PYM] = V0 * a[PXM] + VL * a[PXP] + D * a[PYM] + Vx * a[PZM]
    m[PZP] = Vx * a[PYP] + C
    m[PZM] = Vx * a[PYM]
    return m


TEMPERATURES = [68.81, 31.94, 16.0, 15.9, 10.0, 3.0]


@pytest.mark.parametrize("deck_name", ["homogeneous_A.yaml", "homogeneous_B.yaml"])
def test_kernels_compute_what_the_numpy_model_computes(deck_name):
    _, s, norm = _system(deck_name)
    p = qk.params(s, norm.rtol, norm.atol_plus, norm.atol_minus)
    rng = np.random.default_rng(3)
    for T, y in zip(TEMPERATURES, _states(s, len(TEMPERATURES))):
        t = s.cosmology.time(T)
        T_t = s.temperature(t)
        assert qk.temperature_at(t, p) == pytest.approx(T_t, rel=ROUNDOFF)
        k, rates = s.coefficients(T_t), s.coefficient_rates(T_t)
        a, b = qk.coefficients_at(T_t, p)
        np.testing.assert_allclose(a, k, rtol=ROUNDOFF, atol=0)
        np.testing.assert_allclose(b, rates, rtol=ROUNDOFF, atol=0)
        Y = y[:, None]
        for ours, theirs, rate in ((qk.rhs_at(t, y, p), s.f(t, Y)[:, 0], k),
                                   (qk.dfdt_at(t, y, p), s.dfdt(t, Y)[:, 0], rates)):
            assert np.all(np.abs(ours - theirs) <= ROUNDOFF * _rhs_magnitude(y, rate, s.L0))
        J, J_ref = qk.jac_at(t, y, p), s.jac(t, Y)[0]
        scale = np.abs(J_ref)
        scale[PYM, PZM] = abs(k.Vx) + 0.375 * abs(k.kL * y[PXP])   # the one entry with two terms
        assert np.all(np.abs(J - J_ref) <= ROUNDOFF * scale)
        # the error norm: errors of several sizes, y_new near y
        for size in (1e-16, 1e-10, 1e-6):
            e = rng.normal(size=8) * size * np.abs(y + 1e-9)
            y_new = y + rng.normal(size=8) * 1e-6 * np.abs(y)
            assert qk.error_at(e, y, y_new, p) == pytest.approx(norm(e[:, None], Y, y_new[:, None]),
                                                                rel=ROUNDOFF)


def test_error_kernel_is_nan_when_the_error_is():
    _, s, norm = _system()
    p = qk.params(s, norm.rtol, norm.atol_plus, norm.atol_minus)
    y = s.initial_state((1,))[:, 0]
    e = np.zeros(8)
    e[PYM] = np.nan
    assert np.isnan(qk.error_at(e, y, y, p))
    e[PYM] = np.inf                     # not finite either: the step is rejected all the same
    assert not np.isfinite(qk.error_at(e, y, y, p))


def test_lu_with_partial_pivoting_solves_like_lapack():
    rng = np.random.default_rng(5)
    for _ in range(20):
        G = rng.normal(size=(8, 8))
        G[0, 0] = 0.0                       # pivoting needed
        b = rng.normal(size=8)
        LU, piv, x = G.copy(), np.empty(8, dtype=np.int64), b.copy()
        lu_factor(LU, piv)
        lu_solve(LU, piv, x)
        np.testing.assert_allclose(G @ x, b, rtol=0, atol=1e-12 * np.abs(G).sum(1).max() * np.abs(x).max())


def _sample_times(s, T0, T1, n):
    return s.cosmology.time(np.geomspace(T0, T1, n))


def _integrate(stepper, s, ts, h):
    y, out = s.initial_state((1,)), []
    for a, b in zip(ts[:-1], ts[1:]):
        y, h = stepper.advance(a, y, b, h)
        out.append(y[:, 0])
    return np.array(out), h


def test_compiled_stepper_follows_the_python_rodas4():
    """Deck B from 2 T_res to just above T_res (through the onset of the oscillations, no chaos
    yet): same method, so the same steps up to round-off decisions, and a difference below one
    local tolerance at every sample."""
    deck, s, norm = _system("homogeneous_B.yaml")
    ts = _sample_times(s, deck.time.T_start_MeV, 16.2, 41)
    h0 = deck.integrator.dt_initial * ts[0]
    compiled = compiled_site_stepper(s, norm)
    assert isinstance(compiled, CompiledSiteStepper)
    python = Rodas4(s, norm)
    yc, hc = _integrate(compiled, s, ts, h0)
    yp, hp = _integrate(python, s, ts, h0)
    print(f"compiled {compiled.n_accepted} accepted, {compiled.n_rejected} rejected; "
          f"Python {python.n_accepted}, {python.n_rejected}")
    assert abs(compiled.n_accepted - python.n_accepted) <= 0.002 * python.n_accepted
    assert abs(compiled.n_rejected - python.n_rejected) <= 0.02 * python.n_rejected + 2
    worst = max(norm((a - b)[:, None], a[:, None], b[:, None]) for a, b in zip(yc, yp))
    print(f"largest difference: {worst:.3g} local tolerances")
    assert worst <= 1.0
    assert np.all(yc[:, P0M] == 0.0)          # locally constant: exactly kept


@pytest.mark.parametrize("method", ["rodas4", "auto"])
def test_compiled_stepper_is_an_exact_continuation_and_keeps_symmetries(method):
    """Restarting from (t, y, h) and the switching state at a sample takes exactly the steps of
    the uninterrupted run (deck B through its oscillation phase, 16 → 14 MeV; with method auto
    across thousands of switches: probes every 64 explicit steps); flipping L0 and the minus
    fields flips them bitwise."""
    deck, s, norm = _system("homogeneous_B.yaml")
    ts = _sample_times(s, 16.0, 14.0, 21)
    h0 = 1e-3 * ts[0]
    controls = dict(method=method, probe_steps=64)
    whole = compiled_site_stepper(s, norm, **controls)
    y, h = s.initial_state((1,)), h0
    for a, b in zip(ts[:-1], ts[1:]):
        y, h = whole.advance(a, y, b, h)
        if b == ts[4]:
            y_mid, h_mid, saved = y.copy(), h, whole.checkpoint_state()
            switches_mid = saved["switch_counts"][4]
    part = compiled_site_stepper(s, norm, **controls)
    part.restore_state(saved)
    y2, h2 = y_mid, h_mid
    for a, b in zip(ts[4:-1], ts[5:]):
        y2, h2 = part.advance(a, y2, b, h2)
    np.testing.assert_array_equal(y2, y)
    assert (h2, part.n_accepted, part.n_rejected) == (h, whole.n_accepted, whole.n_rejected)
    np.testing.assert_array_equal(part.counts, whole.counts)
    assert part.t_reached == ts[-1]
    if method == "auto":        # switches before and after the restart, and the branch state carried
        assert switches_mid >= 100 and whole.counts[4] >= 2 * switches_mid - 100
    else:
        assert whole.counts[4] == 0

    _, s_neg, norm_neg = _system("homogeneous_B.yaml", f"physics.L0={-deck.physics.L0!r}")
    flipped = compiled_site_stepper(s_neg, norm_neg, **controls)
    yn, _ = _integrate(flipped, s_neg, ts, h0)
    yw, _ = _integrate(compiled_site_stepper(s, norm, **controls), s, ts, h0)
    minus = list(MINUS_FIELDS)
    plus = [i for i in range(8) if i not in minus]
    np.testing.assert_array_equal(yn[:, minus], -yw[:, minus])
    np.testing.assert_array_equal(yn[:, plus], yw[:, plus])


def test_step_floor_raises_like_rodas4():
    deck, s, norm = _system()
    t0, t1 = _sample_times(s, deck.time.T_start_MeV, 31.0, 2)
    stepper = CompiledSiteStepper(s.compiled_site_kernels(norm), s, h_min_rel=1e-3)
    with pytest.raises(IntegrationError, match="fell below"):
        stepper.advance(t0, s.initial_state((1,)), t1, 1e-6 * t0)
    capped = CompiledSiteStepper(s.compiled_site_kernels(norm), s, max_attempts=5)
    with pytest.raises(IntegrationError, match="5 step attempts"):
        capped.advance(t0, s.initial_state((1,)), t1, 1e-6 * t0)


def test_only_single_site_qke_runs_use_the_compiled_stepper():
    from lattice.driver import Simulation
    from lattice.switching import SwitchingLattice

    deck, schema = load_deck(INPUT / "homogeneous_B.yaml", ["output.progress=none"])
    assert isinstance(Simulation(deck, schema, write=False).stepper, CompiledSiteStepper)
    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml", ["grid.shape=[8]", "output.progress=none"])
    stepper = Simulation(deck, schema, write=False).stepper          # the lattice's own switch (GMRES)
    assert isinstance(stepper, SwitchingLattice) and isinstance(stepper.implicit, Rodas4)
    deck, schema = load_deck(INPUT / "pb_const_evol0.yaml", ["output.progress=none"])
    assert isinstance(Simulation(deck, schema, write=False).stepper, Rodas4)
    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml", ["grid.shape=[8]"])
    lattice_system = build_local_system(deck, L0=np.full(8, 1e-10))
    i = deck.integrator
    assert lattice_system.compiled_site_kernels(
        lattice_system.error_norm(i.rtol, i)) is None
