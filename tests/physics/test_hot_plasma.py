"""The hot-plasma conversion model (paper 003, docs/models/hot-plasma.md): the Bloch system with
anisotropic damping, the master equation's exact solution and the paper's closed forms (targets
T1–T5, T11, T12 of the model note) against independent scipy solutions; the BBN formulas (T6–T10)
against the paper's printed numbers; the deck through `qke run`, restart and `qke targets`.

The references: the Bloch equations and the third-order master equation are written out here
again and integrated by scipy's DOP853 at rtol 1e-13 (global error ≲ 1e-12 over the tens of
periods used), or propagated by scipy.linalg.expm.
"""

import math

import h5py
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm
from scipy.optimize import minimize_scalar

from conftest import INPUT, whole_and_resumed
from physics.hot_plasma import bloch, bounds, master, plasma
from physics.hot_plasma.plasma import Rates
from scripts.cli import main

G_F, M_PL = 1.1663787e-11, 1.22091e22          # MeV^-2, MeV (PDG; the project's constants)
H_PER_T2 = 1.66 * math.sqrt(10.75) / M_PL      # H/T² [MeV^-1]


def bloch_scipy(V_x, V_z, D_x, D_y, t):
    """P(ν_a → ν_s) at times t from the Bloch equations (paper 3.4–3.6 with D_y = D_x + 2Γ),
    DOP853 at rtol 1e-13 from P = (0, 0, 1)."""
    def rhs(_, P):
        return [-V_z * P[1] - D_x * P[0], V_z * P[0] - V_x * P[2] - D_y * P[1], V_x * P[1]]
    sol = solve_ivp(rhs, (0.0, t[-1]), [0.0, 0.0, 1.0], method="DOP853", t_eval=t, rtol=1e-13, atol=1e-15)
    return 0.5 * (1.0 - sol.y[2])


def master_scipy(rates, Gamma_W1_sq, t):
    """P at times t from the third-order master equation (3.13) with (3.15), DOP853 at rtol 1e-13."""
    G, GW, Vx = rates.Gamma, rates.Gamma_W, rates.V_x
    a2, a1, a0 = 2 * (G + GW), rates.V_x ** 2 + rates.V_z ** 2 + 2 * G * GW + Gamma_W1_sq, GW * Vx ** 2

    def rhs(_, u):
        return [u[1], u[2], a0 / 2 - a0 * u[0] - a1 * u[1] - a2 * u[2]]
    sol = solve_ivp(rhs, (0.0, t[-1]), [0.0, 0.0, Vx ** 2 / 2], method="DOP853", t_eval=t, rtol=1e-13, atol=1e-15)
    return sol.y[0]


def qke_scipy(rates, t):
    return bloch_scipy(rates.V_x, rates.V_z, rates.Gamma_W, rates.Gamma_W + 2 * rates.Gamma, t)


# -- T1–T3: exact closed forms (≤ 1e-10: DOP853's global error at rtol 1e-13 is ~1e-12 here) -----

@pytest.mark.parametrize("V_z", [1.0, -1.0, 0.0], ids=["V_z>0", "V_z<0", "resonance"])
def test_T1_msw_closed_form_is_the_collisionless_bloch_solution(V_z):
    r = Rates(0.3, V_z, 0.0)
    t = np.linspace(0.0, 150.0, 1501)
    ref = bloch_scipy(r.V_x, r.V_z, 0.0, 0.0, t)
    assert np.max(np.abs(master.msw(r, t) - ref)) <= 1e-10
    assert np.max(np.abs(bloch.conversion_probability(bloch.propagate(bloch.qke_matrix(r), t)[:, 2]) - ref)) <= 1e-10


@pytest.mark.parametrize("Gamma", [0.2, 1.0 * math.hypot(0.3, 1.0), 3.0], ids=["under", "critical", "over"])
def test_T2_collisionless_magnetic_closed_form_with_t_in_sinh(Gamma):
    """(3.19) with D_x = 0, D_y = 2Γ; its limit is V_x²/2Δ_m², not ½ (no collisions)."""
    r = Rates(0.3, 1.0, 0.0, Gamma)
    t = np.linspace(0.0, 150.0, 1501)
    assert np.max(np.abs(master.collisionless_magnetic(r, t) - bloch_scipy(0.3, 1.0, 0.0, 2 * Gamma, t))) <= 1e-10
    late = float(master.collisionless_magnetic(r, 2000.0))
    assert late == pytest.approx(0.5 * 0.09 / 1.09, abs=1e-12)


@pytest.mark.parametrize("rates", [Rates(0.1, 5.0, 0.2), Rates(0.05, 1.0, 0.3, 30.0), Rates(0.7, -0.4, 1.5, 0.3),
                                   Rates(2.0, 0.0, 0.05)], ids=["B=0", "strong B", "Γ_W>Δ_m", "resonance"])
def test_T3_master_solution_equals_the_bloch_system_with_anisotropic_damping(rates):
    t = np.linspace(0.0, 40.0 / max(rates.Gamma_W, 0.05), 2001)
    ref = qke_scipy(rates, t)
    assert np.max(np.abs(master.master_solution(rates, t) - ref)) <= 1e-10
    A = bloch.qke_matrix(rates)
    for tt in t[::400]:
        assert bloch.propagate(A, [tt])[0] == pytest.approx(expm(A * tt)[:, 2], abs=1e-12)


def test_T3_master_solution_with_a_momentum_spread_solves_the_third_order_equation():
    """⟨D²⟩ > ⟨D⟩²: no Bloch equivalent, but (3.16) still solves (3.13)."""
    r = Rates(0.2, 1.5, 0.3, 0.1)
    t = np.linspace(0.0, 100.0, 1001)
    assert np.max(np.abs(master.master_solution(r, t, Gamma_W1_sq=0.15) - master_scipy(r, 0.15, t))) <= 1e-10


def test_T3_cardano_roots_are_the_cubic_roots():
    for r in (Rates(0.1, 5.0, 0.2), Rates(1.0, 0.5, 0.7, 0.2)):
        a2, a1, a0 = master.cubic(r)
        for k in master.cardano_roots(r):
            assert abs(k ** 3 + a2 * k * k + a1 * k + a0) <= 1e-12 * max(1.0, abs(k) ** 3)


# -- T4, T5, strong field: asymptotic forms within their stated errors -------------------------

def test_T4_shrinking_solution_and_slow_root():
    """(4.1) misses the slow rate by ε = (Γ_W/Δ_m)² (exact k ≈ −Γ_W V_x²/(Δ_m² + Γ_W²)), which
    costs ½ max(x e^{−x}) ε in P (x = t/t_d), and gets the oscillating term right to
    O((V_x/Δ_m)² Γ_W/Δ_m): the error allowed is their sum. The note's numbers to its digits."""
    r = Rates(0.1, 5.0, 0.2)
    t = np.linspace(0.0, 3000.0, 6001)
    ref = qke_scipy(r, t)
    dm = math.hypot(0.1, 5.0)
    x = t * 0.2 * (0.1 / dm) ** 2
    bound = 0.5 * np.max(x * np.exp(-x)) * (0.2 / dm) ** 2 * 1.01 + 2 * (0.1 / dm) ** 2 * 0.2 / dm
    assert np.max(np.abs(master.shrinking(r, t) - ref)) <= bound
    assert round(ref[-1], 5) == 0.10665 and round(float(master.shrinking(r, 3000.0)), 5) == 0.10681
    k = master.slow_root(r)
    assert f"{k:.5e}" == "-7.98404e-05"
    assert master.paper_slow_root(r) / k - 1 == pytest.approx((0.2 / dm) ** 2, rel=0.01)
    assert master.depolarisation_time(r) == pytest.approx(dm ** 2 / (0.01 * 0.2), rel=1e-14)


def test_T5_aperiodic_growth_between_collision_and_depolarisation_times():
    """Γ_W⁻¹ ≪ t ≪ t_d: P ≈ t/2t_d, relative error ≲ t/2t_d (curvature) + (V_x/Δ_m)² 2t_d/t (the
    oscillating part's offset V_x²/2Δ_m²)."""
    r = Rates(0.1, 5.0, 0.2)
    t_d = master.depolarisation_time(r)
    t = np.array([100.0, 250.0, 500.0])
    P = qke_scipy(r, t)
    rel = np.abs(master.aperiodic(r, t) / P - 1)
    assert np.all(rel <= t / (2 * t_d) + (0.1 ** 2 / 25.01) * 2 * t_d / t)


def test_strong_field_roots_and_solution_within_their_regime():
    """Γ ≫ Δ_m, Δ_m² ≪ ΓΓ_W: the slow rate V_x²/2Γ is too fast by ε = (Δ_m² + Γ_W²)/2ΓΓ_W (the
    exact rate ≈ Γ_W V_x²/(Δ_m² + Γ_W² + 2ΓΓ_W)); P(t) for t ≥ 10/Γ_W is within
    ½ max(x e^{−x}) ε(1+ε) + (V_x/Δ_m)² ε; the note's example roots to its digits."""
    r = Rates(0.05, 1.0, 0.3, 30.0)
    eps = (1.0025 + 0.09) / 18.0
    A = bloch.qke_matrix(r)
    exact = np.sort(np.linalg.eigvals(A).real)
    approx = np.sort(master.strong_field_roots(r))
    assert np.all(np.abs(approx / exact - 1) <= eps * (1 + eps))
    assert f"{exact[-1]:.2e}" == "-3.93e-05" and f"{approx[-1]:.2e}" == "-4.17e-05"
    t = np.linspace(10.0 / 0.3, 3000.0, 1000)
    x = -exact[-1] * t
    bound = 0.5 * np.max(x * np.exp(-x)) * eps * (1 + eps) + 0.0025 * eps
    assert np.max(np.abs(master.strong_field(r, t) - qke_scipy(r, t))) <= bound


# -- T11, T12: equilibrium and the rate equation ------------------------------------------------

@pytest.mark.parametrize("rates", [Rates(0.1, 5.0, 0.2), Rates(0.05, 1.0, 0.3, 30.0), Rates(0.3, -2.0, 1.0, 0.5),
                                   Rates(1.0, 0.0, 0.01)])
def test_T11_equilibrium_is_one_half_whenever_there_are_collisions(rates):
    A = bloch.qke_matrix(rates)
    t_eq = 40.0 / np.min(np.abs(np.linalg.eigvals(A).real))      # e^-40 of every mode left
    P_z = expm(A * t_eq)[2, 2]
    assert abs(0.5 * (1 - P_z) - 0.5) <= 1e-12
    assert abs(float(master.master_solution(rates, t_eq)) - 0.5) <= 1e-10


def test_T12_slow_root_is_the_rate_equation_decay_rate():
    """2Γ_s = −a₀/a₁ is the first iterate of k = −a₀/(a₁ + a₂k + k²), so it is the slow root to
    relative a₂a₀/a₁² (next iterate); with Γ_W, Γ ≪ Δ_m it is the EKT rate (V_x²/Δ_m²)Γ_W (4.5)."""
    for r in (Rates(0.1, 5.0, 0.2), Rates(0.05, 1.0, 0.3, 30.0), Rates(0.05, 1.0, 0.8)):
        a2, a0 = 2 * (r.Gamma + r.Gamma_W), r.Gamma_W * r.V_x ** 2
        a1 = r.V_x ** 2 + r.V_z ** 2 + 2 * r.Gamma * r.Gamma_W + r.Gamma_W ** 2
        k = np.sort(np.linalg.eigvals(bloch.qke_matrix(r)).real)[-1]
        assert master.rate_equation_decay(r) / -k - 1 == pytest.approx(0.0, abs=1.5 * a2 * a0 / a1 ** 2)
    r = Rates(0.1, 5.0, 0.2)
    assert 0.2 * 0.01 / 25.01 / master.rate_equation_decay(r) - 1 == pytest.approx(0.04 / 25.01, rel=1e-3)


# -- plasma, bounds and constants (T6–T10) ------------------------------------------------------

@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_plasma_rates_and_the_sign_of_delta_m2(sign):
    """V_x = Δ sin2θ₀, V_z = −3.4e-20 T⁵ − Δ cos2θ₀, Δ = Δm²/(2 · 3.15 T), Γ_W = 4 G_F² T⁵; with
    Δm² < 0 V_z vanishes at T⁶ = |Δm²| cos2θ₀ · 1e-12/(6.3 · 3.4e-20) (the resonance), with
    Δm² > 0 never."""
    dm2, s2 = sign * 1e-4, 0.01
    T_res = (1e-4 * math.sqrt(1 - s2) * 1e-12 / (6.3 * 3.4e-20)) ** (1 / 6)
    for T in (0.5 * T_res, T_res, 2 * T_res):
        r = plasma.plasma_rates(T, dm2, s2)
        delta = dm2 * 1e-12 / (6.3 * T)
        assert r.V_x == pytest.approx(delta * 0.1, rel=1e-14)
        assert r.V_z == pytest.approx(-3.4e-20 * T ** 5 - delta * math.sqrt(0.99), rel=1e-12, abs=1e-30)
        assert r.Gamma_W == pytest.approx(4 * G_F ** 2 * T ** 5, rel=1e-14)
    at_res = plasma.plasma_rates(T_res, dm2, s2).V_z / (3.4e-20 * T_res ** 5)
    assert (abs(at_res) < 1e-12) == (sign < 0)


def test_T6_to_T8_bbn_bounds_from_the_printed_formulas():
    f1 = minimize_scalar(lambda y: -bounds.f1(y), bounds=(0.01, 10), method="bounded", options={"xatol": 1e-10})
    assert -f1.fun == pytest.approx(3 * math.sqrt(3) / 16, rel=1e-12) and f1.x == pytest.approx(1 / 3, abs=1e-6)
    c2 = math.sqrt(1 - 0.3 ** 2)                 # sin2θ₀ = 0.3
    f2 = minimize_scalar(lambda y: -bounds.f2(y, c2), bounds=(0.01, 10), method="bounded", options={"xatol": 1e-10})
    assert -f2.fun == pytest.approx(1 / (4 * math.cos(0.5 * math.asin(0.3)) ** 2), rel=1e-12)
    f1c = minimize_scalar(lambda y: -bounds.f1(y, c2), bounds=(0.01, 10), method="bounded", options={"xatol": 1e-10})
    assert f1c.x == pytest.approx(bounds.f1_argmax(c2), abs=1e-6)
    assert f"{bounds.old_bound_printed():.3g}" == "5.27e-06"        # printed "5e-6" (4.9)
    assert bounds.new_bound_printed() == pytest.approx(1.6e-6, rel=1e-14)      # (4.12) as printed
    g = 4 * G_F ** 2 / H_PER_T2                                              # Γ_W/H per T³ = 1.22
    assert g == pytest.approx(1.22, abs=0.005)
    assert bounds.gamma_w_over_h_per_T3() == pytest.approx(g, rel=1e-12)
    assert f"{bounds.new_bound(g, 1.0):.3g}" == "1.07e-06" and f"{bounds.new_bound(g, 0.5):.2g}" == "2.1e-06"


def test_T9_constants_rederived():
    assert plasma.thermal_potential_coefficient() == pytest.approx(math.sqrt(2) * G_F * 0.244 * 55 / 80400.0 ** 2)
    assert plasma.thermal_potential_coefficient() == pytest.approx(3.4e-20, rel=0.01)
    assert plasma.mu_eff_coefficient(-0.5) * 2 == pytest.approx(12e-13, rel=0.02)     # −12 c_A × 1e-13
    assert bounds.temperature_coefficient() == pytest.approx(4.67e6, rel=1e-3)
    assert bounds.gamma_min_prefactor_from_T_min() == pytest.approx(9.53e-7, rel=1e-3)


@pytest.mark.parametrize("p", [0.3, 0.4, 0.5])
def test_T10_T_min_is_where_the_strong_field_condition_turns(p):
    """(5.2) is Δ_m²/(2Γ_min Γ_W) = 1 with Δ_m = |V^(vec)|, Γ_min of (5.1) (its B²/10²⁴ G read as
    1): the condition's value at T_min is 1 to the 1 % of (5.2)'s rounded 3π × 10⁻⁷."""
    T = bounds.T_min(p)
    ratio = (3.4e-20 * T ** 5) ** 2 / (2 * plasma.gamma_min(T, p) * 4 * G_F ** 2 * T ** 5)
    assert ratio == pytest.approx(1.0, rel=0.015)


def test_T10_magnetic_bounds_reproduce_the_printed_formulas():
    """The note's table (T_min(0.3) = 0.016946 and (5.5) at 1 MeV, p = 0.4, = 4.7486e-5: the note
    prints 0.0170 and 4.8e-5)."""
    assert bounds.T_min(0.5) == pytest.approx(6 * math.pi / 2.3 * 10, rel=1e-14)
    assert bounds.magnetic_bound(bounds.T_min(0.5), 0.5) == pytest.approx(42.75, rel=1e-3)
    assert bounds.magnetic_bound_final(0.5) == pytest.approx(2 * 6 * math.pi * 10 ** -4.5, rel=1e-14)
    assert bounds.magnetic_bound(1.0, 0.4) == pytest.approx(8 * 10 ** -5.2 * 2.3 ** 0.4 / math.sqrt(2.2), rel=1e-14)
    assert f"{bounds.T_min(0.3):.3g}" == "0.0169" and f"{bounds.magnetic_bound(1.0, 0.4):.2g}" == "4.7e-05"


# -- through the machinery ----------------------------------------------------------------------

SMALL = ["--set", "physics.T_MeV=1.0", "--set", "physics.delta_m2_eV2=1e-7", "--set", "physics.sin2_2theta=0.04",
         "--set", "time.T_end_MeV=1.0", "--set", "output.samples=31", "--set", "integrator.rtol=1e-9"]


def _small_reference(t):
    """P at elapsed times t of the SMALL deck, from the rates recomputed here (scipy)."""
    delta = 1e-7 * 1e-12 / 6.3
    r = Rates(delta * 0.2, -3.4e-20 - delta * math.sqrt(0.96), 4 * G_F ** 2)
    return qke_scipy(r, t), r


def test_run_writes_outputs_and_follows_the_independent_solution(tmp_path, capsys):
    """Rodas4 at rtol 1e-9 over ~10 periods (~2000 steps): global error ≲ 1e-8 on P ≤ 1."""
    out = tmp_path / "run"
    deck = str(INPUT / "hot_plasma_B0_new_bound.yaml")
    assert main(["run", deck, "--out", str(out), "--progress", "none", *SMALL]) == 0
    assert capsys.readouterr().out.startswith("done: elapsed ")
    assert (out / "run.json").exists()
    with h5py.File(out / "timeseries.h5") as f:
        T, t, P, P_z = f["T"][:], f["t"][:], f["P"][:], f["fields/P_z"][:]
        assert f.attrs["model"] == "hot_plasma"
    tau = t - 0.5 / (H_PER_T2 * 1000.0 ** 2)
    assert T[0] == 1000.0 and T[-1] == 1.0 and tau[-1] == pytest.approx(0.5 / H_PER_T2, rel=1e-5)
    ref, r = _small_reference(tau)
    assert np.max(np.abs(P - ref)) <= 1e-7
    assert P[-1] == pytest.approx(ref[-1], abs=1e-8)
    assert np.allclose(P_z, 1 - 2 * P, rtol=0, atol=1e-15)


def test_rate_equation_deck_follows_the_qke_deck_slow_mode(tmp_path):
    """T12 through the machinery: the rate deck's P is ½(1 − e^{−2Γ_s τ}) and the QKE deck's P
    differs from it by its oscillating part, ≤ (V_x/Δ_m)² (+ the slow rates' difference)."""
    P = {}
    for eq in ("qke", "rate"):
        out = tmp_path / eq
        assert main(["run", str(INPUT / "hot_plasma_B0_new_bound.yaml"), "--out", str(out), "--progress", "none",
                     *SMALL, "--set", f"physics.equations={eq}", "--set", "physics.T_MeV=2.0",
                     "--set", "time.T_end_MeV=2.0"]) == 0
        with h5py.File(out / "timeseries.h5") as f:
            P[eq], t = f["P"][:], f["t"][:]
    delta = 1e-7 * 1e-12 / (6.3 * 2.0)
    V_x, V_z, G_W = delta * 0.2, -3.4e-20 * 32 - delta * math.sqrt(0.96), 4 * G_F ** 2 * 32
    tau = t - t[0]
    two_gamma_s = G_W * V_x ** 2 / (V_x ** 2 + V_z ** 2 + G_W ** 2)
    assert P["rate"] == pytest.approx(0.5 * (1 - np.exp(-two_gamma_s * tau)), rel=1e-6, abs=1e-12)
    assert np.max(np.abs(P["qke"] - P["rate"])) <= V_x ** 2 / (V_x ** 2 + V_z ** 2)


def test_random_field_deck_reaches_the_strong_field_solution(run_deck):
    """The random-field deck (Γ/Δ_m ~ 1e3, stiff: Γτ ~ 5e7) against exp(Aτ) of the Bloch matrix
    written out here (scipy.linalg.expm; Rodas4 at rtol 1e-8: relative 1e-5), and against (5.4)
    within its ε = Δ_m²/2ΓΓ_W ≈ 0.05 (10 %)."""
    result = run_deck("hot_plasma_random_field.yaml", "output.samples=11")
    r = plasma.plasma_rates(10.0, 0.1, 0.01, plasma.gamma_min(10.0, 0.3))
    tau = result.t[-1] - result.t[0]
    A = np.array([[-r.Gamma_W, -r.V_z, 0.0], [r.V_z, -r.Gamma_W - 2 * r.Gamma, -r.V_x], [0.0, r.V_x, 0.0]])
    assert result.series["P"][-1] == pytest.approx(0.5 * (1 - expm(A * tau)[2, 2]), rel=1e-5)
    assert result.series["P"][-1] == pytest.approx(0.5 * (1 - math.exp(-r.V_x ** 2 * tau / (2 * r.Gamma))), rel=0.1)


def test_rates_deck_reproduces_the_notes_strong_field_example(run_deck):
    """The note's (0.05, 1, 0.3, 30) × 1e-20 MeV over τ = 3e23 MeV^-1 (= 3000 in its units): the
    exact P (expm of the Bloch matrix written here; Rodas4 at rtol 1e-8, relative 1e-5) and the
    paper's (5.4) above it by its ε(1+ε) = 6.4 % slow-rate error (x e^{-x}·ε/(1 − e^{-x}) < ε)."""
    result = run_deck("hot_plasma_rates_strong_field.yaml", "output.samples=6")
    tau = result.t[-1] - result.t[0]
    assert tau == pytest.approx(3e23, rel=1e-9)
    A = 1e-20 * np.array([[-0.3, -1.0, 0.0], [1.0, -60.3, -0.05], [0.0, 0.05, 0.0]])
    P = result.series["P"][-1]
    assert P == pytest.approx(0.5 * (1 - expm(A * tau)[2, 2]), rel=1e-5)
    strong = 0.5 * (1 - math.exp(-0.05 ** 2 * 3000 / 60))
    assert 0 < strong / P - 1 <= (1.0925 / 18) * (1 + 1.0925 / 18)


def test_restart_is_bit_for_bit(tmp_path):
    from scripts.models import load_deck

    deck, schema = load_deck(INPUT / "hot_plasma_B0_new_bound.yaml",
                             [s for s in SMALL if s != "--set"] + ["output.progress=none"])
    whole, result = whole_and_resumed(deck, schema, tmp_path / "ck.h5", 8)
    assert np.array_equal(result.state, whole.state)
    assert np.array_equal(result.series["P"], whole.series["P"])
    assert np.array_equal(result.fields, whole.fields)


@pytest.mark.parametrize("sets,key", [
    (["physics.Gamma_W_MeV=1e-20"], "physics.Gamma_W_MeV"),
    (["physics.T_MEV=2"], "physics.T_MEV"),
    (["physics.magnetic_field=random"], "physics.p_scaling"),
    (["physics.p_scaling=0.5"], "physics.p_scaling"),
    (["physics.source=rates"], "physics.V_x_MeV"),
    (["physics.sin2_2theta=0"], "physics.sin2_2theta"),
    (["physics.L0_over_L0min=2"], "physics.L0_over_L0min"),
])
def test_bad_deck_is_refused_with_one_line_naming_the_key(tmp_path, capsys, sets, key):
    out = tmp_path / "out"
    args = [a for s in sets for a in ("--set", s)]
    assert main(["run", str(INPUT / "hot_plasma_B0_new_bound.yaml"), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0] and "deck error" in err[0]
    assert not out.exists()


def test_targets_command_quick_holds(capsys):
    assert main(["targets", "hot_plasma", "--quick"]) == 0
    text = capsys.readouterr().out
    for label in ("T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12"):
        assert f"\n{label} " in "\n" + text
    assert "FAILS" not in text
