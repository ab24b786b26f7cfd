"""The Pauli–Boltzmann rate equations (Di Bari, Lipari & Lusignoli 1999;
docs/models/pauli-boltzmann.md §2.5–2.10, §3).

Sterile occupations z_s = f_νs/f⁰, z̄_s on the momentum grid y = p/T evolve by conversion
from actives kept in equilibrium (z_α = 1 + ξ_α h, z̄_α = 1 − ξ_α h, h = 1/(1 + e^−y),
ξ_α = 12ζ(3)/π² L_να), one or two channels α sharing the sterile state (channel-resolved form
of docs/models/pauli-boltzmann.md §3(C), which conserves lepton number exactly):

    dz_s/dt = Σ_α Γ_αs (z_α − z_s),    dz̄_s/dt = Σ_α Γ̄_αs (z̄_α − z̄_s).

Fields per momentum point (field-major state (n_fields, n_y)): z⁺ = (z_s + z̄_s)/2 and, per
channel, the part z⁻_α of z⁻ = (z_s − z̄_s)/2 that channel α produced, dz⁻_α/dt =
½[Γ_αs(z_α − z_s) − Γ̄_αs(z̄_α − z̄_s)]. Lepton numbers are momentum integrals (reductions) of
the state, never differences of O(1) numbers:

    L_να = L_να(T_start) − (1/2ζ(3)) ∫ dy y² f⁰ z⁻_α,   L_νs = Σ_α (L_να(T_start) − L_να),
    L^(α) = η + Σ_β M_αβ L_νβ,  M = [2] (two flavours) or [[2, 1], [1, 2]] (ν_μ, ν_τ).

So L_να + L_νs (Σ_α L_να + L_νs) is conserved to round-off by construction, and the rates feel
L through the integrals: the Jacobian is block diagonal per momentum point plus a rank-1 (2)
coupling, which `PBJacobian` solves exactly (closed-form blocks and the Woodbury identity, as
`lattice.linsolve.LowRankCoupled` would), so each Rodas4 step is implicit in L (an explicit L
update flips the sign: docs/models/pauli-boltzmann.md §4.3). With `dynamic=False`, L^(α) is
frozen at its initial value and ξ = 0 (the paper's constant-L problem with the closed form
z_s = 1 − e^−g, docs/models/pauli-boltzmann.md §2.8).

Time is cosmic time t [MeV^-1] with H = α_H T²/M_P (docs/models/pauli-boltzmann.md §2.7); rates in MeV.
"""

from __future__ import annotations

import math

import numpy as np

from lattice.model import System
from physics import constants as c
from physics import pb_kernels
from physics.cosmology import Cosmology
from physics.momentum import MomentumGrid
from physics.pb_rates import ChannelRates

N_EFF_NORM = 120.0 / (7.0 * math.pi ** 4)
"""N_eff = (120/7π⁴) ∫ dy y³ f⁰ z⁺ (paper #48)."""

Z_PLUS_WEIGHT_FLOOR = 0.1
"""Smallest weight of a momentum point's z⁺ error in the step control (PBErrorNorm): points far in
the tails of the integrals are held to 10× the allowance of the points that carry N_eff and the
L source, so their spectra stay controlled (the per-point quadrature tests hold to ≤ 3e-5)."""

COUPLING = {1: np.array([[2.0]]), 2: np.array([[2.0, 1.0], [1.0, 2.0]])}
"""M_αβ in L^(α) = η + Σ_β M_αβ L_νβ (eq:vlal)."""


class PBSystem(System):
    """The Pauli–Boltzmann model on a momentum grid, in the stepper's system protocol.

    Args:
        channels: one (ν_α–ν_s) or two (ν_μ–ν_s, ν_τ–ν_s) Channels.
        names: a short name per channel ('alpha'; or 'mu', 'tau') for observables.
        grid: the momentum grid.
        L_nu_initial: L_να at T_start per channel [per photon].
        eta: η̃ (two flavours) or η₀ (three) [per photon].
        dynamic: evolve L (True) or freeze L^(α) with ξ = 0 (False).
        cell_average: rates averaged over each point's cell in ln y (True) or taken at the
            point (False); see `pb_rates.ChannelRates`.
    """

    def __init__(self, channels, names, grid: MomentumGrid, L_nu_initial, eta, dynamic=True,
                 cell_average=False):
        self.channels, self.names, self.grid = tuple(channels), tuple(names), grid
        self.r = len(self.channels)
        self.n_fields = 1 + self.r
        self.field_names = ("z_plus",) + tuple(f"z_minus_{n}" for n in self.names)
        self.locally_constant = ()
        self.stage_sums = "blas"   # one rank, small state: Rodas4 stage sums as one BLAS call each
        self.cell_average = bool(cell_average)    # the kernels' `cell`: which rates they use
        rates = [ChannelRates(ch, grid.y, grid.half_cell_ln_y) for ch in self.channels]
        # per-channel arrays (r, n_y) and scalars (r,), in the order the pb_kernels take them
        self._params = (*(np.stack([getattr(q, k) for q in rates]) for k in ("amp", "d2", "xt", "vt", "hc")),
                        *(np.array([getattr(q, k) for q in rates]) for k in ("c", "s2")))
        self.M = COUPLING[self.r]
        self.L_in = np.asarray(L_nu_initial, dtype=float).reshape(self.r)
        self.eta = float(eta)
        self.dynamic = bool(dynamic)
        self.cosmology = Cosmology(hubble_coeff=c.PB_ALPHA_H / c.PB_M_P)
        self.Q = grid.y ** 2 * grid.f0 * grid.dy / (2.0 * c.ZETA3)   # ∂L_νs/∂z⁻(y_j)
        self.E = N_EFF_NORM * grid.y ** 3 * grid.f0 * grid.dy          # ∂N_eff/∂z⁺(y_j)
        self.h = c.PB_XI_PER_L / (1.0 + np.exp(-grid.y))              # ∂z_α/∂L_να = κ h
        self._linearised = None   # (t, y, copy of y, (G, Gb, U, dfdt)) of the last jac/dfdt
        w = grid.y ** 2 * grid.f0
        self.weight = w / w.max()   # relative weight of a point in the number integrals (error norm)
        e = grid.y ** 3 * grid.f0
        self.weight_plus = np.maximum(np.maximum(self.weight, e / e.max()), Z_PLUS_WEIGHT_FLOOR)

    # -- lepton numbers (momentum integrals of the state) --------------------------------------
    def asymmetries(self, y):
        """(L_να, L^(α)) per channel [per photon] of the state y."""
        return pb_kernels.asymmetries(y, self.L_in, self.Q, self.eta, self.M, self.dynamic)

    def potential_asymmetry(self, L_nu):
        """L^(α) per channel from the L_νβ [per photon]."""
        return self.eta + self.M @ (L_nu if self.dynamic else self.L_in)

    def initial_state(self, grid_shape=None):
        """No sterile neutrinos: every z is 0 (shape (n_fields, n_y))."""
        return np.zeros((self.n_fields, len(self.grid)))

    def temperature(self, t):
        """T [MeV] at cosmic time t [MeV^-1]."""
        return self.cosmology.temperature(t)

    # -- right-hand side and its linearisation (compiled loops: physics.pb_kernels) -------------
    def _kernel_args(self, y):
        """The arguments the kernels share: y, the channel parameters, and those of
        `pb_kernels.asymmetries`."""
        return (y, *self._params, self.h, self.L_in, self.Q, self.eta, self.M, self.dynamic,
                self.cell_average)

    def f(self, t, y):
        """dy/dt [MeV]: per channel F = Γ_αs (z_α − z_s), F̄ = Γ̄_αs (z̄_α − z̄_s); dz⁺/dt = Σ_α
        ½(F + F̄), dz⁻_α/dt = ½(F − F̄)."""
        return pb_kernels.rhs(*self._kernel_args(y), self.temperature(t), np.empty_like(y))

    def _linearisation(self, t, y):
        """(Γ, Γ̄ per channel, U = ∂f/∂L_ν per channel or None, ∂f/∂t) at (t, y), kept for the last
        (t, y): the stepper asks for jac and dfdt at the same point."""
        at = self._linearised
        if at is not None and at[0] == t and at[1] is y and np.array_equal(at[2], y):
            return at[3]
        T = self.temperature(t)
        r, ny = self.r, y.shape[1]
        G, Gb, dfdt = np.empty((r, ny)), np.empty((r, ny)), np.empty_like(y)
        U = np.empty((r, self.n_fields, ny))
        pb_kernels.linearisation(*self._kernel_args(y), T, -self.cosmology.hubble(T),
                                 G, Gb, U, dfdt)
        self._linearised = (t, y, y.copy(), (G, Gb, U if self.dynamic else None, dfdt))
        return self._linearised[3]

    def dfdt(self, t, y):
        """∂f/∂t at fixed state [MeV²]: −H T ∂f/∂T, f being linear in the rates."""
        return self._linearisation(t, y)[3]

    def jac(self, t, y):
        """∂f/∂y: per-point blocks, plus the rank-r coupling through L when dynamic (PBJacobian).

        Coupling: L^(α) = η + Σ_β M_αβ L_νβ and z_β, z̄_β = 1 ± ξ_β h with ξ_β = κ L_νβ, so
        U_β = ∂f/∂L_νβ = Σ_α M_αβ ∂f/∂L^(α) + ∂f/∂ξ_β κ, the latter ½h(Γ_β − Γ̄_β) on z⁺ and
        ½h(Γ_β + Γ̄_β) on z⁻_β."""
        G, Gb, U, _ = self._linearisation(t, y)
        return PBJacobian(G, Gb, self.Q, U)

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

    def final_arrays(self, y):
        """Final-state arrays for the output: y, z_s, z̄_s [dimensionless]."""
        z_minus = y[1:].sum(axis=0)
        return {"y": self.grid.y, "z_s": y[0] + z_minus, "zbar_s": y[0] - z_minus}

    def error_norm(self, rtol, tolerances):
        """The step-error measure (PBErrorNorm); tolerances: the integrator section's atol_plus
        (z⁺) and atol_minus (z⁻)."""
        return PBErrorNorm(self, rtol, tolerances.atol_plus, tolerances.atol_minus)


class PBJacobian:
    """∂f/∂y of the PB system, J = blocks + Σ_k U_k V_kᵀ, in the `factorise(sigma)` protocol of
    `lattice.linsolve` (it equals `LowRankCoupled(blocks, U, V)`, solved with the structure).

    Per momentum point, with S_α = ½(Γ_αs + Γ̄_αs) and D_α = ½(Γ_αs − Γ̄_αs), the block is
    ∂(dz⁺/dt)/∂(z⁺, z⁻_β) = −(ΣS, ΣD, …), ∂(dz⁻_α/dt)/∂(z⁺, z⁻_β) = −(D_α, S_α, …): the state
    enters only through z⁺ and z⁻ = Σ z⁻_β. So (σ − block) x = v is solved in closed form: the
    2×2 system of (x⁺, x⁻ = Σ x⁻_β) has determinant (σ + ΣΓ)(σ + ΣΓ̄), a product (no
    cancellation), and x⁻ is never formed as a difference of z⁺-sized terms (D ∝ L); with two
    channels, x⁻_μ and x⁻_τ follow from their own rows (see `factorise`). The coupling: V_k = −Q
    on field z⁻_k (L_νk is L_in − Q·z⁻_k), U_k = ∂f/∂L_νk; Woodbury gives the exact solve with k
    extra block solves. One or two channels (r ≤ 2).

    Args:
        G, Gb: Γ_αs, Γ̄_αs per channel, (r, n_y) [1/time].
        Q: ∂L_νs/∂z⁻(y_j), (n_y,).
        U: (r, n, n_y) [1/time per unit L], or None without the coupling (constant L).
    """

    def __init__(self, G, Gb, Q, U=None):
        self.G, self.Gb, self.Q, self.U = G, Gb, Q, U
        self.r = G.shape[0]
        if self.r not in (1, 2):
            raise ValueError(f"PBJacobian: {self.r} channels; one or two are supported")

    @property
    def blocks(self):
        """The per-point blocks, (n_y, n, n)."""
        r, ny = self.G.shape
        S, D = 0.5 * (self.G + self.Gb), 0.5 * (self.G - self.Gb)
        J = np.zeros((ny, 1 + r, 1 + r))
        J[:, 0, 0] = -S.sum(axis=0)
        J[:, 0, 1:] = -D.sum(axis=0)[:, None]
        for a in range(r):
            J[:, 1 + a, 0] = -D[a]
            J[:, 1 + a, 1:] = -S[a][:, None]
        return J

    @property
    def V(self):
        """(r, n, n_y): V_k = −Q on field z⁻_k."""
        V = np.zeros((self.r, 1 + self.r, len(self.Q)))
        for k in range(self.r):
            V[k, 1 + k] = -self.Q
        return V

    def factorise(self, sigma):
        """Solver of (σ − J) x = rhs: closed-form blocks (`pb_kernels.block_solve`), and with the
        coupling the Woodbury identity with r extra block solves (`pb_kernels.coupled_solve`)."""
        G, Gb, Q = self.G, self.Gb, self.Q
        if self.U is None:
            return lambda v: pb_kernels.block_solve(G, Gb, sigma, v, np.empty_like(v))
        Z, S_inv = pb_kernels.woodbury_factors(G, Gb, sigma, self.U, Q)
        return lambda v: pb_kernels.coupled_solve(G, Gb, sigma, v, Q, Z, S_inv, np.empty_like(v))


class PBErrorNorm:
    """Local error on what the physics needs, maximum over components (≤ 1 accepts):
    z⁺(y), weighted by the point's share of the integrals it feeds, max(y²f⁰/max(y²f⁰),
    y³f⁰/max(y³f⁰), Z_PLUS_WEIGHT_FLOOR) (the L source and N_eff), against atol_plus +
    rtol·max_y|z⁺|; z⁻_α(y), weighted by y²f⁰/max(y²f⁰), against atol_minus + rtol·max_y|z⁻_α|
    (spectra to a fraction of their size: a per-point relative norm would resolve every narrow
    resonance crossing of a point whose occupation is negligible; z⁺ acts through N_eff and the
    L source, z⁻ only through L and the equipartition term, so points far in the tails, y ≪ 1 or
    y ≫ 1, need not be held as tightly: without the z⁺ weight, 24 % (s² = 1e-6) and 31 %
    (s² = 1e-9) of the attempted steps of the two-flavour decks resolved crossings at y = 8–60
    below 5 MeV, after L froze); and each L_να (a momentum integral of z⁻_α) against
    atol_minus + rtol·max(|L_να|, |L^(α)|)."""

    def __init__(self, system: PBSystem, rtol, atol_plus, atol_minus):
        self.s = system
        self.rtol, self.ap, self.am = float(rtol), float(atol_plus), float(atol_minus)

    def __call__(self, err, y, y_new):
        s, rtol = self.s, self.rtol
        worst, big, dL = pb_kernels.error_parts(err, y, y_new, s.weight_plus, s.weight, s.Q)
        e = worst[0] / (self.ap + rtol * big[0])
        L_nu, Lpot = s.asymmetries(y)
        L_nu_new, Lpot_new = s.asymmetries(y_new)
        for a in range(s.r):
            size = max(abs(L_nu[a]), abs(L_nu_new[a]), abs(Lpot[a]), abs(Lpot_new[a]))
            e = max(e, worst[1 + a] / (self.am + rtol * big[1 + a]), abs(dL[a]) / (self.am + rtol * size))
        return float(e)
