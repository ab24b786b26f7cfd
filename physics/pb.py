"""The Pauli–Boltzmann rate equations (paper 002; model-pauli-boltzmann.md §2.5–2.10, §3).

Sterile occupations z_s = f_νs/f⁰, z̄_s on the momentum grid y = p/T evolve by conversion
from actives kept in equilibrium (z_α = 1 + ξ_α h, z̄_α = 1 − ξ_α h, h = 1/(1 + e^−y),
ξ_α = 12ζ(3)/π² L_να), one or two channels α sharing the sterile state (channel-resolved form
of §3(C), which conserves lepton number exactly):

    dz_s/dt = Σ_α Γ_αs (z_α − z_s),    dz̄_s/dt = Σ_α Γ̄_αs (z̄_α − z̄_s).

Fields per momentum point (field-major state (n_fields, n_y)): z⁺ = (z_s + z̄_s)/2 and, per
channel, the part z⁻_α of z⁻ = (z_s − z̄_s)/2 that channel α produced, dz⁻_α/dt =
½[Γ_αs(z_α − z_s) − Γ̄_αs(z̄_α − z̄_s)]. Lepton numbers are momentum integrals (reductions) of
the state, never differences of O(1) numbers:

    L_να = L_να(T_start) − (1/2ζ(3)) ∫ dy y² f⁰ z⁻_α,   L_νs = Σ_α (L_να(T_start) − L_να),
    L^(α) = η + Σ_β M_αβ L_νβ,  M = [2] (two flavours) or [[2, 1], [1, 2]] (ν_μ, ν_τ).

So L_να + L_νs (Σ_α L_να + L_νs) is conserved to round-off by construction, and the rates feel
L through the integrals: the Jacobian is block diagonal per momentum point plus a rank-1 (2)
coupling, which `lattice.linsolve.LowRankCoupled` solves exactly, so each Rodas4 step is
implicit in L (§4.3: an explicit L update flips the sign). With `dynamic=False`, L^(α) is
frozen at its initial value and ξ = 0 (the paper's §4 constant-L problem, z_s = 1 − e^−g).

Time is cosmic time t [MeV^-1] with H = α_H T²/M_P (paper §2.7); rates in MeV.
"""

from __future__ import annotations

import math

import numpy as np

from lattice.linsolve import LowRankCoupled
from physics import constants as c
from physics.cosmology import Cosmology
from physics.momentum import MomentumGrid
from physics.pb_rates import Channel, ChannelRates

N_EFF_NORM = 120.0 / (7.0 * math.pi ** 4)
"""N_eff = (120/7π⁴) ∫ dy y³ f⁰ z⁺ (paper #48)."""

COUPLING = {1: np.array([[2.0]]), 2: np.array([[2.0, 1.0], [1.0, 2.0]])}
"""M_αβ in L^(α) = η + Σ_β M_αβ L_νβ (eq:vlal)."""


class PBSystem:
    """The Pauli–Boltzmann model on a momentum grid, in the stepper's system protocol.

    Args:
        channels: one (ν_α–ν_s) or two (ν_μ–ν_s, ν_τ–ν_s) Channels.
        names: a short name per channel ('alpha'; or 'mu', 'tau') for observables.
        grid: the momentum grid.
        L_nu_initial: L_να at T_start per channel [per photon].
        eta: η̃ (two flavours) or η₀ (three) [per photon].
        dynamic: evolve L (True) or freeze L^(α) with ξ = 0 (False).
    """

    def __init__(self, channels, names, grid: MomentumGrid, L_nu_initial, eta, dynamic=True):
        self.channels, self.names, self.grid = tuple(channels), tuple(names), grid
        self.r = len(self.channels)
        self.n_fields = 1 + self.r
        self.field_names = ("z_plus",) + tuple(f"z_minus_{n}" for n in self.names)
        self.locally_constant = ()
        self.rates = [ChannelRates(ch, grid.y) for ch in self.channels]
        self.M = COUPLING[self.r]
        self.L_in = np.asarray(L_nu_initial, dtype=float).reshape(self.r)
        self.eta = float(eta)
        self.dynamic = bool(dynamic)
        self.cosmology = Cosmology(hubble_coeff=c.PB_ALPHA_H / c.PB_M_P)
        self.Q = grid.y ** 2 * grid.f0 * grid.dy / (2.0 * c.ZETA3)   # ∂L_νs/∂z⁻(y_j)
        self.E = N_EFF_NORM * grid.y ** 3 * grid.f0 * grid.dy          # ∂N_eff/∂z⁺(y_j)
        self.h = c.PB_XI_PER_L / (1.0 + np.exp(-grid.y))              # ∂z_α/∂L_να = κ h
        w = grid.y ** 2 * grid.f0
        self.weight = w / w.max()   # relative weight of a point in the number integrals (error norm)

    # -- lepton numbers (momentum integrals of the state) --------------------------------------
    def L_nu(self, y):
        """L_να per channel [per photon]."""
        return self.L_in - y[1:] @ self.Q

    def potential_asymmetry(self, L_nu):
        """L^(α) per channel from the L_νβ [per photon]."""
        return self.eta + self.M @ (L_nu if self.dynamic else self.L_in)

    def initial_state(self, grid_shape=None):
        """No sterile neutrinos: every z is 0 (shape (n_fields, n_y))."""
        return np.zeros((self.n_fields, len(self.grid)))

    def temperature(self, t):
        """T [MeV] at cosmic time t [MeV^-1]."""
        return self.cosmology.temperature(t)

    # -- right-hand side -----------------------------------------------------------------------
    def _state(self, t, y, derivatives=False):
        T = self.temperature(t)
        L_nu = self.L_nu(y)
        Lpot = self.potential_asymmetry(L_nu)
        xi = L_nu if self.dynamic else np.zeros(self.r)
        rates = [cr.at(T, L, derivatives) for cr, L in zip(self.rates, Lpot)]
        z_minus = y[1:].sum(axis=0)
        gaps = [(1.0 + x * self.h - y[0] - z_minus, 1.0 - x * self.h - y[0] + z_minus) for x in xi]
        return T, rates, gaps          # gaps: (z_α − z_s, z̄_α − z̄_s) per channel

    def _flux(self, rate_pairs, gaps, out):
        out[0] = 0.0
        for a, ((G, Gb), (gap, gapb)) in enumerate(zip(rate_pairs, gaps)):
            F, Fb = G * gap, Gb * gapb
            out[0] += 0.5 * (F + Fb)
            out[1 + a] = 0.5 * (F - Fb)
        return out

    def f(self, t, y):
        """dy/dt [MeV]."""
        _, rates, gaps = self._state(t, y)
        return self._flux([(r.G, r.Gb) for r in rates], gaps, np.empty_like(y))

    def dfdt(self, t, y):
        """∂f/∂t at fixed state [MeV²]: −H T ∂f/∂T, f being linear in the rates."""
        T, rates, gaps = self._state(t, y, derivatives=True)
        out = self._flux([(r.T_dG_dT, r.T_dGb_dT) for r in rates], gaps, np.empty_like(y))
        return out * -self.cosmology.hubble(T)

    def jac(self, t, y):
        """∂f/∂y: per-point blocks (n_y, n, n), plus the rank-r coupling through L when dynamic."""
        _, rates, gaps = self._state(t, y, derivatives=self.dynamic)
        n, ny = self.n_fields, y.shape[1]
        J = np.zeros((ny, n, n))
        for a, rt in enumerate(rates):
            half_sum, half_diff = 0.5 * (rt.G + rt.Gb), 0.5 * (rt.G - rt.Gb)
            J[:, 0, 0] -= half_sum
            J[:, 0, 1:] -= half_diff[:, None]
            J[:, 1 + a, 0] = -half_diff
            J[:, 1 + a, 1:] = -half_sum[:, None]
        if not self.dynamic:
            return J
        dL = np.empty((self.r, n, ny))      # ∂f/∂L^(α) per channel α
        for a, (rt, (gap, gapb)) in enumerate(zip(rates, gaps)):
            self._flux_one(a, rt.dG_dL * gap, rt.dGb_dL * gapb, dL[a])
        U = np.tensordot(self.M.T, dL, axes=1)   # Σ_α M_αβ ∂f/∂L^(α)
        for b, rt in enumerate(rates):           # ξ_β = κ L_νβ in z_β, z̄_β
            U[b, 0] += 0.5 * self.h * (rt.G - rt.Gb)
            U[b, 1 + b] += 0.5 * self.h * (rt.G + rt.Gb)
        V = np.zeros((self.r, n, ny))
        for b in range(self.r):
            V[b, 1 + b] = -self.Q
        return LowRankCoupled(J, U, V)

    def _flux_one(self, a, F, Fb, out):
        out[...] = 0.0
        out[0] = 0.5 * (F + Fb)
        out[1 + a] = 0.5 * (F - Fb)

    # -- observables ------------------------------------------------------------------------------
    @property
    def observable_units(self):
        units = {"L": f"per photon, L^({self.names[0]}) = η + Σ M L_ν (the potential's asymmetry)"}
        units.update({f"L_{n}": f"per photon, L^({n})" for n in self.names[1:]})
        units.update({f"L_nu_{n}": f"per photon, L_ν{n}" for n in self.names})
        units.update({"L_nus": "per photon, L_νs", "L_total": "per photon, Σ L_να + L_νs (conserved)",
                      "N_eff": "dimensionless, (ρ_νs + ρ_ν̄s)/(2 ρ⁰_eq)"})
        return units

    def observable_sums(self, y):
        """Momentum sums: N_eff, then (1/2ζ3)∫ y² f⁰ z⁻_α per channel."""
        return np.concatenate([[y[0] @ self.E], y[1:] @ self.Q])

    def observables_from_sums(self, sums):
        L_nu = self.L_in - sums[1:]
        Lpot = self.potential_asymmetry(L_nu)
        obs = {"L": Lpot[0]}
        obs.update({f"L_{n}": Lpot[i] for i, n in enumerate(self.names) if i})
        obs.update({f"L_nu_{n}": L_nu[i] for i, n in enumerate(self.names)})
        L_nus = float(sums[1:].sum())
        obs.update(L_nus=L_nus, L_total=float(L_nu.sum()) + L_nus, N_eff=float(sums[0]))
        return obs

    def spectra(self, y):
        """Final-state arrays for the output: y, z_s, z̄_s [dimensionless]."""
        z_minus = y[1:].sum(axis=0)
        return {"y": self.grid.y, "z_s": y[0] + z_minus, "zbar_s": y[0] - z_minus}

    def error_norm(self, rtol, atol_plus, atol_minus):
        return PBErrorNorm(self, rtol, atol_plus, atol_minus)


class PBErrorNorm:
    """Local error on what the physics needs, maximum over components (≤ 1 accepts):
    z⁺(y) against atol_plus + rtol·max_y|z⁺|, and z⁻_α(y), weighted by the point's share
    y²f⁰/max(y²f⁰) of the number integrals, against atol_minus + rtol·max_y|z⁻_α| (spectra to a
    fraction of their size: a per-point relative norm would resolve every narrow resonance
    crossing of a point whose occupation is negligible; z⁻ acts only through L and the
    equipartition term, so points far in the tails, y ≪ 1 or y ≫ 1, need not be held as tightly),
    and each L_να (a momentum integral of z⁻_α) against atol_minus + rtol·max(|L_να|, |L^(α)|)."""

    def __init__(self, system: PBSystem, rtol, atol_plus, atol_minus):
        self.s = system
        self.rtol, self.ap, self.am = float(rtol), float(atol_plus), float(atol_minus)

    def __call__(self, err, y, y_new):
        s, rtol = self.s, self.rtol
        big = np.maximum(np.abs(y), np.abs(y_new)).max(axis=1)   # per field, over the grid
        e = max(np.max(np.abs(err[0])) / (self.ap + rtol * big[0]),
                np.max((np.abs(err[1:]) * s.weight).max(axis=1) / (self.am + rtol * big[1:])))
        L_nu = np.stack((s.L_nu(y), s.L_nu(y_new)))
        Lpot = np.stack([s.potential_asymmetry(v) for v in L_nu])
        scale = self.am + rtol * np.maximum(np.abs(L_nu), np.abs(Lpot)).max(axis=0)
        return float(max(e, np.max(np.abs(err[1:] @ s.Q) / scale)))
