"""The hot-plasma conversion model as a deck (`model: hot_plasma`): its physics keys, checks,
the System it builds and the run summary (paper 003; docs/models/hot-plasma.md).

The plasma is frozen at physics.T_MeV (or its rates are given directly); the run's temperature
axis is the radiation-era clock of system.FrozenPlasma.
"""

from __future__ import annotations


from lattice.deck import DeckError, Field
from lattice.model import ModelSpec
from physics.hot_plasma import bloch, master, plasma
from physics.hot_plasma.system import FrozenPlasma, rate_matrix

PLASMA_KEYS = ("T_MeV", "delta_m2_eV2", "sin2_2theta")
RATE_KEYS = ("V_x_MeV", "V_z_MeV", "Gamma_W_MeV", "Gamma_B_MeV")

PHYSICS = (
    Field("equations", str, "", "qke: the paper's averaged QKE (Bloch system with damping Γ_W of "
          "P_x and Γ_W + 2Γ of P_y); rate: the rate equation df_s/dt = Γ_s (f_a − f_s) with the "
          "collisional Γ_s of the same plasma (the cross-model check)", default="qke",
          choices=("qke", "rate")),
    Field("source", str, "", "plasma: the rates of a ν_e–ν_s pair at physics.T_MeV from "
          "delta_m2_eV2 and sin2_2theta; rates: the rates given directly (V_x_MeV, V_z_MeV, "
          "Gamma_W_MeV, Gamma_B_MeV)", default="plasma", choices=("plasma", "rates")),
    Field("T_MeV", float, "MeV", "plasma temperature, frozen during the run (source plasma)",
          default=None, minimum=0.1, maximum=1000.0),
    Field("delta_m2_eV2", float, "eV^2", "Δm² = m₁² − m₂², ν₁ the mostly sterile state: > 0 "
          "sterile heavier (no resonance: the paper's bounds), < 0 resonant (source plasma)",
          default=None, minimum=-1e6, maximum=1e6, nonzero=True),
    Field("sin2_2theta", float, "", "vacuum mixing sin² 2θ₀ (source plasma)", default=None,
          minimum=0.0, exclusive_minimum=True, maximum=1.0),
    Field("magnetic_field", str, "", "none, or random: the paper's δ-correlated random field, the "
          "damping Γ = Γ_min (L₀/L₀^min)^(1+2p) of eq. (5.1) (source plasma)", default="none",
          choices=("none", "random")),
    Field("p_scaling", float, "", "B_rms ∝ (L₀/L)^p: 0.5 uncorrelated domains (magnetic_field "
          "random)", default=None, minimum=0.0, exclusive_minimum=True, maximum=1.4),
    Field("B0_over_T0sq", float, "", "field strength B₀/T₀² (1: the paper's largest field)",
          default=1.0, minimum=0.0, exclusive_minimum=True, maximum=1.0),
    Field("L0_over_L0min", float, "", "domain size over L₀^min = 10³ cm (MeV/T)", default=1.0,
          minimum=1.0, maximum=1e6),
    Field("V_x_MeV", float, "MeV", "off-diagonal potential Δ sin2θ₀ (source rates)", default=None,
          minimum=-1e3, maximum=1e3, nonzero=True),
    Field("V_z_MeV", float, "MeV", "diagonal potential V^(vec) − Δ cos2θ₀ (source rates)",
          default=None, minimum=-1e3, maximum=1e3),
    Field("Gamma_W_MeV", float, "MeV", "collisional damping ⟨D⟩ (source rates)", default=None,
          minimum=0.0, maximum=1e3),
    Field("Gamma_B_MeV", float, "MeV", "magnetic damping Γ, the extra 2Γ on P_y (source rates)",
          default=None, minimum=0.0, maximum=1e3),
)

TOLERANCES = (
    Field("atol", float, "", "absolute tolerance of P_x, P_y, P_z", default=1e-12, minimum=0.0,
          exclusive_minimum=True, maximum=1.0),
)
"""The model's integrator keys (ModelSpec.integrator), read by FrozenPlasma.error_norm."""


def check(deck):
    """Cross-field rules: each source takes its own keys only; the field keys need a random field."""
    p = deck.physics
    own, other = (PLASMA_KEYS, RATE_KEYS) if p.source == "plasma" else (RATE_KEYS[:3], PLASMA_KEYS)
    for key in own:
        if getattr(p, key) is None:
            raise DeckError(f"physics.{key}: required with physics.source = {p.source!r}")
    for key in other + (("Gamma_B_MeV",) if p.source == "plasma" else ()):
        if getattr(p, key) is not None:
            raise DeckError(f"physics.{key} = {getattr(p, key)!r}: not used with physics.source = "
                            f"{p.source!r}; remove it")
    random = p.magnetic_field == "random"
    if random and p.source == "rates":
        raise DeckError("physics.magnetic_field = 'random': only with physics.source = 'plasma' "
                        "(give physics.Gamma_B_MeV with source rates)")
    if random != (p.p_scaling is not None):
        raise DeckError(f"physics.p_scaling = {p.p_scaling!r}: needed exactly when "
                        f"physics.magnetic_field = 'random' (is {p.magnetic_field!r})")
    for key in ("B0_over_T0sq", "L0_over_L0min"):
        if not random and getattr(p, key) != 1.0:
            raise DeckError(f"physics.{key} = {getattr(p, key)!r}: only used with "
                            "physics.magnetic_field = 'random'")


def rates_of(deck) -> plasma.Rates:
    """The plasma.Rates [MeV] of a validated deck."""
    p = deck.physics
    if p.source == "rates":
        return plasma.Rates(p.V_x_MeV, p.V_z_MeV, p.Gamma_W_MeV, p.Gamma_B_MeV or 0.0)
    Gamma = 0.0
    if p.magnetic_field == "random":
        Gamma = (plasma.gamma_min(p.T_MeV, p.p_scaling, p.B0_over_T0sq)
                 * p.L0_over_L0min ** (1.0 + 2.0 * p.p_scaling))
    return plasma.plasma_rates(p.T_MeV, p.delta_m2_eV2, p.sin2_2theta, Gamma)


def build_system(deck) -> FrozenPlasma:
    """The FrozenPlasma of a validated deck (QKE or rate equation)."""
    rates = rates_of(deck)
    A = bloch.qke_matrix(rates) if deck.physics.equations == "qke" else rate_matrix(rates)
    return FrozenPlasma(A)


def exact(deck, tau):
    """The exact P at the elapsed time tau [MeV^-1]: ½(1 − P_z) of exp(Aτ)P(0) for the deck's
    matrix A (the Bloch system, or the rate equation); defined for every A, degenerate roots
    included (the master solution's Vandermonde system is singular there)."""
    P = bloch.propagate(build_system(deck).A, [tau])[0]
    return float(bloch.conversion_probability(P[2]))


def summarise(result, deck):
    """Closing summary: final P and |P|, the elapsed time, the exact P there, the slow root, and
    (source plasma) the paper's criterion Γ_s/H = P Γ_W/H at the plasma temperature."""
    s = dict(result.stats)
    rates = rates_of(deck)
    tau = float(result.t[-1] - result.t[0])
    s.update(T_clock_final_MeV=float(result.T[-1]), elapsed_MeV_inv=tau,
             P_final=float(result.series["P"][-1]), polarisation_final=float(result.series["polarisation"][-1]),
             P_exact=float(exact(deck, tau)), slow_root_MeV=master.slow_root(rates) if rates.Gamma_W > 0 else 0.0)
    if deck.physics.source == "plasma":
        s["Gamma_s_over_H"] = s["P_final"] * rates.Gamma_W / plasma.hubble(deck.physics.T_MeV)
    return s


def summary_line(s) -> str:
    """One line for `qke run`."""
    crit = f", P Γ_W/H = {s['Gamma_s_over_H']:.4e}" if "Gamma_s_over_H" in s else ""
    return (f"done: elapsed {s['elapsed_MeV_inv']:.6g} MeV^-1, P = {s['P_final']:.10f} (exact "
            f"{s['P_exact']:.10f}), |P| = {s['polarisation_final']:.6f}{crit}; {s['accepted']} steps "
            f"({s['rejected']} rejected) in {s['wall_s']:.2f} s")


def _targets(quick):
    from physics.hot_plasma.targets import table
    return table(quick)


MODEL = ModelSpec(
    name="hot_plasma", description="active–sterile conversion in a hot plasma at fixed temperature, "
    "with a random magnetic field (paper 003)",
    physics=PHYSICS, sections={}, checks=(check,), integrator=TOLERANCES, T_max_MeV=1e6,
    explicit_branch=False, build_system=build_system, summarise=summarise, summary_line=summary_line,
    targets=_targets)
"""The hot_plasma model's ModelSpec (registered as `hot_plasma` in scripts.models)."""
