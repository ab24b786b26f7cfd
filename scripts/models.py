"""The model registry and deck loading: which ModelSpec a deck's `model` key names.

A deck names a built-in model (`qke`, `pb`), a model registered in this process
(`register(spec)`), or any importable ModelSpec as `package.module:NAME`; that last form runs a
model from its own module without touching any file of the project (docs/model-interface.md).
"""

from __future__ import annotations

import importlib

from lattice import runconfig
from lattice.deck import DeckError, Field, Schema, read_mapping
from lattice.model import ModelSpec

BUILTIN = {"qke": "physics.qke_model:MODEL", "pb": "physics.pb_deck:MODEL",
           "hot_plasma": "physics.hot_plasma.model:MODEL", "bfv": "physics.bfv.model:MODEL",
           "ars": "physics.ars.model:MODEL"}
"""Built-in model name -> where its ModelSpec lives."""

_REGISTERED: dict = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Make `spec` available under spec.name in this process (returns it, for module level use)."""
    if spec.name in BUILTIN:
        raise ValueError(f"model name {spec.name!r} is a built-in model's; choose another")
    _REGISTERED[spec.name] = spec
    return spec


def allowed() -> str:
    """What the model key accepts, for error messages."""
    names = ", ".join(repr(n) for n in (*BUILTIN, *_REGISTERED))
    return f"one of {names}, or 'package.module:NAME' of a lattice.model.ModelSpec"


def model_spec(name) -> ModelSpec:
    """The ModelSpec a deck's model value names; DeckError (one line) if none."""
    if not isinstance(name, str) or not name:
        raise DeckError(f"model = {name!r}: not a model name; allowed: {allowed()}")
    if name in _REGISTERED:
        return _REGISTERED[name]
    where = BUILTIN.get(name, name)
    if ":" not in where:
        raise DeckError(f"model = {name!r}: unknown model; allowed: {allowed()}")
    module, attribute = where.split(":", 1)
    try:
        spec = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise DeckError(f"model = {name!r}: cannot load it ({type(exc).__name__}: {exc}); allowed: "
                        f"{allowed()}") from None
    if not isinstance(spec, ModelSpec):
        raise DeckError(f"model = {name!r}: {where} is a {type(spec).__name__}, not a lattice.model.ModelSpec")
    return spec


def model_field(name: str, spec: ModelSpec) -> Field:
    """The top-level `model` key of a deck of the model `spec`, named `name` in the deck."""
    return Field("model", str, "", f"which equations to solve: {spec.description} (the model key takes "
                 f"{allowed()})", choices=(name,))


def schema_for(model: str) -> Schema:
    """The deck schema of one model (its ModelSpec as `schema.spec`)."""
    spec = model_spec(model)
    return runconfig.schema_for(spec, model_field(model, spec))


def load_deck(path, overrides=()):
    """Read and validate a deck file (with ``section.key=value`` overrides).

    Returns (deck, schema). Raises DeckError before anything is created or written.
    """
    raw = read_mapping(path)
    probe = Schema(top=(Field("model", str, "", "the model"),), sections={})
    if raw is None:
        probe.build(None, str(path))
    raw = probe.apply_overrides(raw, [o for o in overrides if o.split("=", 1)[0].strip() == "model"])
    if raw.get("model") is None:
        raise DeckError(f"missing required key model; allowed: {allowed()}")
    schema = schema_for(raw["model"])
    return schema.build(schema.apply_overrides(raw, overrides), source=str(path)), schema
