"""Restarted GMRES with right preconditioning and rank-independent inner products.

Solves A x = b, right-preconditioned: B u = b with B = A M⁻¹ = I + E, x = M⁻¹ u, for operators
given only as functions (E and M⁻¹ of the coupled local + diffusion stage matrix of the implicit
lattice stepper, which applies E without the matrix A: lattice.implicit), on this rank's part of
a distributed vector. The residual b − B u that GMRES minimises is the residual of A x = b. The
first guess is u₀ = b (x₀ = M⁻¹ b), which already meets the tolerance when the preconditioner
captures the operator (steps short compared with the grid diffusion time). Convergence is
decided on the true residual b − u − E u, recomputed after every cycle, never on the cycle's
Givens estimate alone: on the item-5 problem at 1024 cells 215 of 27 282 stage solves
had an estimate within the tolerance and a true residual up to 8.6e6 times above it, which put a
rtol 1e-6 run 2.4e-5 of max|L| off (1.3e-8 with the check, the same as an exact line solve).

The Arnoldi process runs on E = A M⁻¹ − I, whose Krylov space and Hessenberg matrix (minus the
identity) are those of A M⁻¹: with a good preconditioner A M⁻¹ v ≈ v, and projecting v out of
A M⁻¹ v would cancel most of its digits. Orthogonalisation is classical Gram–Schmidt with one
global reduction per iteration (the projections and ‖w‖² together; the new norm follows by
Pythagoras) and a second pass when the projection cancelled most of ‖w‖ (a relaxed
Kahan–Parlett "twice is enough" test, see REORTHOGONALISE_BELOW). Every inner product goes through
`lattice.reductions.ReproducibleSums` and vectors are combined element-wise, never by BLAS
(whose blocking may round an element differently depending on its position in the local array),
so iterates, iteration counts and the solution are bitwise the same for any number of ranks.

Reference: Saad & Schultz (1986); Saad, "Iterative methods for sparse linear systems", §6.5,
9.3; Giraud, Langou & Rozložník (2005) on re-orthogonalisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lattice.workspace import Workspace

REORTHOGONALISE_BELOW = 1e-6
"""Second Gram–Schmidt pass when ‖w after projection‖² < this × ‖w before‖² (unless the step's
residual estimate already meets the tolerance: see `_meets`). The textbook 0.5
re-orthogonalises at the first lost bit; here a basis vector may lose up to ~20 bits of
orthogonality (and its Pythagorean norm ~1e-10 of its accuracy) before a second pass, far below
the few-digit accuracy the stage solves need, and smooth vectors, for which the neighbour
coupling is nearly a multiple of the identity, no longer cost a second reduction every time."""


@dataclass
class KrylovStats:
    """Counters over all solves: solves, iterations (operator applications in the Arnoldi
    cycles), failures, and estimate_misses: cycles whose residual estimate met the tolerance
    while the true residual did not (GMRES then continues from the true residual). `discarded`
    counts the speculative operator applications a device run makes at a cycle's opening and
    drops because the residual had already converged (see gmres), `reorthogonalised` the Arnoldi
    steps that took a second Gram–Schmidt pass (and a second copy to the host); neither is part
    of the results."""

    solves: int = 0
    iterations: int = 0
    failures: int = 0
    estimate_misses: int = 0
    discarded: int = 0
    reorthogonalised: int = 0


def gmres(apply_E, apply_Minv, b, sums, tolerance, restart=10, max_iterations=200, stats=None,
          workspace=None, speculative=None, pending=None):
    """Solve A x = b to ‖b − A M⁻¹ u‖₂ ≤ tolerance, x = M⁻¹ u; returns (x, converged), x as
    apply_Minv returned it (valid until its next call).

    Args:
        apply_E: function (v, out) -> E v = A M⁻¹ v − v on flat local vectors, written into out
            (returns out; GMRES passes the basis slot the result is orthogonalised in, so the
            operator needs no buffer of its own for it).
        apply_Minv: function v -> M⁻¹ v (the preconditioner; the result may be a buffer that the
            next call overwrites: GMRES does not keep it).
        b: right-hand side, flat local vector.
        sums: a ReproducibleSums over the vector's global length (inner products, norms); its
            backend (kernels.backend) is the vectors' and does the element-wise combinations.
        tolerance: absolute bound on the global Euclidean norm of the residual.
        restart: Krylov basis size before a restart.
        max_iterations: iterations (operator applications after the first guess) allowed in all.
        stats: optional KrylovStats to update.
        workspace: optional lattice.workspace.Workspace (of the same backend) for the Krylov
            basis and temporaries (reused between solves: no fresh lattice-size allocations in
            the iteration).
        speculative: apply the operator to a cycle's residual before its norm is known, so
            that the norm and the first Arnoldi step's inner products come to the host in one
            copy (default: on a device backend, where each copy is a sync). The arithmetic is
            the same either way, so the results are bitwise equal; speculation costs one
            discarded application per solve (the residual that has converged).
        pending: None (every solve's true residual is checked before it returns), or a
            PendingChecks: a solve whose last cycle's estimate meets the tolerance returns at
            once, converged, and leaves the check of its true residual there; the next solve's
            first copy to the host (or the caller's, `PendingChecks.verify`) brings it along and
            raises DeferredCheckFailed if it failed. Saves one sync per solve on a device.
    """
    stats = stats if stats is not None else KrylovStats()
    work = workspace if workspace is not None else Workspace(sums.backend)
    if speculative is None:
        speculative = sums.backend.name != "numpy"
    stats.solves += 1
    basis = work.get("basis", (max(min(restart, max_iterations), 1) + 1,) + b.shape)   # also E's output
    u = b.copy()                    # the iterate and the residual live only during the solve
    r = _residual(apply_E, b, u, np.empty_like(b), basis[0])
    done, beta_est, deferred = 0, None, False
    while True:
        beta, opening = _opening(apply_E, r, sums, tolerance, done < max_iterations, speculative, stats,
                                 pending, basis[1])
        if beta_est is not None and beta_est <= tolerance < beta:   # the true residual decides:
            stats.estimate_misses += 1                                # the estimate can be far below it
        if opening is None:
            break
        j, y, V, beta_est = _cycle(apply_E, r, beta, opening, sums, tolerance,
                                   min(restart, max_iterations - done), basis, stats)
        done += j
        if j == 0:
            break
        sums.backend.subtract_combination(u, -y, V)       # u += V y, element by element
        r = _residual(apply_E, b, u, r, basis[0])
        if pending is not None and beta_est <= tolerance:     # the check travels with the next copy
            pending.add(sums.local_dots(r[None], r), tolerance)
            deferred = True
            break
    stats.iterations += done
    if deferred:
        return apply_Minv(u), True
    converged = bool(math.isfinite(beta) and beta <= tolerance)
    if not converged:
        stats.failures += 1
    return apply_Minv(u), converged


def _residual(apply_E, b, u, out, scratch):
    """The true residual b − B u = (b − u) − E u into out (E u formed in `scratch`)."""
    np.subtract(b, u, out=out)
    out -= apply_E(u, scratch)
    return out


class DeferredCheckFailed(RuntimeError):
    """A solve returned on its estimate, and its deferred true-residual check failed: the
    caller redoes the whole attempt with every solve checked before it returns (`pending=None`)."""


class PendingChecks:
    """True-residual checks of solves that have returned on their estimate (see gmres `pending`):
    this rank's bins of ‖r‖² (ReproducibleSums.local_dots), each with its tolerance. Whoever
    makes the next copy to the host puts `local()` in front of it and passes the global sums to
    `verify`. The same checks at the same points on every backend, so results do not depend on
    how the copies are grouped."""

    def __init__(self, stats):
        self.stats = stats
        self._checks = []

    def add(self, local_norm2, tolerance):
        """A solve's residual check: its bins of ‖r‖² and the tolerance on ‖r‖."""
        self._checks.append((local_norm2, tolerance))

    def local(self):
        """The pending bins as a list of (1, 2 + n_bins) arrays (empty when none)."""
        return [bins for bins, _ in self._checks]

    def clear(self):
        self._checks = []

    def verify(self, norm2):
        """Check the global ‖r‖² of the pending solves (in the order of `local`) and clear them;
        raises DeferredCheckFailed if one is above its tolerance (or not finite)."""
        checks, self._checks = self._checks, []
        failed = [not math.sqrt(max(float(v), 0.0)) <= tol for v, (_, tol) in zip(norm2, checks)]
        if any(failed):
            self.stats.estimate_misses += sum(failed)
            raise DeferredCheckFailed(f"{sum(failed)} of {len(checks)} deferred residual checks failed")

    def verify_with(self, sums, local):
        """Bring the pending bins and this rank's `local` bins (k, 2 + n_bins) of `sums` to the host
        in one copy; verify the pending checks and return the k global sums of `local`."""
        xp = sums.backend.xp
        n = len(self._checks)
        totals = sums.combine(sums.backend.to_host(xp.concatenate(self.local() + [local])))
        self.verify(totals[:n])
        return totals[n:]


def _opening(apply_E, r, sums, tolerance, allowed, speculative, stats, pending, out):
    """The residual norm β = ‖r‖ and, unless r has converged (or is not finite, or no iteration
    is `allowed`), the first Arnoldi step's raw products: (u = E r, ⟨r, u⟩, ⟨u, u⟩), with
    E = A M⁻¹ − I. Speculative: u first, then the three sums in one copy to the host; else ‖r‖
    alone first, and u only when needed (also on a device when no iteration is allowed). The
    same numbers either way (each row's sum does not depend on the batch)."""
    xp = sums.backend.xp
    r_rows = r[None]
    pending = pending if pending is not None else PendingChecks(stats)
    speculative = speculative and allowed
    if not speculative:
        beta = math.sqrt(max(float(pending.verify_with(sums, sums.local_dots(r_rows, r))[0]), 0.0))
        if not (allowed and math.isfinite(beta) and beta > tolerance):
            return beta, None
    u = apply_E(r, out)       # in basis slot 1, where the cycle orthogonalises it
    if speculative:           # the pending checks, ‖r‖², ⟨r, u⟩, ‖u‖² in one copy
        both = xp.concatenate((sums.local_dots(r_rows, r), sums.local_dots(r_rows, u, with_norm=True)))
        rr, ru, uu = pending.verify_with(sums, both)
        beta = math.sqrt(max(float(rr), 0.0))
        if not (allowed and math.isfinite(beta) and beta > tolerance):
            stats.discarded += 1
            return beta, None
    else:
        (ru,), uu = sums.dots_and_norm2(r_rows, u)
    return beta, (u, float(ru), float(uu))


def _cycle(apply_E, r, beta, opening, sums, tolerance, m, basis, stats):
    """One Arnoldi cycle of at most m steps from residual r (norm beta), whose first step's raw
    products are `opening` (see _opening), in `basis` (≥ m + 1 vectors; E V_j is formed in
    V_{j+1} and orthogonalised and normalised there); returns (steps, y, V, residual estimate)."""
    V = basis[:m + 1]
    H = np.zeros((m + 1, m))
    cs, sn = np.zeros(m), np.zeros(m)
    g = np.zeros(m + 1)
    g[0] = beta
    np.divide(r, beta, out=V[0])
    j = 0
    while j < m:
        if j == 0:              # E V_0 = u/β, ⟨V_0, E V_0⟩ = ⟨r, u⟩/β², ‖E V_0‖² = ⟨u, u⟩/β²
            u, ru, uu = opening
            w = np.divide(u, beta, out=u)
            h, norm2 = np.array([ru / beta ** 2]), uu / beta ** 2
        else:
            w = apply_E(V[j], V[j + 1])   # Arnoldi on E = A M⁻¹ − I (same Krylov space, H_E = H − I):
            h, norm2 = sums.dots_and_norm2(V[:j + 1], w)   # no cancellation when A M⁻¹ ≈ I
        sums.backend.subtract_combination(w, h, V)
        rest2 = norm2 - h @ h
        if rest2 < REORTHOGONALISE_BELOW * norm2 and not _meets(h, rest2, j, cs, sn, g, tolerance):
            stats.reorthogonalised += 1
            h2, norm2 = sums.dots_and_norm2(V[:j + 1], w)
            sums.backend.subtract_combination(w, h2, V)
            h += h2
            rest2 = norm2 - h2 @ h2
        h_next = math.sqrt(max(rest2, 0.0))
        h[j] += 1.0
        for i in range(j):                                     # previous Givens rotations
            h[i], h[i + 1] = cs[i] * h[i] + sn[i] * h[i + 1], -sn[i] * h[i] + cs[i] * h[i + 1]
        hypot = math.hypot(h[j], h_next)
        if hypot == 0.0 or not math.isfinite(hypot):
            break
        cs[j], sn[j] = h[j] / hypot, h_next / hypot
        H[:j, j] = h[:j]
        H[j, j] = hypot
        g[j + 1] = -sn[j] * g[j]
        g[j] *= cs[j]
        j += 1
        if abs(g[j]) <= tolerance or h_next == 0.0:
            break
        np.divide(w, h_next, out=V[j])
    y = _back_substitute(H[:j, :j], g[:j])
    return j, y, V, abs(g[j])


def _meets(h, rest2, j, cs, sn, g, tolerance):
    """Whether step j's residual estimate, from its first Gram–Schmidt pass (column h of H − I,
    ‖w − V h‖² = rest2 by Pythagoras), meets the tolerance: then the cycle ends here, the next
    basis vector (whose orthogonality a second pass would restore) is never used, and the pass
    is skipped. (The pass would change the column by the lost orthogonality, ~1e-10 of it, and
    the true-residual check still decides.)"""
    column = h.copy()
    column[j] += 1.0
    for i in range(j):
        column[i], column[i + 1] = cs[i] * column[i] + sn[i] * column[i + 1], -sn[i] * column[i] + cs[i] * column[i + 1]
    h_next = math.sqrt(max(rest2, 0.0))
    hypot = math.hypot(column[j], h_next)
    return hypot > 0.0 and abs(g[j]) * h_next / hypot <= tolerance


def _back_substitute(R, g):
    """Solution of the upper-triangular system R y = g."""
    n = len(g)
    y = np.zeros(n)
    for i in range(n - 1, -1, -1):
        y[i] = (g[i] - R[i, i + 1:] @ y[i + 1:]) / R[i, i]
    return y
