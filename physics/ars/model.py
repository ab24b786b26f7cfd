"""Deck sections, construction and run summary of the ARS model (`model: ars`; paper 001,
docs/models/ars.md).

A run integrates the singlets' density matrix (physics.ars.density_matrix) from T_start to
T_end [MeV in the deck's time section; the physics section is in GeV, as in the paper] and
closes with the asymmetry Δ_L and the paper's closed formulas at the deck's parameters.
"""

from __future__ import annotations

import math

from lattice.deck import DeckError, Field
from lattice.model import ModelSpec
from physics.ars.asymmetry import c_of_epsilon
from physics.ars.density_matrix import ARSSystem
from physics.ars.parameters import GAMMA_THIRD, GEV, T_EW_GEV, ARSParameters

ANGLE = dict(minimum=0.0, maximum=0.5 * math.pi)

PHYSICS = (
    Field("h2_A", float, "", "h_A², the largest Yukawa coupling squared (Yukawa basis, real)",
          minimum=0.0, maximum=1e-6),
    Field("h2_B", float, "", "h_B², Yukawa coupling squared of N_B", minimum=0.0, maximum=1e-6),
    Field("h2_C", float, "", "h_C², Yukawa coupling squared of N_C (the one kept out of "
          "equilibrium)", minimum=0.0, maximum=1e-6),
    Field("M_GeV", float, "GeV", "M_1, mass of N_1 (only M_i² − M_j² enter the equations; it "
          "fixes that every M_i² is positive)", default=10.0, minimum=0.0, exclusive_minimum=True,
          maximum=1e4),
    Field("dM2_12_GeV2", float, "GeV^2", "ΔM_12² = M_1² − M_2², signed", minimum=-1e8, maximum=1e8,
          nonzero=True),
    Field("dM2_13_GeV2", float, "GeV^2", "ΔM_13² = M_1² − M_3², signed", minimum=-1e8, maximum=1e8,
          nonzero=True),
    Field("theta12", float, "rad", "mixing angle θ12 of U (PDG form)", **ANGLE),
    Field("theta13", float, "rad", "mixing angle θ13 of U (admixture of N_A in N_3)", **ANGLE),
    Field("theta23", float, "rad", "mixing angle θ23 of U (admixture of N_B in N_3)", **ANGLE),
    Field("delta", float, "rad", "CP phase δ of U; the antiparticles evolve with −δ", minimum=-2 * math.pi,
          maximum=2 * math.pi),
    Field("h_t", float, "", "top Yukawa coupling: sin φ = Γ_a/2V_a = 9 h_t²/16π³", default=1.0,
          minimum=0.0, exclusive_minimum=True, maximum=2.0),
    Field("M_star_GeV", float, "GeV", "M*_Pl in H = T²/M*_Pl (the paper's 1e18; 7.1e17 for g* = 106.75)",
          default=1e18, minimum=1e10, maximum=1e20),
    Field("k_over_T", float, "", "the one momentum followed, k = k_over_T × T (1 reproduces eq. (12))",
          default=1.0, minimum=0.0, exclusive_minimum=True, maximum=100.0),
    Field("initial", str, "", "ρ̃ at T_start: zero (no singlets, the paper's start) or equilibrium "
          "(ρ̃ = 1, the fixed point)", default="zero", choices=("zero", "equilibrium")),
)

TOLERANCES = (
    Field("atol_plus", float, "", "absolute tolerance of the CP-even fields ρ⁺ = (ρ̃ + ρ̃̄)/2",
          default=1e-14, minimum=0.0, exclusive_minimum=True, maximum=1.0),
    Field("atol_minus", float, "", "absolute tolerance of the CP-odd fields ρ⁻ = (ρ̃ − ρ̃̄)/2 (Δ_L = "
          "−ρ⁻_33): keep it far below rtol × |Δ_L|", default=1e-24, minimum=0.0, exclusive_minimum=True,
          maximum=1.0),
)

T_MAX_MEV = 1e16
"""Largest T_start [MeV] (1e13 GeV): the paper's production starts at T = ∞, so runs start
where v ≪ 1 (docs/models/ars.md §3)."""


def parameters(deck) -> ARSParameters:
    """The ARSParameters of a validated ars deck."""
    p = deck.physics
    return ARSParameters((p.h2_A, p.h2_B, p.h2_C), p.M_GeV, p.dM2_12_GeV2, p.dM2_13_GeV2, p.theta12,
                         p.theta13, p.theta23, p.delta, p.h_t, p.M_star_GeV, p.k_over_T)


def check(deck):
    """Cross-field rules of an ars deck: positive masses squared, and temperatures where the
    thermal potentials and rates hold (above T_EW)."""
    p = deck.physics
    for key, value in (("dM2_12_GeV2", p.dM2_12_GeV2), ("dM2_13_GeV2", p.dM2_13_GeV2)):
        if p.M_GeV ** 2 - value <= 0:
            raise DeckError(f"physics.{key} = {value!r}: gives a mass squared M_1² − ΔM² ≤ 0 with "
                            f"physics.M_GeV = {p.M_GeV!r}; need ΔM² < M_GeV²")
    if deck.time.T_end_MeV < T_EW_GEV * GEV:
        raise DeckError(f"time.T_end_MeV = {deck.time.T_end_MeV!r}: below T_EW = 100 GeV = 1e5 MeV, where "
                        "the model's potentials V_a = h_a² T/8 and rates no longer hold")


def build_system(deck) -> ARSSystem:
    """The ARSSystem of a validated ars deck."""
    return ARSSystem(parameters(deck), deck.physics.initial)


def third_order(params: ARSParameters):
    """Δ_L at order s y³ [per photon] for ΔM_12² > 0 and 0 < ε < 1: −C(ε) Γ(1/3)³ s J Π(y)
    ε^{−1/3}, y_a = g h_a² (physics.ars.asymmetry); None outside that range."""
    eps = params.epsilon
    if params.dM2_12_GeV2 <= 0 or not 0 < eps < 1:
        return None
    return (-c_of_epsilon(eps) * GAMMA_THIRD ** 3 * params.sin_phi * params.J * params.g ** 3
            * params.yukawa_product * eps ** (-1 / 3))


def summarise(result, deck):
    """Closing summary: final Δ_L and n_3/n_eq, v at T_end, and the paper's formulas."""
    s = dict(result.stats)
    params = parameters(deck)
    se = result.series
    s["T_final_MeV"] = float(result.T[-1])
    for key in ("Delta_L", "rho_11", "rho_22", "rho_33", "L_singlets"):
        s[f"{key}_final"] = float(se[key][-1])
    s["v_final"] = float(params.v_of_T(result.T[-1]))
    s["eq12_abs"] = params.eq12()
    s["third_order"] = third_order(params)
    s["lambda"] = params.lam()
    s["T_L_GeV"] = params.T_L_GeV()
    return s


def summary_line(s) -> str:
    """One line for `qke run`."""
    third = "n/a" if s["third_order"] is None else f"{s['third_order']:+.4e}"
    return (f"done: T = {s['T_final_MeV']:.4g} MeV (v = {s['v_final']:.3g}), Delta_L = {s['Delta_L_final']:+.6e}, "
            f"n3/neq = {s['rho_33_final']:.4e}; third order (C(eps)): {third}, |eq. (12)| = {s['eq12_abs']:.3e}, "
            f"lambda = {s['lambda']:.3g}; {s['accepted']} steps ({s['rejected']} rejected) in {s['wall_s']:.2f} s")


def targets(quick):
    """The table of `qke targets ars` (physics.ars.targets)."""
    from physics.ars.targets import table
    return table(quick)


MODEL = ModelSpec(
    name="ars", description="three singlet neutrinos' 3×3 density matrix, baryogenesis via oscillations "
    "(Akhmedov, Rubakov & Smirnov 1998; paper 001)",
    physics=PHYSICS, sections={}, checks=(check,), integrator=TOLERANCES, T_max_MeV=T_MAX_MEV,
    explicit_branch=False, build_system=build_system, summarise=summarise, summary_line=summary_line,
    targets=targets)
"""The ars model's ModelSpec (registered as `ars` in scripts.models)."""
