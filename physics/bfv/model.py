"""Deck sections, construction and run summary of the BFV model (`model: bfv`)."""

from __future__ import annotations

from lattice.deck import DeckError, Field
from lattice.model import ModelSpec
from physics.bfv import potentials
from physics.bfv.system import BFVParameters, BFVSystem

PHYSICS = (
    Field("delta_m2_eV2", float, "eV^2", "δm² of the ν_τ,μ–ν_s and ν_τ,μ–ν_e channels (one value "
          "for both), signed: must be < 0 (mostly-active state heavier), |δm²| = 6–8 for the "
          "paper's headline", minimum=-1e4, maximum=1e4, nonzero=True),
    Field("y1_initial", float, "p/T", "p₁/T of the ν̄_τ,μ–ν̄_s resonance at T_start (sets L_τ = "
          "K/(3 y₁ T⁴), L_e = 0; the paper: 0.2–0.8)", default=0.5, minimum=0.0,
          exclusive_minimum=True, maximum=10.0),
    Field("k_e", float, "G_F^2 T^5", "⟨Γ_νe⟩ = k_e G_F² T⁵ (refill of ν̄_e; the paper: 4.0)",
          default=4.0, minimum=0.0, maximum=100.0),
    Field("k_mu_tau", float, "G_F^2 T^5", "⟨Γ_ντ,μ⟩ = k G_F² T⁵ (refill of ν̄_τ,μ; the paper: 2.9)",
          default=2.9, minimum=0.0, maximum=100.0),
    Field("T_dec_e_MeV", float, "MeV", "chemical decoupling of ν_e (μ̃_ν = −μ̃_ν̄ above, 0 below)",
          default=3.0, minimum=0.0),
    Field("T_dec_mu_tau_MeV", float, "MeV", "chemical decoupling of ν_μ,τ", default=5.0, minimum=0.0),
)

MOMENTUM = (
    Field("dy", float, "p/T", "cell width in y = p/T_ν (the note's 0.002 converges the final L)",
          default=0.002, minimum=1e-5, maximum=1.0),
    Field("y_max", float, "p/T", "upper end of the cells", default=60.0, minimum=5.0, maximum=200.0),
)

BBN = (
    Field("tau_n_s", float, "s", "neutron lifetime (1998 value)", default=887.0, minimum=1.0, maximum=2000.0),
    Field("T_nuc_MeV", float, "MeV", "photon temperature of nucleosynthesis: Y_P = 2 X_n there "
          "(X_n frozen below)", default=0.075, minimum=0.01, maximum=1.0),
)

TOLERANCES = (
    Field("atol_X", float, "", "absolute tolerance of the neutron fractions", default=1e-9,
          minimum=0.0, exclusive_minimum=True, maximum=1.0),
    Field("dlnT_max", float, "", "largest step in ln T_ν: the splitting step of refill and "
          "resonance sweep. Near 3 MeV the p₂ resonance is marginal, and too coarse a step lets it "
          "run away (at 7 eV², 1e-3 gives L_e/h = 2.8e-3); 2.5e-4 is converged there (1.25e-4 moves "
          "L_e by 2e-4 of itself; docs/models/bell-foot-volkas.md §3)", default=2.5e-4, minimum=1e-6,
          maximum=0.5),
)


def check(deck):
    """Cross-field rules of a bfv deck."""
    p, m, T0 = deck.physics, deck.momentum, deck.time.T_start_MeV
    if p.delta_m2_eV2 > 0:
        raise DeckError(f"physics.delta_m2_eV2 = {p.delta_m2_eV2!r}: must be < 0 (the asymmetry "
                        "grows only when the mostly-active state is the heavier one)")
    T_C = potentials.T_C(p.delta_m2_eV2)
    if T0 > T_C:
        raise DeckError(f"time.T_start_MeV = {T0!r}: above T_C = {T_C:.4g} MeV, where the thermal "
                        "term dominates and the adiabatic-MSW model does not hold (start near T_C/2)")
    if 3.0 * p.y1_initial >= m.y_max:
        raise DeckError(f"physics.y1_initial = {p.y1_initial!r}: the p₂ resonance (3 y₁) must start "
                        f"below momentum.y_max = {m.y_max!r}")
    if m.dy * 50 > m.y_max:
        raise DeckError(f"momentum.dy = {m.dy!r}: fewer than 50 cells below momentum.y_max = {m.y_max!r}")


def parameters(deck) -> BFVParameters:
    """The BFVParameters of a validated bfv deck."""
    p, m, b = deck.physics, deck.momentum, deck.bbn
    return BFVParameters(p.delta_m2_eV2, p.y1_initial, deck.time.T_start_MeV, m.dy, m.y_max, p.k_e,
                         p.k_mu_tau, p.T_dec_e_MeV, p.T_dec_mu_tau_MeV, b.tau_n_s, b.T_nuc_MeV)


def build_system(deck) -> BFVSystem:
    """The BFVSystem of a validated bfv deck."""
    return BFVSystem(parameters(deck))


def summarise(result, deck):
    """Closing summary: every observable's final value, the largest drift of the swap invariant."""
    s = dict(result.stats)
    s["T_final_MeV"] = float(result.T[-1])
    for key, values in result.series.items():
        s[f"{key}_final"] = float(values[-1])
    L = result.series["L_conserved"]
    s["L_conserved_drift"] = float(abs(L - L[0]).max())
    return s


def summary_line(s) -> str:
    """One line for `qke run`."""
    return (f"done: T = {s['T_final_MeV']:.4g} MeV, L_tau/h = {s['L_tau_over_h_final']:.4f}, "
            f"L_e/h = {s['L_e_over_h_final']:.4e}, dN_rho = {s['dN_rho_final']:+.4f}, "
            f"dY_P = {s['dY_P_plus_final']:+.5f} / {s['dY_P_minus_final']:+.5f}, "
            f"N_eff = {s['N_eff_plus_final']:.3f} (L > 0) / {s['N_eff_minus_final']:.3f} (L < 0), "
            f"swap invariant drift {s['L_conserved_drift']:.1e}; {s['accepted']} steps "
            f"({s['rejected']} rejected) in {s['wall_s']:.2f} s")


def _targets(quick):
    from physics.bfv.targets import targets
    return targets(quick)


MODEL = ModelSpec(
    name="bfv", description="Bell–Foot–Volkas 1998: adiabatic MSW sweep of ν̄ momentum cells, "
    "L_τ, L_e, N_eff and Y_P (paper 004)",
    physics=PHYSICS, sections={"momentum": MOMENTUM, "bbn": BBN}, checks=(check,),
    integrator=TOLERANCES, T_max_MeV=30.0, explicit_branch=False, build_system=build_system,
    summarise=summarise, summary_line=summary_line, targets=_targets)
"""The bfv model's ModelSpec (registered as `bfv` in scripts.models)."""
