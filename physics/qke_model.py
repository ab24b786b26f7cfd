"""The momentum-averaged QKE as a model (`model: qke`): its deck sections, checks, builders
and run summary, plugged into the machinery through lattice.model.ModelSpec.

One cell (grid.shape [1]) is the homogeneous model; more cells run on a decomposed lattice with
the seed field L0(x) of the seed section and the diffusion of physics.qke.QKEDiffusion.
"""

from __future__ import annotations

import numpy as np

from lattice.deck import DeckError, Field
from lattice.model import LatticeSpec, ModelSpec
from physics import analysis
from physics import constants as c
from physics import seeds
from physics.cosmology import Cosmology
from physics.qke import N_FIELDS, MixingParameters, QKEDiffusion, QKELocal

QKE_PHYSICS = (
    Field("delta_m2_eV2", float, "eV^2", "mass-squared difference m2^2 - m1^2 (negative: "
          "the L instability)", minimum=-1e6, maximum=1e6, nonzero=True),
    Field("sin2_2theta", float, "", "vacuum mixing sin^2(2 theta)", minimum=0.0,
          exclusive_minimum=True, maximum=1.0),
    Field("L0", float, "per photon", "frozen background asymmetry L0 = -L_n/2 + L_nue + L_numu",
          default=1e-10, minimum=-0.1, maximum=0.1),
    Field("g_star", float, "", "relativistic degrees of freedom (constant)",
          default=c.G_STAR_DEFAULT, minimum=1.0, maximum=200.0),
    Field("mean_p_over_T", float, "", "thermal mean momentum <p>/T", default=c.MEAN_P_OVER_T,
          minimum=0.0, exclusive_minimum=True, maximum=20.0),
    Field("sterile_elastic_fraction", float, "", "Gamma_el_ss / Gamma_el_tautau (diffusion "
          "regulator)", default=0.1, minimum=0.0, exclusive_minimum=True, maximum=1.0),
)

SEED = (
    Field("kind", str, "", "L0(x): constant (physics.L0), sine (physics.L0 + amplitude sin(2π "
          "mode x/box) along axis 0), domains (paper eq. 22), file (.npy or HDF5)",
          default="constant", choices=("constant", "sine", "domains", "file")),
    Field("amplitude", float, "per photon", "sine amplitude", default=0.0, minimum=-0.1, maximum=0.1),
    Field("mode", int, "", "sine mode number along axis 0", default=1, minimum=1),
    Field("T_QCD_MeV", float, "MeV", "QCD transition temperature setting the domain size",
          default=150.0, minimum=1.0, maximum=1e4),
    Field("low", float, "per photon", "smallest domain value", default=0.5e-10, minimum=-0.1, maximum=0.1),
    Field("high", float, "per photon", "largest domain value", default=1.0e-10, minimum=-0.1, maximum=0.1),
    Field("rng_seed", int, "", "seed of the domain-value generator", default=12345, minimum=0),
    Field("path", str, "path", "file with the global L0 array (kind: file)", default=""),
    Field("dataset", str, "", "HDF5 dataset name (kind: file)", default="L0"),
)

def check_seed(deck):
    """Cross-field rules of the seed section."""
    seed = deck.seed
    if seed.kind == "domains" and seed.low > seed.high:
        raise DeckError(f"seed.low = {seed.low!r}: must not exceed seed.high = {seed.high!r}")
    if seed.kind == "file" and not seed.path:
        raise DeckError("seed.path = '': kind 'file' needs the path of a .npy or HDF5 file")


TOLERANCES = (
    Field("atol_plus", float, "", "absolute tolerance for the P⁺ (particle + antiparticle) fields",
          default=1e-14, minimum=0.0, exclusive_minimum=True, maximum=1.0),
    Field("atol_minus", float, "", "absolute tolerance for the P⁻ (particle − antiparticle) "
          "fields; keep it far below rtol·|L0|", default=1e-24, minimum=0.0,
          exclusive_minimum=True, maximum=1.0),
)
"""The QKE's integrator keys (ModelSpec.integrator), read by QKELocal.error_norm."""


def mixing_parameters(deck) -> MixingParameters:
    """The MixingParameters of a validated QKE deck."""
    p = deck.physics
    return MixingParameters(p.delta_m2_eV2, p.sin2_2theta, p.g_star, p.mean_p_over_T,
                            p.sterile_elastic_fraction)


def build_local_system(deck, L0=None):
    """The per-site system (f, jac, dfdt, observables) for a validated deck."""
    return QKELocal(mixing_parameters(deck), deck.physics.L0 if L0 is None else L0)


def _qke_summary_line(s) -> str:
    onset = f"{s['onset_T_MeV']:.4f} MeV" if s.get("onset_T_MeV") else "none"
    slope = s.get("power_law_slope")
    slope_text = (f"{slope:+.3f} over T = {s['power_law_T_hi_MeV']:.3g}..{s['power_law_T_lo_MeV']:.3g} MeV"
                  if slope is not None else "n/a")
    return (f"done: T = {s['T_final_MeV']:.4g} MeV, L = {s['L_final']:+.6e}, "
            f"sterile/active = {s['sterile_over_active_final']:.6e}, growth onset (|L| > 1e3 |L0|) "
            f"at {onset}, d ln|L|/d ln T = {slope_text}; {s['accepted']} steps "
            f"({s['rejected']} rejected{_branch_split(s)}) in {s['wall_s']:.2f} s")


def _branch_split(s) -> str:
    """', of them N DOPRI5, K switches' for runs with the explicit branch, else ''."""
    if "dopri5_accepted" not in s:
        return ""
    return f"; {s['dopri5_accepted']} of them DOPRI5, {s['switches']} switches"


def length_unit(deck) -> float:
    """The unit of grid.box_hubble: the Hubble length 1/H at grid.T_ref_MeV [MeV^-1]."""
    return 1.0 / Cosmology(deck.physics.g_star).hubble(deck.grid.T_ref_MeV)


def build_on_lattice(deck, lattice):
    """(QKELocal, QKEDiffusion) for this rank's block of `lattice`, with the seed L0(x) of the
    deck's seed section; raises ValueError or OSError if the seed cannot be made."""
    g, s, params = deck.grid, deck.seed, mixing_parameters(deck)
    if s.kind == "constant":
        L0 = seeds.constant(lattice, deck.physics.L0)
    elif s.kind == "sine":
        L0 = seeds.sine(lattice, deck.physics.L0, s.amplitude, s.mode)
    elif s.kind == "domains":
        L0 = seeds.domains(lattice, s.T_QCD_MeV, g.T_ref_MeV, s.low, s.high, s.rng_seed)
    else:
        L0 = seeds.from_file(lattice, s.path, s.dataset)
    return QKELocal(params, lattice.xp.asarray(L0), lattice.xp), QKEDiffusion(params, g.T_ref_MeV)


MODEL = ModelSpec(
    name="qke", description="momentum-averaged QKE, homogeneous or lattice (paper 000)",
    physics=QKE_PHYSICS, sections={"seed": SEED}, checks=(check_seed,), integrator=TOLERANCES,
    T_max_MeV=1000.0, explicit_branch=True, build_system=build_local_system,
    lattice=LatticeSpec(N_FIELDS, QKEDiffusion.transverse_fields(), length_unit, build_on_lattice),
    on_lattice=lambda deck: int(np.prod(deck.grid.shape)) > 1,
    summarise=analysis.summarise, summary_line=_qke_summary_line)
"""The QKE's ModelSpec (registered as `qke` in scripts.models)."""
