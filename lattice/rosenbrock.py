"""Adaptive Rodas4 Rosenbrock integrator for the stiff local (per-site) equations.

Why Rosenbrock: the precession and damping rates exceed the expansion rate by 1e3–1e8
(docs/models/diffusion-qke.md §5). An L-stable linearly implicit method with the exact Jacobian
damps unresolved fast transients and follows the slow manifold with steps chosen by a
local-error tolerance, not by the precession period. Rodas4 (Hairer & Wanner, 1996) is
stiffly accurate, order 4 with an embedded order-3 error estimate, and needs one
factorisation of (1/(γh) − J) per step per site.

Scheme (KPP form): G = 1/(γ₁h) − J(t, y),
    G K_i = f(t + α_i h, y + Σ_j a_ij K_j) + Σ_j (c_ij / h) K_j + γ_i h ∂f/∂t,
    y_new = y + Σ m_i K_i,   error = K_6.

The system is anything with f(t, y), jac(t, y) and dfdt(t, y); states are field-major arrays
(n, *grid). jac returns the per-site blocks (*grid, n, n) of a block-diagonal Jacobian, or an
object that factorises itself (block diagonal plus a low-rank all-site coupling, for global
unknowns such as a momentum-integrated asymmetry): see `lattice.linsolve`. Fields the system lists in `locally_constant` (an identically
zero right-hand side) are left bit-for-bit unchanged, so their conservation does not rest on
the round-off of the linear solve. A system may set `stage_sums = "blas"` to have each stage
combination Σ c_j K_j formed by one BLAS product instead of element-wise terms (faster on small
states; its rounding may depend on an element's position, so the default element-wise sums stay
for decomposed lattices). The error norm is a strategy object: `error_norm(err, y, y_new)`
returns the largest weighted error on this rank (≤ 1 means acceptable); `FieldwiseNorm` is the
textbook per-field choice, and a model may measure error on the combinations its physics needs.
`reduce_max` combines the norm across ranks, so every rank takes the same accept/reject
decision and step size (a maximum is exact and independent of the rank count).
"""

from __future__ import annotations

import numpy as np

from kernels.backend import NUMPY
from lattice.krylov import DeferredCheckFailed, SolveFailed
from lattice.linsolve import factorise
from lattice.model import FieldwiseNorm  # noqa: F401  (the generic norm, re-exported)

_A = np.array([0.1544, 0.9466785280815826, 0.2557011698983284, 3.314825187068521,
               2.896124015972201, 0.9986419139977817, 1.221224509226641, 6.019134481288629,
               12.53708332932087, -0.6878860361058950, 1.221224509226641, 6.019134481288629,
               12.53708332932087, -0.6878860361058950, 1.0])
_A[0] = 1.544
_C = np.array([-5.6688, -2.430093356833875, -0.2063599157091915, -0.1073529058151375,
               -9.594562251023355, -20.47028614809616, 7.496443313967647, -10.24680431464352,
               -33.99990352819905, 11.70890893206160, 8.083246795921522, -7.981132988064893,
               -31.52159432874371, 16.31930543123136, -6.058818238834054])
ALPHA = (0.0, 0.386, 0.210, 0.630, 1.0, 1.0)
GAMMA = (0.25, -0.1043, 0.1035, -0.0362, 0.0, 0.0)
M = (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0, 1.0)
STAGES = 6
ERROR_ORDER = 4.0  # min(order, embedded order) + 1


def _rows(packed):
    """Rows of a packed strictly lower-triangular tableau: row i has entries j < i."""
    return [np.array(packed[i * (i - 1) // 2: i * (i - 1) // 2 + i]) for i in range(STAGES)]


_A_ROWS = _rows(_A)
_C_ROWS = _rows(_C)


def _stage_weights():
    """Weights of each stage's two sums on the stage store (y, ∂f/∂t, K_0, …, K_5), as functions
    of h: stage i's argument is y + Σ_j a_ij K_j, and Σ_j (c_ij/h) K_j + γ_i h ∂f/∂t is added to
    its right-hand side; the solution is y + Σ_j m_j K_j. Weights beyond the stages a sum uses
    are left out, so a sum reads only the rows it needs."""
    state = [np.concatenate(([1.0, 0.0], _A_ROWS[i])) for i in range(STAGES)]
    per_h = [np.concatenate(([0.0, 0.0], _C_ROWS[i])) for i in range(STAGES)]
    times_h = [np.concatenate(([0.0, GAMMA[i]], np.zeros(i))) for i in range(STAGES)]
    return state, per_h, times_h, np.concatenate(([1.0, 0.0], M))


_STATE_W, _RHS_W_PER_H, _RHS_W_TIMES_H, _SOLUTION_W = _stage_weights()


class ElementwiseStageSums:
    """The stage sums of one attempt, term by term in a fixed order, zero weights skipped (the
    backend's `combine`: one fused pass on a GPU): not a BLAS product, whose blocking may round an
    element differently depending on where it sits in the array, so lattice results do not
    depend on the decomposition.

    Args:
        y, dfdt: the step's state and ∂f/∂t (field-major, NumPy or CuPy).
        h: the step size.
        backend: the arrays' backend (kernels.backend).
    Attributes:
        K: the stage store (STAGES, *y.shape), filled by the stepper.
    """

    def __init__(self, y, dfdt, h, backend=NUMPY):
        self.h, self.combine = h, backend.combine
        self.K = np.empty_like(y, shape=(STAGES,) + y.shape)   # NumPy or CuPy, as y
        self._rows = [y, dfdt, *self.K]

    def argument(self, i):
        """The argument y + Σ_j a_ij K_j of stage i ≥ 1."""
        return self.combine(self._rows, _STATE_W[i])

    def term(self, i):
        """The extra right-hand-side term Σ_j (c_ij/h) K_j + γ_i h ∂f/∂t of stage i ≥ 1 (formed
        after f of the argument, so the two never occupy memory together)."""
        return self.combine(self._rows, _RHS_W_PER_H[i] / self.h + _RHS_W_TIMES_H[i] * self.h)

    def solution(self):
        """y + Σ_j m_j K_j."""
        return self.combine(self._rows, _SOLUTION_W)


def _padded(rows):
    """Weight vectors of different lengths as the rows of one zero-padded (len, 2 + STAGES) array."""
    out = np.zeros((len(rows), 2 + STAGES))
    for i, w in enumerate(rows):
        out[i, :len(w)] = w
    return out


_STATE_MAT, _PER_H_MAT, _TIMES_H_MAT = (_padded(w) for w in (_STATE_W, _RHS_W_PER_H, _RHS_W_TIMES_H))


class BlasStageSums:
    """The stage sums of one attempt as matrix products (BLAS) on one contiguous store (y, ∂f/∂t,
    K_0, …, K_5): both sums of a stage (its argument and its extra right-hand-side term) in one
    product. For systems that declare `stage_sums = "blas"`: small states, where the call
    overhead dominates. Its rounding may depend on an element's position in the array, so it is
    not for decomposed lattices. Same interface as `ElementwiseStageSums`.
    """

    def __init__(self, y, dfdt, h, backend=NUMPY):
        self._store = np.empty_like(y, shape=(2 + STAGES,) + y.shape)
        self._store[0], self._store[1] = y, dfdt
        self._flat = self._store.reshape(2 + STAGES, -1)
        self.K = self._store[2:]
        self._shape = y.shape
        self._weights = np.empty((STAGES, 2, 2 + STAGES))   # per stage: (argument, rhs term) weights
        self._weights[:, 0] = _STATE_MAT
        np.multiply(_PER_H_MAT, 1.0 / h, out=self._weights[:, 1])
        self._weights[:, 1] += _TIMES_H_MAT * h

    def argument(self, i):
        n = 2 + i      # stage i reads y, ∂f/∂t and K_0 … K_(i−1)
        both = self._weights[i, :, :n] @ self._flat[:n]     # both sums in one product
        self._term = both[1].reshape(self._shape)
        return both[0].reshape(self._shape)

    def term(self, i):
        return self._term

    def solution(self):
        return (_SOLUTION_W @ self._flat).reshape(self._shape)


class IntegrationError(RuntimeError):
    """The step size fell below its floor or the step count exceeded its limit."""




class Rodas4:
    """Adaptive Rodas4 stepper over a field-major batch of independent sites.

    Args:
        system: a lattice.model.Equations: f(t, y), jac(t, y), dfdt(t, y) (units: state per unit
            time), locally_constant, conserve, stage_sums.
        error_norm: callable (err, y, y_new) -> weighted local error, e.g. FieldwiseNorm.
        reduce_max: combines the local error norm across ranks (identity by default).
        safety, fac_min, fac_max: step-size controller factors [dimensionless].
        h_min_rel: smallest allowed step relative to |t| before giving up.
        backend: the array backend (kernels.backend) of the state and of block Jacobians.
    """

    def __init__(self, system, error_norm, reduce_max=None, safety=0.9, fac_min=0.2,
                 fac_max=6.0, h_min_rel=1e-14, backend=NUMPY):
        self.system = system
        self.backend = backend
        self.error_norm = error_norm
        self.constant_fields = list(system.locally_constant)
        self.conserve = system.conserve   # None, or (y, y_new) -> y_new with exact invariants
        # "elementwise": rounding independent of the decomposition; "blas": faster
        self._stage_sums = {"elementwise": ElementwiseStageSums, "blas": BlasStageSums}[system.stage_sums]
        self.reduce_max = reduce_max or (lambda x: x)
        self.safety, self.fac_min, self.fac_max = safety, fac_min, fac_max
        self.h_min_rel = h_min_rel
        self.n_accepted = 0
        self.n_rejected = 0
        self._at = None   # (t, y, J, ∂f/∂t) of the last attempt: a rejected step retries from there
        self.on_accept = None
        """Optional callable(t, h) after every accepted step (progress reports)."""
        self.t_reached = None
        """Time [as t] of the state the last `advance` returned (t_end unless interrupted)."""

    error_order = ERROR_ORDER
    """The step controller's exponent is −1/error_order."""

    switching = False
    """Rodas4 throughout: no explicit branch (lattice.explicit_rk.SwitchingCounters has one)."""

    def checkpoint_state(self):
        """What an exact restart needs besides (t, y, h) and the totals: nothing."""
        return {}

    def split_stats(self):
        """Statistics per branch: none (one method)."""
        return {}

    def attempt(self, t, y, h, source=None):
        """One Rodas4 step of size h from (t, y); returns (y_new, error_norm).

        `source` (state-shaped, constant over the step) is added to f: the forced equations
        dy/dt = f(t, y) + source, with the same Jacobian. Fields listed as locally constant
        then move with their source, so they are not held fixed. A system whose stage solves
        defer their residual checks (lattice.implicit) may fail one at a later stage; the
        attempt is then redone with every check made before its solve returns. A stage solve
        that does not converge (lattice.krylov.SolveFailed) ends the attempt at once, without
        its later stages: a state of NaN and a NaN error norm, which the step control rejects.
        """
        try:
            try:
                return self._attempt(t, y, h, source)
            except DeferredCheckFailed:
                self.system.defer_checks = False
                try:
                    return self._attempt(t, y, h, source)
                finally:
                    self.system.defer_checks = True
        except SolveFailed:
            return self.backend.xp.full(y.shape, np.nan), float("nan")

    def _attempt(self, t, y, h, source):
        s = self.system
        if self._at is None or self._at[0] != t or self._at[1] is not y:   # a retry reuses them
            self._at = None                   # the previous step's Jacobian goes before the next comes
            self._at = (t, y, s.jac(t, y), s.dfdt(t, y))
        J, dfdt = self._at[2], self._at[3]
        solve = factorise(J, 1.0 / (GAMMA[0] * h), self.backend)
        sums = self._stage_sums(y, dfdt, h, self.backend)
        K = sums.K
        for i in range(STAGES):
            if i == 0:                        # f(y) again on a retry: a state less kept
                rhs = s.f(t, y)
                rhs += (GAMMA[0] * h) * dfdt
            else:
                rhs = s.f(t + ALPHA[i] * h, sums.argument(i))   # the argument is let go at once
                rhs += sums.term(i)
            if source is not None:
                rhs += source
            K[i] = solve(rhs)
            del rhs
            if source is None and self.constant_fields:
                K[i, self.constant_fields] = 0.0
        y_new = sums.solution()
        if self.conserve is not None:
            y_new, norm = s.conserve_and_measure(y, y_new, K[-1], self.error_norm)
        else:
            norm = self.error_norm(K[-1], y, y_new)
        return y_new, float(self.reduce_max(norm))

    def advance(self, t, y, t_end, h, source=None, record=None, interrupt=None):
        """Integrate from t to exactly t_end; returns (y, h_next) with h_next for the next call.

        Steps are accepted when the error norm is ≤ 1; a step clipped to land on t_end does
        not shrink the proposal carried to the next call. `source` forces the equations (see
        attempt); the sizes of the accepted steps are appended to the list `record` if given.
        `interrupt()`, if given, is asked after every accepted step short of t_end; True returns
        early. `t_reached` is the time of the returned y: continuing with
        advance(t_reached, y, t_end, h_next) takes exactly the steps an uninterrupted call takes.
        """
        reject_streak = 0
        self._at = None   # reuse only within one call: the caller may change y in place between calls
        while t < t_end:
            h_min = self.h_min_rel * abs(t)
            if h < h_min:
                raise IntegrationError(f"step size {h:.3e} fell below {h_min:.3e} at t = {t:.6e}")
            clipped = t + h >= t_end
            h_try = t_end - t if clipped else h
            y_new, err = self.attempt(t, y, h_try, source)
            if not np.isfinite(err):
                factor = self.fac_min
            else:
                factor = self.safety * max(err, 1e-12) ** (-1.0 / self.error_order)
            if np.isfinite(err) and err <= 1.0:
                self.n_accepted += 1
                if record is not None:
                    record.append(h_try)
                t = t_end if clipped else t + h_try
                y = y_new
                if self.on_accept:
                    self.on_accept(t, h_try)
                fac_max = 1.0 if reject_streak else self.fac_max
                h_next = h_try * min(fac_max, max(self.fac_min, factor))
                h = max(h, h_next) if clipped else h_next
                reject_streak = 0
                if interrupt is not None and t < t_end and interrupt():
                    break
            else:
                y_new = None          # the rejected state's memory is free during the retry
                self.n_rejected += 1
                reject_streak += 1
                h = h_try * max(self.fac_min, min(1.0, factor))
        self.t_reached = t
        return y, h

    def replay(self, t, y, steps, source=None):
        """Take the given step sizes without step control; returns (y, largest error norm).

        Used to integrate a second, slightly different forcing over exactly the steps that an
        adaptive call accepted, so the two results differ only through the forcing.
        """
        worst = 0.0
        for h in steps:
            y, err = self.attempt(t, y, h, source)
            self.n_accepted += 1
            worst = max(worst, err)
            t += h
        return y, worst
