"""Deck sections, construction and run summary of the Pauli–Boltzmann model (`model: pb`)."""

from __future__ import annotations

import numpy as np

from lattice.deck import DeckError, Field
from lattice.model import ModelSpec
from physics.momentum import MomentumGrid
from physics.pb import PBSystem
from physics.pb_rates import Channel

PHYSICS = (
    Field("flavours", int, "", "2: one channel ν_α–ν_s; 3: ν_μ–ν_s and ν_τ–ν_s sharing one "
          "sterile state", default=2, choices=(2, 3)),
    Field("delta_m2_eV2", float, "eV^2", "δm² of the ν_α (ν_μ) channel, signed: < 0 means the "
          "active-like state is heavier (the L instability)", minimum=-1e6, maximum=1e6, nonzero=True),
    Field("sin2_2theta", float, "", "vacuum mixing sin² 2θ₀ of the ν_α (ν_μ) channel", minimum=0.0,
          exclusive_minimum=True, maximum=1.0),
    Field("L_nu_initial", float, "per photon", "L_να (L_νμ) at T_start", default=0.0,
          minimum=-0.1, maximum=0.1),
    Field("eta", float, "per photon", "constant part of the potential asymmetry: η̃ = L^(α) − "
          "2 L_να (2 flavours), η₀ = L_νe − B_n/2 (3 flavours)", default=0.0, minimum=-0.1, maximum=0.1),
    Field("asymmetry", str, "", "dynamic: L evolves (implicitly coupled); constant: L^(α) = "
          "eta + 2 L_nu_initial (+ L_nu_tau_initial) frozen and ξ = 0 (the paper's §4 problem)",
          default="dynamic", choices=("dynamic", "constant")),
    Field("delta_m2_tau_eV2", float, "eV^2", "δm² of the ν_τ–ν_s channel (3 flavours only; 0 "
          "otherwise)", default=0.0, minimum=-1e6, maximum=1e6),
    Field("sin2_2theta_tau", float, "", "vacuum mixing of the ν_τ–ν_s channel (3 flavours only)",
          default=0.0, minimum=0.0, maximum=1.0),
    Field("L_nu_tau_initial", float, "per photon", "L_ντ at T_start (3 flavours only)", default=0.0,
          minimum=-0.1, maximum=0.1),
)

MOMENTUM = (
    Field("y_min", float, "p/T", "smallest comoving momentum", default=1e-4, minimum=0.0,
          exclusive_minimum=True, maximum=1.0),
    Field("y_max", float, "p/T", "largest comoving momentum", default=60.0, minimum=1.0, maximum=1000.0),
    Field("n_points", int, "", "momentum points (Δ ln y ≲ 0.005 resolves the resonances)",
          default=3000, minimum=3, maximum=10_000_000),
    Field("spacing", str, "", "point spacing", default="log", choices=("log", "linear")),
    Field("rates", str, "", "point: conversion rates at each point; cell: averaged over each "
          "point's cell in ln y (a resonance narrower than the spacing converts across the cell)",
          default="point", choices=("point", "cell")),
)


def check(deck):
    """Cross-field rules of a pb deck."""
    p, m = deck.physics, deck.momentum
    if m.y_min >= m.y_max:
        raise DeckError(f"momentum.y_min = {m.y_min!r}: must be below momentum.y_max = {m.y_max!r}")
    tau = {"delta_m2_tau_eV2": p.delta_m2_tau_eV2, "sin2_2theta_tau": p.sin2_2theta_tau,
           "L_nu_tau_initial": p.L_nu_tau_initial}
    if p.flavours == 3:
        for key in ("delta_m2_tau_eV2", "sin2_2theta_tau"):
            if tau[key] == 0:
                raise DeckError(f"physics.{key} = 0: physics.flavours = 3 needs it nonzero")
    else:
        for key, value in tau.items():
            if value != 0:
                raise DeckError(f"physics.{key} = {value!r}: only used with physics.flavours = 3; "
                                "leave it 0 with 2 flavours")


def build_system(deck) -> PBSystem:
    """The PBSystem of a validated pb deck."""
    p, m = deck.physics, deck.momentum
    grid = MomentumGrid(m.y_min, m.y_max, m.n_points, m.spacing)
    channels, names, L_in = [Channel(p.delta_m2_eV2, p.sin2_2theta)], ["alpha"], [p.L_nu_initial]
    if p.flavours == 3:
        channels.append(Channel(p.delta_m2_tau_eV2, p.sin2_2theta_tau))
        names, L_in = ["mu", "tau"], [p.L_nu_initial, p.L_nu_tau_initial]
    return PBSystem(channels, names, grid, L_in, p.eta, dynamic=p.asymmetry == "dynamic",
                    cell_average=m.rates == "cell")


def growth_onset(T, L):
    """T_c [MeV]: where |L^(α)|, after its destruction (its minimum over the run), grows back
    through its initial value |L^(α)(T_start)|, by log interpolation between samples; None if it
    never does or starts at 0. This is where the generated asymmetry overtakes the initial one,
    the start of the exponential phase as read off the paper's fig. 9 (log |L| against T)."""
    a = np.abs(np.asarray(L, float))
    threshold = a[0]
    i_min = int(np.argmin(a))
    above = np.nonzero(a[i_min:] >= threshold)[0]
    if threshold == 0 or i_min == 0 or len(above) == 0:
        return None
    i = i_min + above[0]
    x1, x2 = np.log(T[i - 1]), np.log(T[i])
    l1, l2 = np.log(max(a[i - 1], 1e-300)), np.log(a[i])
    return float(np.exp(x1 + (np.log(threshold) - l1) * (x2 - x1) / (l2 - l1)))


def summarise(result, deck):
    """Closing summary: final N_eff and asymmetries, growth onset, lepton-number drift."""
    s = dict(result.stats)
    se = result.series
    s["T_final_MeV"] = float(result.T[-1])
    for key in [k for k in se if k.startswith("L") or k == "N_eff"]:
        s[f"{key}_final"] = float(se[key][-1])
    s["L_total_drift"] = float(np.max(np.abs(se["L_total"] - se["L_total"][0])))
    s["onset_T_MeV"] = growth_onset(result.T, se["L"]) if deck.physics.asymmetry == "dynamic" else None
    return s


def summary_line(s) -> str:
    """One line for `qke run`."""
    onset = f"{s['onset_T_MeV']:.4g} MeV" if s.get("onset_T_MeV") else "none"
    extra = f", L^(tau) = {s['L_tau_final']:+.4e}" if "L_tau_final" in s else ""
    return (f"done: T = {s['T_final_MeV']:.4g} MeV, N_eff = {s['N_eff_final']:.6g}, "
            f"L = {s['L_final']:+.6e}{extra}, L_nus = {s['L_nus_final']:+.4e}, growth onset at {onset}, "
            f"lepton-number drift {s['L_total_drift']:.2e}; {s['accepted']} steps "
            f"({s['rejected']} rejected) in {s['wall_s']:.2f} s")


TOLERANCES = (
    Field("atol_plus", float, "", "absolute tolerance for z⁺ (the sterile number, particle + antiparticle)",
          default=1e-14, minimum=0.0, exclusive_minimum=True, maximum=1.0),
    Field("atol_minus", float, "", "absolute tolerance for the z⁻ (particle − antiparticle) fields; "
          "keep it far below rtol·|L|", default=1e-24, minimum=0.0, exclusive_minimum=True, maximum=1.0),
)
"""The pb model's integrator keys (ModelSpec.integrator), read by PBSystem.error_norm."""

MODEL = ModelSpec(
    name="pb", description="Pauli–Boltzmann rate equations on a momentum grid (paper 002)",
    physics=PHYSICS, sections={"momentum": MOMENTUM}, checks=(check,), integrator=TOLERANCES,
    T_max_MeV=1000.0, explicit_branch=False, build_system=build_system, summarise=summarise,
    summary_line=summary_line)
"""The pb model's ModelSpec (registered as `pb` in scripts.models)."""
