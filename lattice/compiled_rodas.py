"""The adaptive Rodas4 loop of one site in compiled code (Numba), from t to t_end in one call.

Why: on one site the Python stepper (lattice.rosenbrock.Rodas4) spends over 97 % of an attempt
in call overhead on (8, 1) arrays; here the whole loop between two output samples, the
Jacobian, the 8×8 factorisation and the six stages, runs compiled, and Python is called only
at sample boundaries (issue 19).

It is the same method as `Rodas4`, decision for decision: the tableau of lattice.rosenbrock,
the same step-size controller (safety, fac_min, fac_max, no growth right after a rejection,
a step clipped to land on t_end not shrinking the proposal carried on), the same rejection of
non-finite errors, the same step floor h_min_rel·|t|, the retry of a rejected step reusing the
Jacobian, ∂f/∂t and f at its start, the locally constant fields held bit-for-bit, and the
model's own error norm. The stage sums are formed term by term in the Python path's order;
the stage systems (σ − J) K = r are solved by an LU factorisation with partial pivoting written
in the loop (no LAPACK call), where the Python path applies LAPACK's inverse, so results agree
with it to round-off per step, not bitwise.

The machinery knows nothing of the physics: a model supplies its per-site kernels (Numba
`register_jitable` or `njit` functions) and one float64 parameter vector, as a `SiteKernels`:

    rhs(t, y, p, out)        f(t, y) into out (n,)
    jac(t, y, p, J)          ∂f/∂y into J (n, n), every entry written
    dfdt(t, y, p, out)       ∂f/∂t at fixed y into out (n,)
    err(e, y, y_new, p)      the weighted local error of the step (≤ 1 acceptable; NaN allowed)

`make_site_integrator(rhs, jac, dfdt, err, n)` compiles the loop for those kernels (cached on
disk, as the project's other Numba code). `CompiledSiteStepper` wraps it with the interface of
`Rodas4` that a single-site run uses (advance, n_accepted, n_rejected, t_reached), so that
checkpoints store (t, y, h, counters) and a restart reproduces the uninterrupted run bit for bit.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
from numba import njit
from numba.extending import register_jitable

from kernels.small_lu import lu_factor, lu_solve
from lattice.model import SiteKernels
from lattice.explicit_rk import (DOPRI5, DP_C, DP_EXPONENT, POWER_ITERATIONS, PROBE_STEPS, RODAS4, SITE_COST_RATIO,
                                 SITE_EXPLICIT_MARGIN, SwitchingCounters, check_stiffness, count_dopri, count_rodas, dopri_argument,
                                 dopri_error, estimate_radius, power_radius, power_start,
                                 power_update, stiffness_test, switch)
from lattice.rosenbrock import _A_ROWS, _C_ROWS, ALPHA, ERROR_ORDER, GAMMA, M, STAGES, IntegrationError


def _square(rows):
    out = np.zeros((STAGES, STAGES))
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


_A_MAT = _square(_A_ROWS)          # a_ij, j < i
_C_MAT = _square(_C_ROWS)          # c_ij, j < i
_ALPHA = np.array(ALPHA)
_GAMMA = np.array(GAMMA)
_M = np.array(M)
_EXPONENT = -1.0 / ERROR_ORDER

OK, STEP_TOO_SMALL, TOO_MANY_ATTEMPTS = 0, 1, 2
"""Status codes of the compiled loop."""


@register_jitable
def stage_argument(s, y, K, out):
    """out = y + Σ_j a_sj K_j, term by term in order of j, zero weights skipped (flat arrays;
    K: (STAGES, y.size)). Shared by the single-site and the line loop."""
    for k in range(y.size):
        out[k] = y[k]
    for j in range(s):
        a = _A_MAT[s, j]
        if a != 0.0:
            for k in range(y.size):
                out[k] += K[j, k] * a


@register_jitable
def stage_term(s, h, ft, K, out):
    """out = γ_s h ∂f/∂t + Σ_j (c_sj / h) K_j, in that order, zero weights skipped (s ≥ 1)."""
    gh = _GAMMA[s] * h
    first = True
    for k in range(out.size):
        out[k] = 0.0
    if gh != 0.0:
        for k in range(out.size):
            out[k] = ft[k] * gh
        first = False
    for j in range(s):
        w = _C_MAT[s, j] / h
        if w != 0.0:
            if first:
                for k in range(out.size):
                    out[k] = K[j, k] * w
                first = False
            else:
                for k in range(out.size):
                    out[k] += K[j, k] * w


@register_jitable
def solution(y, K, out):
    """out = y + Σ_j m_j K_j, term by term."""
    for k in range(y.size):
        out[k] = y[k]
    for j in range(STAGES):
        m = _M[j]
        for k in range(y.size):
            out[k] += K[j, k] * m


@register_jitable
def control(e, h_try, h, clipped, reject_streak, safety, fac_min, fac_max, exponent):
    """The step-size controller of Rodas4.advance for the error norm e of an attempt of size
    h_try (h: the proposal it came from; clipped: the attempt was cut to land on t_end).
    Returns (accepted, next proposal)."""
    finite = e == e and abs(e) != math.inf
    if not finite:
        factor = fac_min
    else:
        factor = safety * max(e, 1e-12) ** exponent
    if finite and e <= 1.0:
        grow = 1.0 if reject_streak else fac_max
        h_next = h_try * min(grow, max(fac_min, factor))
        return True, (max(h, h_next) if clipped else h_next)
    return False, h_try * max(fac_min, min(1.0, factor))


SCRATCH_ROWS = STAGES + 7 + 7
"""Rows of n floats an attempt works in: the Rodas4 stages, the DOPRI5 stages, and seven vectors."""


@njit(cache=True)
def host_scratch(n):
    """The work arrays of `make_site_loop`'s loop on the host: mats (2, n, n), rows
    (SCRATCH_ROWS, n), pivots (n,) int64 (a GPU thread takes them from its local memory)."""
    return np.empty((2, n, n)), np.empty((SCRATCH_ROWS, n)), np.empty(n, dtype=np.int64)


@functools.cache
def make_site_integrator(rhs, jac, dfdt, err, n):
    """The compiled adaptive loop of one site for these kernels (n fields), as a host function
    that allocates its work arrays per call.

    Returns advance(t, t_end, y, h, p, p_explicit, constant, controls, auto, state, counts, memory,
    max_attempts) -> (status, t, h, h·ρ) (see make_site_loop)."""
    advance_in = make_site_integrator_in(rhs, jac, dfdt, err, n)

    @njit(cache=True, error_model="numpy")
    def advance(t, t_end, y, h, p, p_explicit, constant, controls, auto, state, counts, memory, max_attempts):
        mats, rows, piv = host_scratch(n)
        return advance_in(t, t_end, y, h, p, p_explicit, constant, controls, auto, state, counts, memory,
                          max_attempts, mats, rows, piv)

    return advance


@functools.cache
def make_site_integrator_in(rhs, jac, dfdt, err, n):
    """`make_site_loop`'s loop compiled for the host (cached on disk, so that a batch loop that
    calls it compiles in a moment): advance_in(..., mats, rows, piv), the work arrays given."""
    advance_with = make_site_loop(rhs, jac, dfdt, err, n)

    @njit(cache=True, error_model="numpy")
    def advance_in(t, t_end, y, h, p, p_explicit, constant, controls, auto, state, counts, memory, max_attempts,
                   mats, rows, piv):
        return advance_with(t, t_end, y, h, p, p_explicit, constant, controls, auto, state, counts, memory,
                            max_attempts, mats, rows, piv)

    return advance_in


@functools.cache
def make_site_loop(rhs, jac, dfdt, err, n):
    """The adaptive loop of one site for these kernels (n fields): Rodas4, DOPRI5 and the
    switching between them (lattice.explicit_rk), as a Numba `register_jitable` function that a
    host `njit` function and a `numba.cuda` kernel both call (lattice.device_batch): it allocates
    nothing and works in the arrays it is given: mats (2, n, n), rows (SCRATCH_ROWS, n) and pivots
(n,) int64, on the host from np.empty, on a GPU from the thread's local memory.

    Returns advance_with(t, t_end, y, h, p, p_explicit, constant, controls, auto, state, counts,
    memory, max_attempts, mats, rows, piv) -> (status, t, h, h·ρ): y (n,) is advanced in place
    from t towards t_end;
    p, p_explicit: the parameter vectors of the implicit and the explicit branch (the latter
    with the explicit branch's tolerance); controls: (safety, fac_min, fac_max, h_min_rel, probe
    steps, explicit margin, cost ratio); auto: switch branches (else the branch in state[0]
    throughout); state, counts, memory: the switching state, counters and guard memory of
    lattice.explicit_rk, carried between calls and added to.
    status OK means t == t_end, STEP_TOO_SMALL that the step fell below h_min_rel·|t| (h is that
    step), TOO_MANY_ATTEMPTS that max_attempts were made in this call. h is the proposal for
    the next call, as Rodas4.advance returns it; h·ρ the last accepted step times the estimate
    of ρ(J) at the state reached (NaN when no step was accepted or the loop failed).
    """
    ALPHA_, GAMMA_, EXPONENT = _ALPHA, _GAMMA, _EXPONENT
    S = STAGES

    @register_jitable
    def spectral_radius(J, v, w):
        """An estimate of ρ(J) by POWER_ITERATIONS products from the fixed start vector."""
        power_start(v, 1, n)
        log_growth = 0.0
        for it in range(POWER_ITERATIONS):
            for a in range(n):
                acc = 0.0
                for b in range(n):
                    acc += J[a, b] * v[b]
                w[a] = acc
            log_growth, ok = power_update(it, v, w, log_growth)
            if not ok:
                return 0.0
        return power_radius(log_growth)

    @register_jitable
    def advance_with(t, t_end, y, h, p, p_explicit, constant, controls, auto, state, counts, memory, max_attempts,
                     mats, rows, piv):
        safety, fac_min, fac_max, h_min_rel = controls[0], controls[1], controls[2], controls[3]
        probe_steps = int(controls[4])
        J, G = mats[0], mats[1]
        K = rows[0:S]                         # Rodas4 stages
        k = rows[S:S + 7]                     # DOPRI5 stages
        f0, ft, arg, r = rows[S + 7], rows[S + 8], rows[S + 9], rows[S + 10]
        y_new, e_vec, y_stiff = rows[S + 11], rows[S + 12], rows[S + 13]
        rho = math.inf
        h_last = math.nan
        attempts = 0
        reject_streak = 0
        fresh = True                          # the start-of-step data of the branch are those of (t, y)
        while t < t_end:
            if attempts >= max_attempts:
                return TOO_MANY_ATTEMPTS, t, h, math.nan
            if h < h_min_rel * abs(t):
                return STEP_TOO_SMALL, t, h, math.nan
            clipped = t + h >= t_end
            h_try = t_end - t if clipped else h
            attempts += 1
            if state[0] == RODAS4:
                if fresh:
                    jac(t, y, p, J)
                    dfdt(t, y, p, ft)
                    rhs(t, y, p, f0)
                    if estimate_radius(auto, counts):
                        rho = spectral_radius(J, k[1], k[2])
                    fresh = False
                # G = 1/(γ₁h) − J, factorised once per attempt
                sigma = 1.0 / (GAMMA_[0] * h_try)
                for i in range(n):
                    for j in range(n):
                        G[i, j] = -J[i, j]
                    G[i, i] += sigma
                lu_factor(G, piv)
                for s in range(S):
                    if s == 0:
                        gh = GAMMA_[0] * h_try
                        for q in range(n):
                            r[q] = f0[q] + gh * ft[q]
                    else:
                        stage_argument(s, y, K, arg)
                        rhs(t + ALPHA_[s] * h_try, arg, p, r)
                        stage_term(s, h_try, ft, K, arg)
                        for q in range(n):
                            r[q] += arg[q]
                    lu_solve(G, piv, r)
                    for q in range(n):
                        K[s, q] = r[q]
                    for c in constant:
                        K[s, c] = 0.0
                solution(y, K, y_new)
                e = err(K[S - 1], y, y_new, p)
                ok, h_next = control(e, h_try, h, clipped, reject_streak, safety, fac_min, fac_max, EXPONENT)
                count_rodas(ok, auto, state, counts, memory, h_next, h_try, rho, controls[5], controls[6])
            else:
                check = check_stiffness(auto, state, counts)   # Hairer's test this step
                if fresh:                     # k_0 = f(t, y): the last stage of the step before
                    rhs(t, y, p, k[0])
                    for c in constant:
                        k[0, c] = 0.0
                    fresh = False
                for s in range(1, 7):
                    dopri_argument(s, h_try, y, k, y_new if s == 6 else arg)
                    if s == 5 and check:
                        for q in range(n):
                            y_stiff[q] = arg[q]
                    if s == 6:
                        rhs(t + h_try, y_new, p, k[6])
                    else:
                        rhs(t + DP_C[s] * h_try, arg, p, k[s])
                    for c in constant:
                        k[s, c] = 0.0
                dopri_error(h_try, k, e_vec)
                e = err(e_vec, y, y_new, p_explicit)
                ok, h_next = control(e, h_try, h, clipped, reject_streak, safety, fac_min, fac_max,
                                     DP_EXPONENT)
                count_dopri(ok, state, counts)
                if ok and check:
                    stiffness_test(h_try, k[6], k[5], y_new, y_stiff, state)
            if ok:
                h_last = h_try
                t = t_end if clipped else t + h_try
                for q in range(n):
                    y[q] = y_new[q]
                if state[0] == DOPRI5:
                    for q in range(n):
                        k[0, q] = k[6, q]
                else:
                    fresh = True
                reject_streak = 0
                if switch(auto, state, counts, memory, t, probe_steps):
                    fresh = True
            else:
                reject_streak += 1
            h = h_next
        if h_last != h_last:
            return OK, t, h, math.nan
        jac(t, y, p, J)
        return OK, t, h, h_last * spectral_radius(J, k[1], k[2])

    return advance_with


class CompiledSiteStepper(SwitchingCounters):
    """One site advanced by the compiled loop, with the interface of `Rodas4` that a single-site
    run uses: advance(t, y, t_end, h) -> (y, h_next), n_accepted, n_rejected, t_reached; and the
    switching state for checkpoints (`checkpoint_state`, `restore_state`, lattice.explicit_rk).

    Stop requests (`interrupt`) are not asked between steps: a call always reaches t_end, so
    a single-site run answers them at its next output sample (samples are close together).

    Args:
        kernels: the model's SiteKernels.
        system: the model system (kept as `system`, as Rodas4 keeps it).
        method: "auto" (switch between Rodas4 and DOPRI5), "rodas4" or "dopri5" (one branch
            throughout); auto and dopri5 need kernels.params_rtol_times, and auto falls back to rodas4
            without it.
        explicit_rtol_factor: the explicit branch runs at the parameters' rtol times this.
        probe_steps: explicit steps in a row before a probe of Rodas4 (default PROBE_STEPS).
        explicit_margin: Rodas4 → DOPRI5 below this h·ρ (lattice.explicit_rk).
        safety, fac_min, fac_max, h_min_rel: as Rodas4.
        max_attempts: attempts per call before IntegrationError (the run's own limit,
            integrator.max_steps, is checked by the driver at samples).
    """

    def __init__(self, kernels: SiteKernels, system=None, method="rodas4", explicit_rtol_factor=0.01,
                 probe_steps=None, explicit_margin=SITE_EXPLICIT_MARGIN, safety=0.9, fac_min=0.2, fac_max=6.0,
                 h_min_rel=1e-14, max_attempts=2**62):
        self.kernels, self.system = kernels, system
        if method == "dopri5" and kernels.params_rtol_times is None:
            raise ValueError("method 'dopri5': this model's kernels cannot set the explicit branch's tolerance")
        if kernels.params_rtol_times is None:
            method = "rodas4"
        self.method = method
        self.start_switching(method)
        self.auto = method == "auto"
        tightened = kernels.params_rtol_times
        self.params_explicit = (kernels.params if tightened is None
                                else np.asarray(tightened(float(explicit_rtol_factor)), dtype=np.float64))
        self.safety, self.fac_min, self.fac_max = safety, fac_min, fac_max
        self.h_min_rel = h_min_rel
        self.probe_steps = int(PROBE_STEPS if probe_steps is None else probe_steps)
        self.explicit_margin = float(explicit_margin)
        self.controls = np.array([safety, fac_min, fac_max, h_min_rel, self.probe_steps, self.explicit_margin,
                                  SITE_COST_RATIO], dtype=float)
        self.max_attempts = max_attempts
        self._advance = make_site_integrator(kernels.rhs, kernels.jac, kernels.dfdt, kernels.err,
                                             kernels.n_fields)
        self.on_accept = None       # not called: the loop runs compiled between samples
        self.t_reached = None
        self.wall_s = 0.0
        """Wall time spent in the compiled loop [s] (benchmarks: the cost per attempt)."""

    def advance(self, t, y, t_end, h, source=None, record=None, interrupt=None):
        """Integrate from t to exactly t_end; returns (y, h_next) (see Rodas4.advance).

        y: the site's state, (n,) or (n, 1); the result has the same shape. `interrupt` is
        ignored (see the class docstring); `source` and `record` are not supported.
        """
        if source is not None or record is not None:
            raise NotImplementedError("the compiled single-site stepper takes neither a source nor a record")
        k = self.kernels
        state = np.array(y, dtype=np.float64).reshape(k.n_fields)   # a copy: y is not changed
        before = self.n_accepted + self.n_rejected
        wall0 = time.perf_counter()
        status, t_out, h, h_rho = self._advance(
            float(t), float(t_end), state, float(h), k.params, self.params_explicit, k.constant_fields,
            self.controls, self.auto, self.state, self.counts, self.memory, self.max_attempts)
        self.wall_s += time.perf_counter() - wall0
        if h_rho == h_rho:
            self.h_rho = float(h_rho)
        self.t_reached = t_out
        if status == STEP_TOO_SMALL:
            raise IntegrationError(f"step size {h:.3e} fell below {self.h_min_rel * abs(t_out):.3e} "
                                   f"at t = {t_out:.6e}")
        if status == TOO_MANY_ATTEMPTS:
            raise IntegrationError(f"{self.n_accepted + self.n_rejected - before} step attempts made before "
                                   f"reaching t = {t_end:.6e} (at t = {t_out:.6e})")
        return state.reshape(np.shape(y)), h


def compiled_site_stepper(system, error_norm, **controls):
    """A CompiledSiteStepper for `system` if it offers compiled per-site kernels for this error
    norm (`system.compiled_site_kernels(error_norm)` returns SiteKernels), else None.

    The one place that asks a model for its compiled kernels; `controls` are the step-size
    controller's settings (see CompiledSiteStepper).
    """
    kernels = system.compiled_site_kernels(error_norm)
    return None if kernels is None else CompiledSiteStepper(kernels, system, **controls)
