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
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numba import njit
from numba.extending import register_jitable

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


@dataclass(frozen=True)
class SiteKernels:
    """A model's compiled per-site kernels and their parameters (see the module docstring).

    Attributes:
        rhs, jac, dfdt, err: the kernels.
        params: float64 parameter vector passed to every kernel.
        n_fields: fields per site.
        constant_fields: indices of the locally constant fields (their stages are zeroed).
    """

    rhs: Callable
    jac: Callable
    dfdt: Callable
    err: Callable
    params: np.ndarray
    n_fields: int
    constant_fields: np.ndarray


@njit(cache=True, error_model="numpy")
def lu_factor(G, piv):
    """In-place LU factorisation of the square G with partial pivoting (row swaps in piv)."""
    n = G.shape[0]
    for k in range(n):
        best, p = abs(G[k, k]), k
        for i in range(k + 1, n):
            v = abs(G[i, k])
            if v > best:
                best, p = v, i
        piv[k] = p
        if p != k:
            for j in range(n):
                G[k, j], G[p, j] = G[p, j], G[k, j]
        inv = 1.0 / G[k, k]
        for i in range(k + 1, n):
            G[i, k] *= inv
            l_ik = G[i, k]
            if l_ik != 0.0:
                for j in range(k + 1, n):
                    G[i, j] -= l_ik * G[k, j]


@njit(cache=True, error_model="numpy")
def lu_solve(LU, piv, b):
    """Solve LU x = P b in place in b (factors from lu_factor)."""
    n = LU.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            b[k], b[p] = b[p], b[k]
    for i in range(1, n):
        s = b[i]
        for j in range(i):
            s -= LU[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= LU[i, j] * b[j]
        b[i] = s / LU[i, i]


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


@functools.cache
def make_site_integrator(rhs, jac, dfdt, err, n):
    """The compiled adaptive Rodas4 loop of one site for these kernels (n fields).

    Returns advance(t, t_end, y, h, p, constant, safety, fac_min, fac_max, h_min_rel,
    max_attempts) -> (status, t, h, accepted, rejected): y (n,) is advanced in place from t
    towards t_end; status OK means t == t_end, STEP_TOO_SMALL that the step fell below
    h_min_rel·|t| (h is that step), TOO_MANY_ATTEMPTS that max_attempts were made. h is the
    proposal for the next call, as Rodas4.advance returns it.
    """
    ALPHA_, GAMMA_, EXPONENT = _ALPHA, _GAMMA, _EXPONENT
    S = STAGES

    @njit(cache=True, error_model="numpy")
    def advance(t, t_end, y, h, p, constant, safety, fac_min, fac_max, h_min_rel, max_attempts):
        J = np.empty((n, n))
        G = np.empty((n, n))
        piv = np.empty(n, dtype=np.int64)
        f0 = np.empty(n)
        ft = np.empty(n)
        K = np.empty((S, n))
        arg = np.empty(n)
        r = np.empty(n)
        y_new = np.empty(n)
        accepted = 0
        rejected = 0
        reject_streak = 0
        fresh = True                      # J, ∂f/∂t and f are those of (t, y)
        while t < t_end:
            if accepted + rejected >= max_attempts:
                return TOO_MANY_ATTEMPTS, t, h, accepted, rejected
            if h < h_min_rel * abs(t):
                return STEP_TOO_SMALL, t, h, accepted, rejected
            clipped = t + h >= t_end
            h_try = t_end - t if clipped else h
            if fresh:
                jac(t, y, p, J)
                dfdt(t, y, p, ft)
                rhs(t, y, p, f0)
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
                    for k in range(n):
                        r[k] = f0[k] + gh * ft[k]
                else:
                    stage_argument(s, y, K, arg)
                    rhs(t + ALPHA_[s] * h_try, arg, p, r)
                    stage_term(s, h_try, ft, K, arg)
                    for k in range(n):
                        r[k] += arg[k]
                lu_solve(G, piv, r)
                for k in range(n):
                    K[s, k] = r[k]
                for c in constant:
                    K[s, c] = 0.0
            solution(y, K, y_new)
            e = err(K[S - 1], y, y_new, p)
            ok, h_next = control(e, h_try, h, clipped, reject_streak, safety, fac_min, fac_max, EXPONENT)
            if ok:
                accepted += 1
                t = t_end if clipped else t + h_try
                for k in range(n):
                    y[k] = y_new[k]
                fresh = True
                reject_streak = 0
            else:
                rejected += 1
                reject_streak += 1
            h = h_next
        return OK, t, h, accepted, rejected

    return advance


class CompiledSiteStepper:
    """One site advanced by the compiled Rodas4 loop, with the interface of `Rodas4` that a
    single-site run uses: advance(t, y, t_end, h) -> (y, h_next), n_accepted, n_rejected,
    t_reached.

    Stop requests (`interrupt`) are not asked between steps: a call always reaches t_end, so
    a single-site run answers them at its next output sample (samples are close together).

    Args:
        kernels: the model's SiteKernels.
        system: the model system (kept as `system`, as Rodas4 keeps it).
        safety, fac_min, fac_max, h_min_rel: as Rodas4.
        max_attempts: attempts per call before IntegrationError (the run's own limit,
            integrator.max_steps, is checked by the driver at samples).
    """

    def __init__(self, kernels: SiteKernels, system=None, safety=0.9, fac_min=0.2, fac_max=6.0,
                 h_min_rel=1e-14, max_attempts=2**62):
        self.kernels, self.system = kernels, system
        self.safety, self.fac_min, self.fac_max = safety, fac_min, fac_max
        self.h_min_rel = h_min_rel
        self.max_attempts = max_attempts
        self._advance = make_site_integrator(kernels.rhs, kernels.jac, kernels.dfdt, kernels.err,
                                             kernels.n_fields)
        self.n_accepted = 0
        self.n_rejected = 0
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
        wall0 = time.perf_counter()
        status, t_out, h, acc, rej = self._advance(
            float(t), float(t_end), state, float(h), k.params, k.constant_fields, self.safety,
            self.fac_min, self.fac_max, self.h_min_rel, self.max_attempts)
        self.wall_s += time.perf_counter() - wall0
        self.n_accepted += acc
        self.n_rejected += rej
        self.t_reached = t_out
        if status == STEP_TOO_SMALL:
            raise IntegrationError(f"step size {h:.3e} fell below {self.h_min_rel * abs(t_out):.3e} "
                                   f"at t = {t_out:.6e}")
        if status == TOO_MANY_ATTEMPTS:
            raise IntegrationError(f"{self.max_attempts} step attempts made before reaching t = {t_end:.6e} "
                                   f"(at t = {t_out:.6e})")
        return state.reshape(np.shape(y)), h


def compiled_site_stepper(system, error_norm, **controls):
    """A CompiledSiteStepper for `system` if it offers compiled per-site kernels for this error
    norm (`system.compiled_site_kernels(error_norm)` returns SiteKernels), else None.

    The one place that asks a model for its compiled kernels; `controls` are the step-size
    controller's settings (see CompiledSiteStepper).
    """
    offer = getattr(system, "compiled_site_kernels", None)
    kernels = offer(error_norm) if offer is not None else None
    return None if kernels is None else CompiledSiteStepper(kernels, system, **controls)
