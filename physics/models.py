"""Registry of models: deck schema per model and construction from a validated deck.

A model is chosen by the deck's top-level ``model`` key. Each entry (a ModelSpec) gives the
fields of the deck's ``physics`` section and its other sections, the cross-field checks, a
builder of the system the stepper integrates (for runs that are not a decomposed lattice), the
closing summary of a run and its one-line form.
"""

from __future__ import annotations

from lattice import runconfig
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lattice.boundary import BC_KINDS
from lattice.deck import DeckError, Field, Schema, read_mapping
from physics import analysis
from physics import constants as c
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

GRID = (
    Field("shape", list, "cells", "cells per axis; [1] is the homogeneous (single-site) model",
          default=(1,), minimum=1, maximum=1 << 24),
    Field("box_hubble", float, "1/H(T_ref)", "comoving box length per axis, in Hubble lengths at "
          "T_ref", default=0.05, minimum=0.0, exclusive_minimum=True, maximum=1e3),
    Field("T_ref_MeV", float, "MeV", "temperature where comoving = physical length", default=18.0,
          minimum=0.0, exclusive_minimum=True, maximum=1000.0),
    Field("bc", str, "", "boundary condition on every axis", default="periodic", choices=BC_KINDS),
    Field("process_grid", list, "ranks", "MPI ranks per axis (default: chosen automatically)",
          default=None, minimum=1),
    Field("doubling_cells_per_lD", float, "cells", "periodic grid doubling: double the box (every "
          "second cell dropped, two images of the coarsened grid) whenever the active diffusion "
          "length l_D = sqrt(D_tautau/H) spans at least twice this many cells, so that this many "
          "remain after it; checked at every output sample; 0 = never", default=0.0, minimum=0.0,
          maximum=1e6),
    Field("max_doublings", int, "", "largest number of grid doublings in a run", default=30,
          minimum=0, maximum=60),
    Field("doubling_coarsening", str, "", "how a doubled cell is made from the two (per axis) it "
          "covers: drop (keep the first, the paper's method) or average (their mean: conserves "
          "every total and stays centred)", default="drop", choices=("drop", "average")),
    Field("doubling_below_T_MeV", float, "MeV", "grid doubling only below this temperature (keep "
          "the seed domains and the structure made at the resonance resolved until then)",
          default=1e3, minimum=0.0, exclusive_minimum=True, maximum=1e4),
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
    """Cross-field rules of the seed, grid and integrator sections."""
    seed = deck.seed
    if seed.kind == "domains" and seed.low > seed.high:
        raise DeckError(f"seed.low = {seed.low!r}: must not exceed seed.high = {seed.high!r}")
    if seed.kind == "file" and not seed.path:
        raise DeckError("seed.path = '': kind 'file' needs the path of a .npy or HDF5 file")
    if deck.grid.doubling_cells_per_lD and any(n % 2 for n in deck.grid.shape):
        raise DeckError(f"grid.shape = {list(deck.grid.shape)}: grid doubling "
                        f"(grid.doubling_cells_per_lD = {deck.grid.doubling_cells_per_lD!r}) needs an "
                        f"even number of cells on every axis")
    if deck.integrator.stage_solver == "direct" and (len(deck.grid.shape) != 1
                                                     or deck.integrator.coupling != "implicit"):
        raise DeckError(f"integrator.stage_solver = 'direct': needs a 1D grid (grid.shape = "
                        f"{list(deck.grid.shape)}) and integrator.coupling = 'implicit' (is "
                        f"{deck.integrator.coupling!r}); allowed otherwise: 'gmres'")
    line_engine = (len(deck.grid.shape) == 1 and deck.grid.shape[0] > 1 and deck.integrator.coupling == "implicit"
                   and deck.integrator.stage_solver == "direct")
    if deck.integrator.method == "dopri5" and not (line_engine or is_single_site(deck)):
        raise DeckError(f"integrator.method = 'dopri5': the explicit branch runs on a single site and on a 1D "
                        f"lattice with integrator.stage_solver = 'direct' (grid.shape = {list(deck.grid.shape)}, "
                        f"stage_solver = {deck.integrator.stage_solver!r}); allowed here: 'auto', 'rodas4' "
                        f"(both Rodas4)")
    if deck.grid.process_grid is not None and len(deck.grid.process_grid) != len(deck.grid.shape):
        raise DeckError(f"grid.process_grid = {list(deck.grid.process_grid)}: needs one entry per "
                        f"axis of grid.shape = {list(deck.grid.shape)}")


def mixing_parameters(deck) -> MixingParameters:
    """The MixingParameters of a validated QKE deck."""
    p = deck.physics
    return MixingParameters(p.delta_m2_eV2, p.sin2_2theta, p.g_star, p.mean_p_over_T,
                            p.sterile_elastic_fraction)


def build_local_system(deck, L0=None):
    """The per-site system (f, jac, dfdt, observables) for a validated deck."""
    return QKELocal(mixing_parameters(deck), deck.physics.L0 if L0 is None else L0)


def is_single_site(deck) -> bool:
    """Whether the deck is the homogeneous model (one cell)."""
    return int(np.prod(deck.grid.shape)) == 1


@dataclass(frozen=True)
class ModelSpec:
    """What the shared machinery needs to know about one model.

    Attributes:
        physics: Fields of the deck's ``physics`` section.
        sections: the model's other deck sections (name -> Fields), before the shared ones.
        checks: cross-field rules (deck) -> None raising DeckError.
        build_system: (deck) -> the system integrated when the deck is not a decomposed lattice.
        on_lattice: (deck) -> whether the deck runs on a decomposed lattice (build_lattice).
        summarise: (result, deck) -> dict, the closing summary (merged with the statistics).
        summary_line: (summary dict) -> the one closing line `qke run` prints.
    """

    physics: tuple
    sections: dict
    checks: tuple
    build_system: Callable
    on_lattice: Callable
    summarise: Callable
    summary_line: Callable


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


def _pb_spec():
    from physics import pb_deck

    return ModelSpec(pb_deck.PHYSICS, {"momentum": pb_deck.MOMENTUM}, (pb_deck.check,),
                     pb_deck.build_system, lambda deck: False, pb_deck.summarise, pb_deck.summary_line)


MODELS = {
    "qke": ModelSpec(QKE_PHYSICS, {"grid": GRID, "seed": SEED}, (check_seed,),
                     lambda deck: build_local_system(deck), lambda deck: not is_single_site(deck),
                     analysis.summarise, _qke_summary_line),
    "pb": _pb_spec(),
}
"""model name -> its ModelSpec."""

MODEL_FIELD = Field("model", str, "", "which equations to solve: qke (momentum-averaged QKE, "
                    "homogeneous or lattice), pb (Pauli–Boltzmann rate equations, paper 002)",
                    choices=tuple(MODELS))
TITLE_FIELD = Field("title", str, "", "free-text description", default="")


def schema_for(model: str) -> Schema:
    """The deck schema of one model."""
    spec = MODELS[model]
    return Schema(
        top=(MODEL_FIELD, TITLE_FIELD),
        sections={"physics": spec.physics, **spec.sections, "time": runconfig.TIME,
                  "integrator": runconfig.INTEGRATOR, "output": runconfig.OUTPUT,
                  "checkpoint": runconfig.CHECKPOINT},
        checks=(runconfig.check_time_order, *spec.checks),
    )


def load_deck(path, overrides=()):
    """Read and validate a deck file (with ``section.key=value`` overrides).

    Returns (deck, schema). Raises DeckError before anything is created or written.
    """
    raw = read_mapping(path)
    probe = Schema(top=(MODEL_FIELD,), sections={})
    if raw is None:
        probe.build(None, str(path))
    raw = probe.apply_overrides(raw, [o for o in overrides if o.split("=", 1)[0].strip() == "model"])
    model = MODEL_FIELD.check("model", raw.get("model")) if raw.get("model") is not None else None
    if model is None:
        raise DeckError(f"missing required key model; allowed: {MODEL_FIELD.allowed()}")
    schema = schema_for(model)
    return schema.build(schema.apply_overrides(raw, overrides), source=str(path)), schema


@dataclass
class LatticeSetup:
    """What the driver needs to run a deck on a lattice."""

    lattice: object
    system: QKELocal
    diffusion: QKEDiffusion
    hubble_length: float  # 1/H(T_ref) [MeV^-1]


def build_lattice(deck, comm, xp=np) -> LatticeSetup:
    """Decompose the grid over comm's ranks and seed L0(x); raises ValueError if it cannot.

    xp: array library of the fields and of L0 (numpy, or cupy to step on a GPU)."""
    from lattice.grid import Lattice
    from physics import seeds

    g, params = deck.grid, mixing_parameters(deck)
    hubble_length = 1.0 / Cosmology(params.g_star).hubble(g.T_ref_MeV)
    box = (g.box_hubble * hubble_length,) * len(g.shape)
    lattice = Lattice(g.shape, box, (g.bc,) * len(g.shape), N_FIELDS, comm,
                      process_grid=g.process_grid, odd_fields=QKEDiffusion.transverse_fields(), xp=xp)
    s = deck.seed
    if s.kind == "constant":
        L0 = seeds.constant(lattice, deck.physics.L0)
    elif s.kind == "sine":
        L0 = seeds.sine(lattice, deck.physics.L0, s.amplitude, s.mode)
    elif s.kind == "domains":
        L0 = seeds.domains(lattice, s.T_QCD_MeV, g.T_ref_MeV, s.low, s.high, s.rng_seed)
    else:
        L0 = seeds.from_file(lattice, s.path, s.dataset)
    return LatticeSetup(lattice, QKELocal(params, xp.asarray(L0)), QKEDiffusion(params, g.T_ref_MeV),
                        hubble_length)
