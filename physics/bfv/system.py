"""The BFV model as the ODE system the runner steps (note §4–§8; docs/models/bell-foot-volkas.md).

State: one field of M = 3N + 8 numbers (shape (1, M)), in this order:

    g_τ[N], g_e[N], g_s[N]      ν̄_τ (= ν̄_μ), ν̄_e, ν̄_s occupations on the cells (cells.CellGrid)
    L_τ, L_e                    lepton numbers per photon / h (h = T_ν³/T_γ³), L_μ = L_τ
    y₁, y₂                      the fronts: largest p/T_ν each ν̄ resonance has reached
    clock                       cosmic time t [MeV⁻¹] (dclock/dt = 1; the sweep reads T from it)
    X_std, X_+, X_−             neutron fraction: thermal ν_e, ν̄_e; ν̄_e on the cells (L_e > 0);
                                ν_e on the cells (the CP mirror, L_e < 0)

The ODE (stepped by Rodas4, dt = −dT_ν/(H T_ν)) is the n/p part and the clock:

    dX/dt = −λ_np X + λ_pn (1 − X) for T_γ ≥ T_nuc, else 0  (bbn.BornRates on the cells),
    dclock/dt = 1;

the cells, L and the fronts have no tendency there: after every step `conserve` advances them
over the step exactly as the note's algorithm (§8.5) does — the collisional refill, linear in g
for fixed L and solved exactly (BFVPhysics.refill: Γ_a = k_a G_F² T_ν⁵ y/3.15 towards
g_eq,a(y; μ̃_ν̄(L_a)), a = τ, e; ν̄_s never refilled), then the resonance sweep to the step's end
(cells.sweep), the only thing that changes L and the fronts. Steps are capped at dlnT_max in ln T_ν
by the error norm (Lie splitting: the spectra the rates see are those at the step's start).
Temperature T is T_ν throughout.
"""

from __future__ import annotations

import numpy as np

from lattice.model import System
from physics import constants as c
from physics.bfv import bbn, cells, chemistry, potentials
from physics.bfv.cosmology import clock as shared_clock

N_SCALARS = 8
LT, LE, Y1, Y2, CLOCK, XS, XP, XM = range(N_SCALARS)
SPECIES = ("tau", "e", "s")


class BFVParameters:
    """The physical inputs of one BFV run (units in brackets).

    Args: delta_m2_eV2 [eV², < 0], y1_initial [p₁/T at T_start], T_start [MeV, T_ν], dy, y_max
    [cells], k_e, k_mu_tau [⟨Γ⟩/(G_F² T⁵)], T_dec_e, T_dec_mu_tau [MeV], tau_n_s [s], T_nuc [MeV, T_γ].
    """

    def __init__(self, delta_m2_eV2, y1_initial, T_start, dy=0.002, y_max=60.0, k_e=4.0,
                 k_mu_tau=2.9, T_dec_e=3.0, T_dec_mu_tau=5.0, tau_n_s=887.0, T_nuc=0.075):
        self.delta_m2_eV2, self.y1_initial, self.T_start = float(delta_m2_eV2), float(y1_initial), float(T_start)
        self.dy, self.y_max, self.k_e, self.k_mu_tau = float(dy), float(y_max), float(k_e), float(k_mu_tau)
        self.T_dec_e, self.T_dec_mu_tau = float(T_dec_e), float(T_dec_mu_tau)
        self.tau_n_s, self.T_nuc = float(tau_n_s), float(T_nuc)


class BFVPhysics:
    """The pieces of the model one temperature at a time, shared by BFVSystem and march.

    Attributes: grid (CellGrid), K [MeV⁴], born (BornRates), clock (NeutrinoClock), p (parameters).
    """

    def __init__(self, p: BFVParameters):
        self.p = p
        self.grid = cells.CellGrid(p.dy, p.y_max)
        self.K = potentials.K_coefficient(p.delta_m2_eV2)
        self.born = bbn.BornRates(self.grid.y, self.grid.dy, p.tau_n_s)
        self.clock = shared_clock()
        self.gamma_shape = c.G_F ** 2 * self.grid.y / potentials.MEAN_Y   # Γ/(k T⁵) per cell [MeV⁻⁴]

    def L_tau_initial(self) -> float:
        """L_τ/h at T_start putting p₁/T at y1_initial (L_e = 0): K/(3 y₁ T⁴)."""
        return self.K / (3.0 * self.p.y1_initial * self.p.T_start ** 4)

    def refill_target(self, L, T, T_dec):
        """g_eq(y) = 1/(1 + e^{y + μ̃_ν̄}) with μ̃_ν̄ from L (eq. robo; μ̃_ν = −μ̃_ν̄ above T_dec)."""
        return 1.0 / (1.0 + np.exp(self.grid.y + chemistry.mu_nubar(L, T > T_dec)))

    def refill_rates(self, T):
        """(Γ_τ, Γ_e) per cell [MeV] at T_ν = T."""
        base = self.gamma_shape * T ** 5
        return self.p.k_mu_tau * base, self.p.k_e * base

    def refill(self, g_tau, g_e, L_tau, L_e, T0, T1, dt):
        """Collisional refill of the active cells over T₀ → T₁ [MeV] (dt [MeV⁻¹]), in place: for L
        fixed the relaxation dg/dt = Γ(y)(g_eq − g) is linear, solved exactly with Γ and the
        decoupling switch taken at T_m = √(T₀T₁): g ← g_eq + (g − g_eq) e^{−Γ(T_m) dt}."""
        Tm = (T0 * T1) ** 0.5
        G_tau, G_e = self.refill_rates(Tm)
        for g, G, L, Td in ((g_tau, G_tau, L_tau, self.p.T_dec_mu_tau), (g_e, G_e, L_e, self.p.T_dec_e)):
            eq = self.refill_target(L, Tm, Td)
            g[:] = eq + (g - eq) * np.exp(-G * dt)

    def born_kernels(self, T):
        """bbn kernels at T_ν = T, or None below T_nuc (the n/p ratio frozen at nucleosynthesis)."""
        Tg = float(self.clock.T_gamma(T))
        return None if Tg < self.p.T_nuc else self.born.kernels(T, Tg)

    def spectra(self, g_e):
        """(f_νe, f_ν̄e) for the three neutron fractions: standard, L_e > 0, L_e < 0 (mirror)."""
        f0 = self.grid.f0
        return ((f0, f0), (f0, g_e), (g_e, f0))

    def neutron_rates(self, k, g_e):
        """[(λ_np, λ_pn)] [MeV] of the three neutron fractions (zeros without kernels)."""
        if k is None:
            return [(0.0, 0.0)] * 3
        return [self.born.rates(k, fn, fb) for fn, fb in self.spectra(g_e)]

    def sweep(self, T, g_tau, g_e, g_s, L_tau, L_e, front1, front2):
        """cells.sweep at T_ν = T (in place on the g's)."""
        return cells.sweep(self.grid, self.K, T, g_tau, g_e, g_s, L_tau, L_e, front1, front2)


class BFVSystem(System):
    """The BFV model in the runner's system protocol (layout: module docstring)."""

    field_names = ("state",)
    n_fields = 1

    def __init__(self, p: BFVParameters):
        self.ph = BFVPhysics(p)
        self.p = p
        self.cosmology = self.ph.clock
        self.N = N = len(self.ph.grid)
        self.sl = {"tau": slice(0, N), "e": slice(N, 2 * N), "s": slice(2 * N, 3 * N)}
        self.i = 3 * N

    # -- layout ------------------------------------------------------------------------------
    def unpack(self, y):
        """(g_τ, g_e, g_s, scalars) views of a state."""
        v = y[0]
        return v[self.sl["tau"]], v[self.sl["e"]], v[self.sl["s"]], v[self.i:]

    def initial_state(self, grid_shape=()):
        """Thermal ν̄_τ,μ at L_τ(T_start), thermal ν̄_e (L_e = 0), empty ν̄_s; fronts at the
        resonances; X at the equilibrium of its rates."""
        ph, T = self.ph, self.p.T_start
        y = np.zeros((1, 3 * self.N + N_SCALARS))
        g_tau, g_e, g_s, s = self.unpack(y)
        L_tau = ph.L_tau_initial()
        g_tau[:] = ph.refill_target(L_tau, T, self.p.T_dec_mu_tau)
        g_e[:] = ph.grid.f0
        s[LT], s[LE] = L_tau, 0.0
        s[Y1], s[Y2] = potentials.y1(ph.K, T, L_tau, 0.0), potentials.y2(ph.K, T, L_tau, 0.0)
        s[CLOCK] = float(self.cosmology.time(T))
        k = ph.born.kernels(T, float(ph.clock.T_gamma(T)))
        for j, (lnp, lpn) in enumerate(ph.neutron_rates(k, g_e)):
            s[XS + j] = lpn / (lnp + lpn)
        return y

    def temperature(self, t):
        """T_ν [MeV] at t [MeV⁻¹]."""
        return float(self.cosmology.temperature(t))

    # -- equations ---------------------------------------------------------------------------
    def _rates(self, T, y):
        """(Born kernels or None, [(λ_np, λ_pn)] of X_std, X_+, X_−) at T_ν = T for the state y."""
        k = self.ph.born_kernels(T)
        return k, self.ph.neutron_rates(k, self.unpack(y)[1])

    def f(self, t, y):
        """dy/dt [MeV]: the neutron fractions and the clock (module docstring)."""
        _, rates = self._rates(self.temperature(t), y)
        s = self.unpack(y)[3]
        out = np.zeros_like(y)
        o = self.unpack(out)[3]
        o[CLOCK] = 1.0
        for j, (lnp, lpn) in enumerate(rates):
            o[XS + j] = -lnp * s[XS + j] + lpn * (1.0 - s[XS + j])
        return out

    def jac(self, t, y):
        """∂f/∂y as per-entry 1×1 blocks (M, 1, 1): −(λ_np + λ_pn) on each X, 0 elsewhere (the
        cells have no tendency within a step, so ∂f_X/∂g_e never acts)."""
        _, rates = self._rates(self.temperature(t), y)
        J = np.zeros((y.shape[1], 1, 1))
        for j, (lnp, lpn) in enumerate(rates):
            J[self.i + XS + j, 0, 0] = -(lnp + lpn)
        return J

    def dfdt(self, t, y):
        """∂f/∂t at fixed y [MeV²] = −H T ∂f/∂T: the X rows by a centred difference of the rates
        in T (one-sided at the T_nuc freeze-out)."""
        T = self.temperature(t)
        out = np.zeros_like(y)
        if self.ph.born_kernels(T) is None:
            return out
        hi, lo = T * (1 + 1e-6), T * (1 - 1e-6)
        if self.ph.born_kernels(lo) is None:
            lo = T
        (_, r_hi), (_, r_lo) = self._rates(hi, y), self._rates(lo, y)
        s, o = self.unpack(y)[3], self.unpack(out)[3]
        H = float(self.cosmology.hubble(T))
        for j in range(3):
            d_np, d_pn = ((a - b) / (hi - lo) for a, b in zip(r_hi[j], r_lo[j]))
            o[XS + j] = -H * T * (-d_np * s[XS + j] + d_pn * (1.0 - s[XS + j]))
        return out

    def conserve(self, y, y_new):
        """y_new with the cells refilled over the step and the resonances swept forward to
        T_ν(clock of y_new) (BFVPhysics.refill, cells.sweep); y is not changed."""
        g_tau, g_e, g_s, s = self.unpack(y_new)
        t0 = y[0, self.i + CLOCK]
        T0, T = self.temperature(t0), self.temperature(s[CLOCK])
        self.ph.refill(g_tau, g_e, s[LT], s[LE], T0, T, s[CLOCK] - t0)
        s[LT], s[LE], s[Y1], s[Y2], _ = self.ph.sweep(T, g_tau, g_e, g_s, s[LT], s[LE], s[Y1], s[Y2])
        return y_new

    def error_norm(self, rtol, tolerances):
        """BFVNorm with the integrator keys atol_X, dlnT_max."""
        return BFVNorm(self, rtol, tolerances.atol_X, tolerances.dlnT_max)

    # -- observables ----------------------------------------------------------------------------
    observable_units = {
        "L_tau_over_h": "per photon / h, L_ντ = L_νμ", "L_e_over_h": "per photon / h, L_νe",
        "L_s_over_h": "per photon / h, −n_ν̄s/n_γ", "L_conserved": "per photon / h, 2 L_τ + L_e + L_s",
        "y1_front": "p/T_ν, ν̄_τ,μ–ν̄_s resonance reached", "y2_front": "p/T_ν, ν̄_τ,μ–ν̄_e resonance reached",
        "T_gamma_MeV": "MeV",
        "n_tau_over_n0": "dimensionless, ν̄_τ (= ν̄_μ)", "E_tau_over_E0": "dimensionless, ⟨E⟩/⟨p⟩",
        "n_e_over_n0": "dimensionless, ν̄_e", "E_e_over_E0": "dimensionless, ⟨E⟩/⟨p⟩",
        "n_s_over_n0": "dimensionless, ν̄_s", "E_s_over_E0": "dimensionless, ⟨E⟩/⟨p⟩",
        "dN_rho": "dimensionless, ½ Σ ρ_ν̄/ρ₀ − 3/2",
        "Y_P_std": "dimensionless, 2 X_n (thermal spectra, Born)",
        "dY_P_plus": "dimensionless, L_e > 0", "dY_P_minus": "dimensionless, L_e < 0 (CP mirror)",
        "N_eff_plus": "dimensionless, 3 + dN_rho + dY_P_plus/0.012",
        "N_eff_minus": "dimensionless, 3 + dN_rho + dY_P_minus/0.012",
        "N_eff_minus_symmetric": "dimensionless, 3 + dN_rho − dY_P_plus/0.012 (paper's assumption)",
    }
    headline = "L_tau_over_h"

    def observable_sums(self, y):
        g = self.ph.grid
        g_tau, g_e, g_s, s = self.unpack(y)
        wy = g.w * g.y
        moments = [m for a in (g_tau, g_e, g_s) for m in (cells.dot(g.w, a), cells.dot(wy, a))]
        return np.concatenate([s, moments])

    def observables_from_sums(self, sums):
        g = self.ph.grid
        s, m = sums[:N_SCALARS], sums[N_SCALARS:]
        obs = {"L_tau_over_h": s[LT], "L_e_over_h": s[LE], "L_s_over_h": -m[4],
               "L_conserved": 2.0 * s[LT] + s[LE] - m[4], "y1_front": s[Y1], "y2_front": s[Y2],
               "T_gamma_MeV": float(self.cosmology.T_gamma(self.temperature(s[CLOCK])))}
        rho = 0.0
        for j, a in enumerate(SPECIES):
            n, e = m[2 * j], m[2 * j + 1]
            obs[f"n_{a}_over_n0"] = n / g.n0
            obs[f"E_{a}_over_E0"] = (e / n) / (g.e0 / g.n0) if n > 0 else 0.0
            rho += (2.0 if a == "tau" else 1.0) * e / g.e0
        obs["dN_rho"] = 0.5 * rho - 1.5
        obs["Y_P_std"] = 2.0 * s[XS]
        obs["dY_P_plus"], obs["dY_P_minus"] = 2.0 * (s[XP] - s[XS]), 2.0 * (s[XM] - s[XS])
        obs["N_eff_plus"] = 3.0 + obs["dN_rho"] + obs["dY_P_plus"] / DY_PER_DN
        obs["N_eff_minus"] = 3.0 + obs["dN_rho"] + obs["dY_P_minus"] / DY_PER_DN
        obs["N_eff_minus_symmetric"] = 3.0 + obs["dN_rho"] - obs["dY_P_plus"] / DY_PER_DN
        return {k: float(v) for k, v in obs.items()}

    def final_arrays(self, y):
        """y (cell centres) and the final ν̄_τ,μ, ν̄_e, ν̄_s occupations [dimensionless]."""
        g_tau, g_e, g_s, _ = self.unpack(y)
        return {"y": self.ph.grid.y, "f_taubar": g_tau.copy(), "f_ebar": g_e.copy(), "f_sbar": g_s.copy()}


DY_PER_DN = 0.012
"""δY_P per extra neutrino flavour (Walker et al. 1991, as the paper uses) [dimensionless]."""


class BFVNorm:
    """Step error: max over the neutron fractions of |err|/(atol_X + rtol X), and
    |Δ ln T_ν|/dlnT_max (the splitting step of refill, sweep and the rates' spectra)."""

    def __init__(self, system: BFVSystem, rtol, atol_X, dlnT_max):
        self.s, self.rtol = system, float(rtol)
        self.aX, self.dlnT = float(atol_X), float(dlnT_max)

    def __call__(self, err, y, y_new):
        s = self.s
        X = slice(s.i + XS, s.i + XM + 1)
        e = float(np.max(np.abs(err[0, X]) / (self.aX + self.rtol * np.abs(y_new[0, X]))))
        T0, T1 = s.temperature(y[0, s.i + CLOCK]), s.temperature(y_new[0, s.i + CLOCK])
        return max(e, abs(np.log(T1 / T0)) / self.dlnT)
