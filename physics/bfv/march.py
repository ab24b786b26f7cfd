"""The note's reconstructed algorithm (§8.5) as a fixed-step march in ln T_ν: for the targets
table (`qke targets bfv`) and as a second integration of the same physics.

Per step T₀ → T₁ (log-spaced): refill the active cells exactly for rates frozen at T_m = √(T₀T₁),
g ← g_eq + (g − g_eq) e^{−Γ(T_m) Δt}; relax each X_n the same way towards λ_pn/(λ_np + λ_pn);
sweep the resonances to their positions at T₁ (cells.sweep). Units: T [MeV], t [MeV⁻¹].
"""

from __future__ import annotations

import math

import numpy as np

from physics.bfv.system import DY_PER_DN, SPECIES, BFVParameters, BFVPhysics


def march(p: BFVParameters, T_end: float, dlnT: float = 8e-4) -> dict:
    """Run the model from p.T_start to T_end [MeV] in steps of dlnT in ln T_ν.

    Returns: trajectory arrays T, L_tau, L_e, y1, y2 (per step) and the final values
    L_tau, L_e (per photon/h), n_a/n0 and E_a/E0 per species a, dN_rho, Y_P_std, dY_P_plus,
    dY_P_minus, N_eff_plus, N_eff_minus, N_eff_minus_symmetric, L_conserved_drift.
    """
    ph = BFVPhysics(p)
    grid, clock = ph.grid, ph.clock
    n = max(1, int(math.ceil(math.log(p.T_start / T_end) / dlnT)))
    Ts = np.geomspace(p.T_start, T_end, n + 1)
    L_tau, L_e = ph.L_tau_initial(), 0.0
    g_tau = ph.refill_target(L_tau, p.T_start, p.T_dec_mu_tau)
    g_e, g_s = grid.f0.copy(), np.zeros(len(grid))
    f1, f2 = ph.K / (p.T_start ** 4 * 3 * L_tau), ph.K / (p.T_start ** 4 * L_tau)
    k = ph.born_kernels(p.T_start)
    X = np.array([lpn / (lnp + lpn) for lnp, lpn in ph.neutron_rates(k, g_e)])
    invariant0 = 2 * L_tau + L_e - grid.number(g_s)
    drift = 0.0
    traj = {key: [] for key in ("T", "L_tau", "L_e", "y1", "y2")}
    for T0, T1 in zip(Ts[:-1], Ts[1:]):
        Tm = math.sqrt(T0 * T1)
        dt = float(clock.time(T1) - clock.time(T0))
        ph.refill(g_tau, g_e, L_tau, L_e, T0, T1, dt)
        for j, (lnp, lpn) in enumerate(ph.neutron_rates(ph.born_kernels(Tm), g_e)):
            if lnp + lpn > 0:
                eq = lpn / (lnp + lpn)
                X[j] = eq + (X[j] - eq) * math.exp(-(lnp + lpn) * dt)
        L_tau, L_e, f1, f2, _ = ph.sweep(T1, g_tau, g_e, g_s, L_tau, L_e, f1, f2)
        drift = max(drift, abs(2 * L_tau + L_e - grid.number(g_s) - invariant0))
        for key, v in zip(traj, (T1, L_tau, L_e, f1, f2)):
            traj[key].append(v)
    out = {key: np.array(v) for key, v in traj.items()}
    out.update(L_tau_final=L_tau, L_e_final=L_e, L_conserved_drift=drift,
               **final_observables(grid, g_tau, g_e, g_s, X))
    return out


def final_observables(grid, g_tau, g_e, g_s, X) -> dict:
    """Density ratios, δN_ρ, Y_P and N_eff of the final cells and neutron fractions."""
    out, rho = {}, 0.0
    for a, g in zip(SPECIES, (g_tau, g_e, g_s)):
        out[f"n_{a}"], out[f"E_{a}"] = grid.density_ratios(g)
        rho += (2.0 if a == "tau" else 1.0) * out[f"n_{a}"] * out[f"E_{a}"]
    dN = 0.5 * rho - 1.5
    dYp, dYm = 2 * (X[1] - X[0]), 2 * (X[2] - X[0])
    out.update(dN_rho=dN, Y_P_std=2 * X[0], dY_P_plus=dYp, dY_P_minus=dYm,
               N_eff_plus=3 + dN + dYp / DY_PER_DN, N_eff_minus=3 + dN + dYm / DY_PER_DN,
               N_eff_minus_symmetric=3 + dN - dYp / DY_PER_DN)
    return out


def crossing(T, L, level):
    """T [MeV] where the growing L first reaches `level` (log interpolation); None if never."""
    idx = np.nonzero(np.asarray(L) >= level)[0]
    if len(idx) == 0 or idx[0] == 0:
        return None
    i = idx[0]
    x = (math.log(level) - math.log(L[i - 1])) / (math.log(L[i]) - math.log(L[i - 1]))
    return float(math.exp(math.log(T[i - 1]) + x * (math.log(T[i]) - math.log(T[i - 1]))))
