"""Bell, Foot & Volkas (1998): relic ν asymmetries and BBN in a four-neutrino model (`model: bfv`).

The adiabatic-MSW regime below T_C/2: ν̄_{τ,μ}–ν̄_s (p₁) and ν̄_{τ,μ}–ν̄_e (p₂) resonances sweep
upward through ν̄ momentum cells, collisions refill the active cells, the n↔p rates (Born) feel the
distorted ν̄_e (or, CP-mirrored, ν_e) spectrum. docs/models/bell-foot-volkas.md is the model page.

Modules: potentials (K, resonance momenta, T_C), chemistry (L ↔ μ, eq. robo), cells (the cell grid
and the forward-only resonance sweep), cosmology (T_ν clock, T_γ(T_ν), H, t), bbn (Born n↔p rates
on the cell grid), system (the ODE system the runner steps), march (the note's fixed-step
algorithm, for the targets), targets (the §9 table), model (the ModelSpec).
"""
