"""The ARS model (seed 001): baryogenesis via oscillations of three GeV-scale singlet neutrinos
(Akhmedov, Rubakov & Smirnov 1998), described in docs/models/ars.md.

Modules: `mixing` (the PDG mixing matrix, J, the Hermitian-matrix field layout), `parameters`
(couplings, rates and the paper's closed formulas), `density_matrix` (the System `qke run`
integrates), `closed_form` (the evolution operator S and ρ̃ = 1 − S S†), `asymmetry` (the
exact third-order C(ε) and the dimensionless small-coupling problem), `targets` (the table of
`qke targets ars`) and `model` (the ModelSpec).
"""
