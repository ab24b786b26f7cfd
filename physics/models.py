"""Registry of models: deck schema per model and construction from a validated deck.

A model is chosen by the deck's top-level ``model`` key. Each entry gives the fields of the
deck's ``physics`` section and a builder returning the local system the stepper integrates.
"""

from __future__ import annotations

from lattice import runconfig
from lattice.deck import DeckError, Field, Schema, read_mapping
from physics import constants as c
from physics.qke import MixingParameters, QKELocal

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

MODELS = {"qke": QKE_PHYSICS}
"""model name -> fields of its physics section."""

MODEL_FIELD = Field("model", str, "", "which equations to solve", choices=tuple(MODELS))
TITLE_FIELD = Field("title", str, "", "free-text description", default="")


def schema_for(model: str) -> Schema:
    """The deck schema of one model."""
    return Schema(
        top=(MODEL_FIELD, TITLE_FIELD),
        sections={"physics": MODELS[model], "time": runconfig.TIME,
                  "integrator": runconfig.INTEGRATOR, "output": runconfig.OUTPUT},
        checks=(runconfig.check_time_order,),
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


def build_local_system(deck):
    """The per-site system (f, jac, dfdt, observables) for a validated deck."""
    p = deck.physics
    params = MixingParameters(p.delta_m2_eV2, p.sin2_2theta, p.g_star, p.mean_p_over_T,
                              p.sterile_elastic_fraction)
    return QKELocal(params, p.L0)
