"""The active–sterile QKE in a hot plasma at fixed temperature, with an optional random magnetic
field (Enqvist, Maalampi & Semikoz 1995; docs/models/hot-plasma.md).

Modules: plasma (potentials and rates at a temperature), bloch (the 2×2 Bloch system with
anisotropic damping and its exact propagator), master (the master equation's cubic and the
paper's closed forms), bounds (the BBN bounds as printed formulas), system (the System the
machinery steps), targets (the validation table), model (the deck and the ModelSpec).
"""
