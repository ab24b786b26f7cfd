"""The adaptive loop of a 1D lattice (a line of cells with diffusion) in compiled code, with an
implicit and an explicit branch and automatic switching between them.

Why: on a line of 128 cells the Python Rodas4 spends most of an attempt in call overhead and
gathers; and after the resonance the step is held by the one-cell domain walls' limit cycle,
not by stiffness (every mode of the Jacobian has |hλ| ≲ 1 at that step;
docs/results.md §7), so an explicit method takes about as many steps at a fraction of
the cost of a linearly implicit one (issue 19).

**Implicit branch: Rodas4** on f = f_local + K(t) ∇²y, the same method as
`lattice.rosenbrock.Rodas4` on `lattice.implicit.ImplicitLattice` with the direct line solve:
the stage matrix σ − J_local − K∇² is cyclic block tridiagonal and is factorised exactly once
per attempt by `kernels.block_tridiagonal`; the tableau, the stage sums and the step-size
controller are those of the single-site loop (`lattice.compiled_rodas`).

**Explicit branch: Dormand–Prince 5(4)**, and **switching** between the branches, as
`lattice.explicit_rk` writes them for both compiled loops: DOPRI5 at rtol ×
`explicit_rtol_factor`, Rodas4 → DOPRI5 when h·ρ(J) stays small, back on Hairer's stiffness test
or a probe, ρ being the spectral radius of the whole Jacobian J_local + K∇² here. The branch, the
counters of both tests and the FSAL stage are part of the state: a call may return after `chunk`
accepted steps and the next call continues with exactly the steps of an uninterrupted one
(restarts and stop requests between samples are exact). The time series records the branch and
h·ρ after every sample.

Fields the local equations leave constant (P0⁻) move only by the flux-form Laplacian; after
each step their totals are reset to the old ones by a uniform shift of the order of round-off,
as `ImplicitLattice.conserve` does, so their integral is conserved to round-off.

Every rank runs the whole line with the same arithmetic in the same order: results are bitwise
independent of the number of ranks (the line is gathered at each call and every rank keeps its
own cells). The cost is O(cells) per rank, which suits the lines this engine is for (up to some
1e5 cells); longer lines and 2D/3D grids use the decomposed GMRES path.

The machinery knows nothing of the physics; a model supplies, as a `LineKernels`:

    coefficients(t, p, c)       the time-dependent coefficients of t into c (once per evaluation)
    rhs(c, y, p, out)           f_local of one cell (n,) for the coefficients c and its parameters p
    jac(c, y, p, J)             ∂f_local/∂y (n, n), every entry written
    dfdt(c, y, p, out)          ∂f_local/∂t at fixed y
    err(e, y, y_new, p)         the weighted local error of one cell (≤ 1 acceptable; NaN allowed)
    diffusion(t, p, K, K_rate)  the diffusion matrix K(t) (n, n) [length² / time] and dK/dt
    apply_diffusion(K, lap, out)  out += K · lap for one cell (n,): K's nonzero pattern, in order
"""

from __future__ import annotations

import functools
import time

import numpy as np
from numba import njit
from numba.extending import register_jitable

from kernels.block_tridiagonal import block_solver
from lattice.compiled_rodas import (_ALPHA, _EXPONENT, _GAMMA, STAGES, control, solution, stage_argument,
                                    stage_term)
from lattice.explicit_rk import (COST_RATIO, DOPRI5, DP_C, DP_EXPONENT, EXPLICIT_MARGIN, POWER_ITERATIONS,
                                 PROBE_STEPS, RODAS4, SwitchingCounters, check_stiffness, count_dopri, count_rodas, dopri_argument,
                                 dopri_error, estimate_radius, power_radius, power_start,
                                 power_update, stiffness_test, switch)
from lattice.line_solver import gather_line, laplacian_coefficients
from lattice.model import LineKernels
from lattice.rosenbrock import IntegrationError

OK, STEP_TOO_SMALL, TOO_MANY_ATTEMPTS, CHUNK_DONE = 0, 1, 2, 3
"""Status codes of the compiled loop (CHUNK_DONE: `chunk` accepted steps made short of t_end)."""

CHUNK = 2000
"""Accepted steps between returns to Python (progress reports and stop requests)."""


@register_jitable
def _worst(worst, e):
    """max(worst, e), NaN once either is NaN."""
    if e != e or worst != worst:
        return np.nan
    return e if e > worst else worst


@functools.cache
def make_line_integrator(coefficients, rhs, jac, dfdt, err, diffusion, apply_diffusion, n, n_coefficients):
    """The compiled adaptive loop of a line for these kernels (n fields per cell).

    Returns advance(t, t_end, y, h, P, P_explicit, diag, left, right, inv_dx2, conserved,
    controls, auto, state, counts, memory, chunk, max_attempts) -> (status, t, h, h·ρ): y (cells, n) is
    advanced in place; P, P_explicit: per-cell parameters of the implicit and the explicit
    branch; diag, left, right: the Laplacian's coefficients per cell and field (cells, n);
    controls: (safety, fac_min, fac_max, h_min_rel, probe steps, explicit margin, cost ratio);
    auto: switch branches (else the branch in state[0] throughout); state (int64): [branch, calm count, stiff count, non-stiff count,
    explicit steps since the last switch], carried between calls;
    counts (int64): [Rodas4 accepted, rejected, DOPRI5 accepted, rejected, switches], added to;
    memory (float64 (2,)): the guard's memory (lattice.explicit_rk.switch), carried between calls;
    h·ρ: the last accepted step times the estimate of ρ(J) at the returned state (NaN
    when no step was accepted or the loop failed).
    """
    S = STAGES
    ALPHA_, GAMMA_, EXPONENT = _ALPHA, _GAMMA, _EXPONENT
    factorise, solve, stage_blocks = block_solver(n)

    @register_jitable(inline="always")
    def laplacian(Y, i, diag, left, right, inv_dx2, lap):
        """lap = the 3-point Laplacian of cell i (n,): inside the line (−2 Y_i + Y_(i−1)) + Y_(i+1),
        at its ends with the boundary's coefficients (the same arithmetic where they are those)."""
        N = Y.shape[0]
        im = i - 1 if i > 0 else N - 1
        ip = i + 1 if i < N - 1 else 0
        for q in range(n):
            lap[q] = (diag[i, q] * Y[i, q] + left[i, q] * Y[im, q] + right[i, q] * Y[ip, q]) * inv_dx2

    @register_jitable
    def line_f(t, Y, P, c, Kd, Kt, diag, left, right, inv_dx2, out, with_rate, lap):
        """out = f_local(t, Y) + K(t) ∇²Y per cell, or (with_rate) ∂f/∂t = ∂f_local/∂t +
        dK/dt ∇²Y (K applied by the model's apply_diffusion, over its nonzero entries)."""
        N = Y.shape[0]
        coefficients(t, P[0], c)
        diffusion(t, P[0], Kd, Kt)
        K = Kt if with_rate else Kd
        for i in range(N):
            if with_rate:
                dfdt(c, Y[i], P[i], out[i])
            else:
                rhs(c, Y[i], P[i], out[i])
            laplacian(Y, i, diag, left, right, inv_dx2, lap)
            apply_diffusion(K, lap, out[i])

    @register_jitable
    def line_error(E, Y, Y_new, P):
        worst = 0.0
        for i in range(Y.shape[0]):
            worst = _worst(worst, err(E[i], Y[i], Y_new[i], P[i]))
        return worst

    @register_jitable
    def conserve(Y, Y_new, conserved):
        N = Y.shape[0]
        for q in conserved:
            old = 0.0
            new = 0.0
            for i in range(N):
                old += Y[i, q]
                new += Y_new[i, q]
            shift = (old - new) / N
            for i in range(N):
                Y_new[i, q] += shift

    @register_jitable
    def jacobian_product(Jb, KJ, diag, left, right, inv_dx2, v, out, lap):
        """out = (J_local + K ∇²) v on the line (v, out: (cells, n))."""
        N = v.shape[0]
        for i in range(N):
            for a in range(n):
                s = 0.0
                for b in range(n):
                    s += Jb[i, a, b] * v[i, b]
                out[i, a] = s
            laplacian(v, i, diag, left, right, inv_dx2, lap)
            apply_diffusion(KJ, lap, out[i])

    @register_jitable
    def spectral_radius(Jb, KJ, diag, left, right, inv_dx2, v, w, lap):
        """An estimate of ρ(J_local + K∇²) by POWER_ITERATIONS products from the fixed start
        vector of lattice.explicit_rk (v, w: scratch (cells, n))."""
        N = v.shape[0]
        v_flat, w_flat = v.reshape(N * n), w.reshape(N * n)
        power_start(v_flat, N, n)
        log_growth = 0.0
        for it in range(POWER_ITERATIONS):
            jacobian_product(Jb, KJ, diag, left, right, inv_dx2, v, w, lap)
            log_growth, ok = power_update(it, v_flat, w_flat, log_growth)
            if not ok:
                return 0.0
        return power_radius(log_growth)

    @register_jitable
    def radius_at(t, y, P, c, Jb, KJ, Kt, diag, left, right, inv_dx2, v, w, lap):
        """The estimate of ρ(J) at (t, y) (overwrites the scratch Jb, KJ, Kt, v, w)."""
        coefficients(t, P[0], c)
        for i in range(y.shape[0]):
            jac(c, y[i], P[i], Jb[i])
        diffusion(t, P[0], KJ, Kt)
        return spectral_radius(Jb, KJ, diag, left, right, inv_dx2, v, w, lap)

    @njit(cache=True, error_model="numpy")
    def advance(t, t_end, y, h, P, P_explicit, diag, left, right, inv_dx2, conserved, controls, auto,
                state, counts, memory, chunk, max_attempts):
        probe_steps = int(controls[4])
        N = y.shape[0]
        size = N * n
        safety, fac_min, fac_max, h_min_rel = controls[0], controls[1], controls[2], controls[3]
        c = np.empty(n_coefficients)
        Kd = np.empty((n, n))
        Kt = np.empty((n, n))
        KJ = np.empty((n, n))
        Jb = np.empty((N, n, n))
        f0 = np.empty((N, n))
        ft = np.empty((N, n))
        Ks = np.empty((S, size))              # Rodas4 stages, flat
        arg = np.empty((N, n))
        term = np.empty(size)
        r = np.empty((N, n))
        x = np.empty((N, n))
        y_new = np.empty((N, n))
        k = np.empty((7, N, n))               # DOPRI5 stages
        e_vec = np.empty((N, n))
        y_stiff = np.empty((N, n))
        k_flat = k.reshape((7, size))
        e_flat = e_vec.reshape(size)
        lap = np.empty(n)
        rho = np.inf
        h_last = np.nan                       # the last accepted step
        y_flat = y.reshape(size)
        arg_flat = arg.reshape(size)
        r_flat = r.reshape(size)
        y_new_flat = y_new.reshape(size)
        accepted = 0
        attempts = 0
        reject_streak = 0
        fresh = True                          # the start-of-step data of the branch are those of (t, y)
        while t < t_end:
            if attempts >= max_attempts:
                return TOO_MANY_ATTEMPTS, t, h, np.nan
            if h < h_min_rel * abs(t):
                return STEP_TOO_SMALL, t, h, np.nan
            clipped = t + h >= t_end
            h_try = t_end - t if clipped else h
            attempts += 1
            if state[0] == RODAS4:
                if fresh:
                    coefficients(t, P[0], c)
                    for i in range(N):
                        jac(c, y[i], P[i], Jb[i])
                    diffusion(t, P[0], KJ, Kt)
                    line_f(t, y, P, c, Kd, Kt, diag, left, right, inv_dx2, ft, True, lap)
                    line_f(t, y, P, c, Kd, Kt, diag, left, right, inv_dx2, f0, False, lap)
                    if estimate_radius(auto, counts):
                        rho = spectral_radius(Jb, KJ, diag, left, right, inv_dx2, k[1], k[2], lap)
                    fresh = False
                sigma = 1.0 / (GAMMA_[0] * h_try)
                D, Lo, Up = stage_blocks(Jb, KJ, diag, left, right, inv_dx2, sigma)
                factors = factorise(D, Lo, Up)
                ft_flat = ft.reshape(size)
                for s in range(S):
                    if s == 0:
                        gh = GAMMA_[0] * h_try
                        for i in range(N):
                            for q in range(n):
                                r[i, q] = f0[i, q] + gh * ft[i, q]
                    else:
                        stage_argument(s, y_flat, Ks, arg_flat)
                        line_f(t + ALPHA_[s] * h_try, arg, P, c, Kd, Kt, diag, left, right,
                               inv_dx2, r, False, lap)
                        stage_term(s, h_try, ft_flat, Ks, term)
                        for q in range(size):
                            r_flat[q] += term[q]
                    solve(factors, Lo, r, x)
                    Ks[s] = x.reshape(size)
                solution(y_flat, Ks, y_new_flat)
                conserve(y, y_new, conserved)
                e = line_error(Ks[S - 1].reshape((N, n)), y, y_new, P)
                ok, h_next = control(e, h_try, h, clipped, reject_streak, safety, fac_min, fac_max, EXPONENT)
                count_rodas(ok, auto, state, counts, memory, h_next, h_try, rho, controls[5], controls[6])
            else:
                check = check_stiffness(auto, state, counts)   # Hairer's test this step
                if fresh:                     # k_0 = f(t, y): the last stage of the step before
                    line_f(t, y, P, c, Kd, Kt, diag, left, right, inv_dx2, k[0], False, lap)
                    fresh = False
                for s in range(1, 7):
                    # argument y + Σ_j (h a_sj) k_j over the flat line; that of the last stage
                    # is the solution
                    dopri_argument(s, h_try, y_flat, k_flat, y_new_flat if s == 6 else arg_flat)
                    if s == 5 and check:
                        for i in range(N):
                            for q in range(n):
                                y_stiff[i, q] = arg[i, q]
                    if s == 6:
                        conserve(y, y_new, conserved)
                        line_f(t + h_try, y_new, P, c, Kd, Kt, diag, left, right, inv_dx2, k[6],
                               False, lap)
                    else:
                        line_f(t + DP_C[s] * h_try, arg, P, c, Kd, Kt, diag, left, right, inv_dx2,
                               k[s], False, lap)
                dopri_error(h_try, k_flat, e_flat)
                e = line_error(e_vec, y, y_new, P_explicit)
                ok, h_next = control(e, h_try, h, clipped, reject_streak, safety, fac_min, fac_max,
                                     DP_EXPONENT)
                count_dopri(ok, state, counts)
                if ok and check:
                    # Hairer's estimate from the two stages at t + h: k_6 at y_new, k_5 at the
                    # argument of stage 5 (node 1)
                    stiffness_test(h_try, k_flat[6], k_flat[5], y_new_flat, y_stiff.reshape(size), state)
            if ok:
                accepted += 1
                h_last = h_try
                t = t_end if clipped else t + h_try
                for q in range(size):
                    y_flat[q] = y_new_flat[q]
                if state[0] == DOPRI5:
                    for i in range(N):
                        for q in range(n):
                            k[0, i, q] = k[6, i, q]
                else:
                    fresh = True
                reject_streak = 0
                h = h_next
                if switch(auto, state, counts, memory, t, probe_steps):
                    fresh = True
                if accepted >= chunk and t < t_end:
                    return CHUNK_DONE, t, h, h_last * radius_at(t, y, P, c, Jb, KJ, Kt, diag, left, right, inv_dx2,
                                                                 k[1], k[2], lap)
            else:
                reject_streak += 1
                h = h_next
        return OK, t, h, h_last * radius_at(t, y, P, c, Jb, KJ, Kt, diag, left, right, inv_dx2, k[1], k[2], lap)

    return advance


class CompiledLineStepper(SwitchingCounters):
    """A 1D lattice advanced by the compiled line loop, with the interface of `Rodas4` that a
    lattice run uses (advance, n_accepted, n_rejected, t_reached, on_accept) and the extra
    state of the loop for checkpoints (`checkpoint_state`, `restore_state`).

    Args:
        kernels: the model's LineKernels.
        system: the stepped system (kept as `system`, as Rodas4 keeps it).
        lattice: the 1D lattice (comm, global_slice, global_shape, spacing, bc, odd_fields).
        cell_field: function () -> the system's cell_field on this rank (it changes when the
            grid doubles).
        rtol: the run's relative tolerance; the explicit branch uses rtol·explicit_rtol_factor.
        method: "auto" (switch between Rodas4 and DOPRI5), "rodas4" or "dopri5" (one branch
            throughout; dopri5 for validation and benchmarks).
        chunk: accepted steps between returns to Python (progress, stop requests; default
            CHUNK); the steps taken do not depend on it.
        probe_steps: explicit steps in a row before a probe of Rodas4 (default PROBE_STEPS).
        safety, fac_min, fac_max, h_min_rel: as Rodas4.
        max_attempts: attempts per call before IntegrationError (the run's own limit,
            integrator.max_steps, is checked by the driver at samples).
    """

    def __init__(self, kernels: LineKernels, system, lattice, cell_field, rtol, explicit_rtol_factor=0.01,
                 method="auto", chunk=None, probe_steps=None, safety=0.9, fac_min=0.2, fac_max=6.0, h_min_rel=1e-14,
                 max_attempts=2**62):

        if lattice.ndim != 1:
            raise ValueError("the compiled line engine needs a 1D lattice")
        self.kernels, self.system, self.lattice, self.cell_field = kernels, system, lattice, cell_field
        self.rtol, self.explicit_rtol = float(rtol), float(rtol) * float(explicit_rtol_factor)
        self.auto = method == "auto"
        self.chunk = int(CHUNK if chunk is None else chunk)
        self.controls = np.array([safety, fac_min, fac_max, h_min_rel,
                                  PROBE_STEPS if probe_steps is None else probe_steps, EXPLICIT_MARGIN,
                                  COST_RATIO], dtype=float)
        self.h_min_rel = h_min_rel
        self.max_attempts = max_attempts
        self.N = lattice.global_shape[0]
        self.start = lattice.global_slice[0].start
        n = kernels.n_fields
        self.laplacian = laplacian_coefficients(lattice.bc[0], lattice.odd_fields, self.N, n)
        self._advance = make_line_integrator(kernels.coefficients, kernels.rhs, kernels.jac, kernels.dfdt,
                                             kernels.err, kernels.diffusion, kernels.apply_diffusion, n,
                                             kernels.n_coefficients)
        self.start_switching(method)
        self.on_accept = None
        """Optional callable(t, h) after every `chunk` accepted steps (progress reports)."""
        self.t_reached = None
        self.wall_s = 0.0
        """Wall time spent in the compiled loop [s] (benchmarks)."""

    def _gather(self, local):
        return gather_line(self.lattice.comm, self.start, self.N, local)

    def advance(self, t, y, t_end, h, source=None, record=None, interrupt=None):
        """Integrate this rank's field-major y (n, cells) from t to t_end; returns (y, h_next).

        `interrupt()` is asked every `chunk` accepted steps; True returns early, at
        `t_reached`, and continuing takes exactly the steps an uninterrupted call takes.
        """
        if source is not None or record is not None:
            raise NotImplementedError("the compiled line engine takes neither a source nor a record")
        Y = self._gather(np.ascontiguousarray(np.asarray(y, dtype=float).T))
        cells = self._gather(np.asarray(self.cell_field(), dtype=float).reshape(-1))
        P = self.kernels.cell_params(cells, self.rtol)
        P_explicit = self.kernels.cell_params(cells, self.explicit_rtol)
        inv_dx2 = 1.0 / self.lattice.spacing[0] ** 2
        t, h = float(t), float(h)
        while True:
            wall0 = time.perf_counter()
            before = self.n_accepted + self.n_rejected
            status, t, h, h_rho = self._advance(
                t, float(t_end), Y, h, P, P_explicit, *self.laplacian, inv_dx2, self.kernels.conserved_fields,
                self.controls, self.auto, self.state, self.counts, self.memory, self.chunk, self.max_attempts)
            self.wall_s += time.perf_counter() - wall0
            if h_rho == h_rho:
                self.h_rho = float(h_rho)
            if status == STEP_TOO_SMALL:
                raise IntegrationError(f"step size {h:.3e} fell below {self.h_min_rel * abs(t):.3e} at t = {t:.6e}")
            if status == TOO_MANY_ATTEMPTS:
                raise IntegrationError(f"{self.n_accepted + self.n_rejected - before} step attempts made before "
                                       f"reaching t = {t_end:.6e} (at t = {t:.6e})")
            if status == OK:
                break
            if self.on_accept:
                self.on_accept(t, h)
            if interrupt is not None and interrupt():
                break
        self.t_reached = t
        local = Y[self.start:self.start + np.shape(y)[1]]
        return np.ascontiguousarray(local.T), h


def compiled_line_stepper(system, error_norm, diffusion, stepped, lattice, rtol, explicit_rtol_factor, method,
                          **controls):
    """A CompiledLineStepper for a 1D NumPy lattice of `system` (the per-site model) coupled by
    `diffusion`, if the model offers line kernels for this error norm
    (`system.compiled_line_kernels(error_norm, diffusion)` returns LineKernels), else None.

    `stepped` is the coupled system the Python path would step (kept as the stepper's `system`).
    """
    if lattice.ndim != 1 or lattice.xp is not np:
        return None
    kernels = system.compiled_line_kernels(error_norm, diffusion)
    if kernels is None:
        return None
    return CompiledLineStepper(kernels, stepped, lattice, lambda: system.cell_field, rtol, explicit_rtol_factor, method,
                               **controls)
