"""Restarted GMRES with right preconditioning and rank-independent inner products.

Solves A x = b, right-preconditioned: B u = b with B = A M⁻¹ = I + E, x = M⁻¹ u, for operators
given only as functions (E and M⁻¹ of the coupled local + diffusion stage matrix of the implicit
lattice stepper, which applies E without the matrix A: lattice.implicit), on this rank's part of
a distributed vector. The residual b − B u that GMRES minimises is the residual of A x = b. The
first guess is u₀ = b (x₀ = M⁻¹ b), which already meets the tolerance when the preconditioner
captures the operator (steps short compared with the grid diffusion time); the one Arnoldi step
made with the products that found this (see `_opening`) then lowers it further. Convergence is
decided on the true residual b − u − E u, recomputed after every cycle, never on the cycle's
Givens estimate alone: on the item-5 problem at 1024 cells 215 of 27 282 stage solves
had an estimate within the tolerance and a true residual up to 8.6e6 times above it, which put a
rtol 1e-6 run 2.4e-5 of max|L| off (1.3e-8 with the check, the same as an exact line solve).

The Arnoldi process runs on E = A M⁻¹ − I, whose Krylov space and Hessenberg matrix (minus the
identity) are those of A M⁻¹: with a good preconditioner A M⁻¹ v ≈ v, and projecting v out of
A M⁻¹ v would cancel most of its digits. Orthogonalisation is classical Gram–Schmidt with one
global reduction per iteration (the projections and ‖w‖² together; the new norm follows by
Pythagoras) and a second pass when the projection cancelled most of ‖w‖ (a relaxed
Kahan–Parlett "twice is enough" test, see REORTHOGONALISE_BELOW). The second pass is delayed
into the next iteration's reduction (`_lagged_pass`), so that every iteration costs one global
reduction, the one copy to the host a device makes per iteration. Every inner product goes through
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
"""Second Gram–Schmidt pass when ‖w after projection‖² < this × ‖w before‖², made at the next
step, with its reduction (`_lagged_pass`); a step that ends its cycle needs none (the next
basis vector, whose orthogonality it would restore, is never used). The textbook 0.5
re-orthogonalises at the first lost bit; here a basis vector may lose up to ~10 bits of
orthogonality (to u·10³, and its Pythagorean norm ~1e-10 of its accuracy) before a second pass,
far below the few-digit accuracy the stage solves need, and smooth vectors, for which the
neighbour coupling is nearly a multiple of the identity, are not corrected every time."""


@dataclass
class KrylovStats:
    """Counters over all solves: solves, iterations (operator applications in the Arnoldi
    cycles), failures, and estimate_misses: cycles whose residual estimate met the tolerance
    while the true residual did not (GMRES then continues from the true residual). `discarded`
    counts the speculative operator applications a device run makes at a cycle's opening and
    drops because the residual is zero or not finite (see _opening), `reorthogonalised` the basis
    vectors that took a second Gram–Schmidt pass (in the next iteration's copy to the host);
    neither is part of the results."""

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
            the same either way, so the results are bitwise equal (a converged residual's
            application is used either way: it makes one Arnoldi step, see `_opening`).
        pending: None (every solve's true residual is checked before it returns), or a
            PendingChecks: a solve whose last cycle's estimate meets the tolerance returns at
            once, converged, and leaves the check of its true residual there; the next solve's
            first copy to the host (or the caller's, `PendingChecks.verify`) brings it along and
            raises DeferredCheckFailed if it failed. Saves one sync per solve on a device.
            Not the same bits as checked solves: a checked solve whose check finds the residual
            converged makes one more Arnoldi step (see `_opening`); on every backend the same.
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
        applied, y, V, beta_est = _cycle(apply_E, r, beta, opening, sums, tolerance,
                                         1 if beta <= tolerance else min(restart, max_iterations - done),
                                         basis, stats)
        done += applied
        if y.size == 0:
            break
        sums.backend.subtract_combination(u, -y, V)       # u += V y, element by element
        if beta <= tolerance:     # the opening's true residual had converged; the one step the cycle
            break                 # made with its products (see _opening) only lowers it
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


class SolveFailed(RuntimeError):
    """A stage solve did not converge (out of iterations, or a residual that is not finite): the
    attempt it belongs to cannot succeed, and its caller rejects it without the later stages."""


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
    """The residual norm β = ‖r‖ and, unless r is zero or not finite, or no iteration is
    `allowed`, the first Arnoldi step's raw products: (u = E r, ⟨r, u⟩, ⟨u, u⟩), with
    E = A M⁻¹ − I. Also when r has converged: the cycle then makes that one step (its estimate
    is at most β, so it stops there) and the solve returns without recomputing the residual, so
    that the copy which found β is an iteration's copy on a device, not one made for nothing.
    Speculative: u first, then the three sums in one copy to the host; else ‖r‖ alone first,
    and u only when needed (also on a device when no iteration is allowed). The same numbers
    either way (each row's sum does not depend on the batch)."""
    xp = sums.backend.xp
    r_rows = r[None]
    pending = pending if pending is not None else PendingChecks(stats)
    speculative = speculative and allowed
    if not speculative:
        beta = math.sqrt(max(float(pending.verify_with(sums, sums.local_dots(r_rows, r))[0]), 0.0))
        if not _iterates(beta, allowed):
            return beta, None
    u = apply_E(r, out)       # in basis slot 1, where the cycle orthogonalises it
    if speculative:           # the pending checks, ‖r‖², ⟨r, u⟩, ‖u‖² in one copy
        both = xp.concatenate((sums.local_dots(r_rows, r), sums.local_dots(r_rows, u, with_norm=True)))
        rr, ru, uu = pending.verify_with(sums, both)
        beta = math.sqrt(max(float(rr), 0.0))
        if not _iterates(beta, allowed):
            stats.discarded += 1
            return beta, None
    else:
        (ru,), uu = sums.dots_and_norm2(r_rows, u)
    return beta, (u, float(ru), float(uu))


def _iterates(beta, allowed):
    """Whether an opening with residual norm beta makes Arnoldi steps (see _opening)."""
    return allowed and math.isfinite(beta) and beta > 0.0


def _cycle(apply_E, r, beta, opening, sums, tolerance, m, basis, stats):
    """One Arnoldi cycle of at most m steps from residual r (norm beta), whose first step's raw
    products are `opening` (see _opening), in `basis` (≥ m + 1 vectors; E V_j is formed in
    V_{j+1} and orthogonalised and normalised there); returns (operator applications, y, V,
    residual estimate), the iterate's correction being V y (y has one entry per column kept)."""
    V = basis[:m + 1]
    H = np.zeros((m + 1, m))        # the Hessenberg matrix of E as the Arnoldi steps found it
    R = np.zeros((m + 1, m))        # that of H + I = A M⁻¹ after the Givens rotations
    cs, sn = np.zeros(m), np.zeros(m)
    g = np.zeros(m + 1)
    g[0] = beta
    np.divide(r, beta, out=V[0])
    lagged = None                   # g[j − 1] before rotation j − 1, when V_j awaits its second pass
    j = applied = 0
    while j < m:
        applied += 1
        if j == 0:              # E V_0 = u/β, ⟨V_0, E V_0⟩ = ⟨r, u⟩/β², ‖E V_0‖² = ⟨u, u⟩/β²
            u, ru, uu = opening
            w = np.divide(u, beta, out=u)
            h, norm2 = np.array([ru / beta ** 2]), uu / beta ** 2
            sums.backend.subtract_combination(w, h, V)
        elif lagged is None:
            w = apply_E(V[j], V[j + 1])   # Arnoldi on E = A M⁻¹ − I (same Krylov space, H_E = H − I):
            h, norm2 = sums.dots_and_norm2(V[:j + 1], w)   # no cancellation when A M⁻¹ ≈ I
            sums.backend.subtract_combination(w, h, V)
        else:
            w = apply_E(V[j], V[j + 1])
            products = _lagged_pass(sums, V, H, j, w)
            if products is None:           # V_j lies in the span of V_0 … V_{j−1} to working accuracy:
                break                      # the cycle ends with j columns, its estimate unchanged
            h, norm2 = products
            stats.reorthogonalised += 1
            g[j - 1], rotated = lagged, g[j - 1]
            if not _rotate(H, j - 1, R, cs, sn, g):   # column j − 1 as the second pass corrected it
                g[j - 1] = rotated                    # (not finite: the cycle ends as it stood)
                break
        rest2 = norm2 - h @ h
        h_next = math.sqrt(max(rest2, 0.0))
        H[:j + 1, j] = h
        H[j + 1, j] = h_next
        unrotated = g[j]
        if not _rotate(H, j, R, cs, sn, g):
            break
        j += 1
        if abs(g[j]) <= tolerance or h_next == 0.0:
            break
        np.divide(w, h_next, out=V[j])
        lagged = unrotated if rest2 < REORTHOGONALISE_BELOW * norm2 else None
    y = _back_substitute(R[:j, :j], g[:j])
    return applied, y, V, abs(g[j])


def _rotate(H, j, R, cs, sn, g):
    """Column j of H + I (rows 0 … j + 1) into column j of R: the Givens rotations of the columns
    before it, then its own (set here, as cs[j], sn[j]), which also turns (g[j], 0) into
    (g[j], g[j + 1]) of the least-squares problem. False (nothing set) when the rotation
    is undefined: a zero or non-finite column."""
    column = H[:j + 1, j].copy()
    column[j] += 1.0
    for i in range(j):
        column[i], column[i + 1] = cs[i] * column[i] + sn[i] * column[i + 1], -sn[i] * column[i] + cs[i] * column[i + 1]
    below = H[j + 1, j]
    hypot = math.hypot(column[j], below)
    if hypot == 0.0 or not math.isfinite(hypot):
        return False
    cs[j], sn[j] = column[j] / hypot, below / hypot
    R[:j, j] = column[:j]
    R[j, j] = hypot
    g[j + 1] = -sn[j] * g[j]
    g[j] *= cs[j]
    return True


def _lagged_pass(sums, V, H, j, w):
    """Step j of a cycle whose previous step's projection cancelled (its ‖w‖² fell by more than
    REORTHOGONALISE_BELOW): V_j = q came from that first pass alone, and w = E q. One copy to the
    host brings both a = V_{<j}ᵀ q, ‖q‖² (the second pass of q) and b = [V_{<j}, q]ᵀ w, ‖w‖² (step
    j's own products). Then, with q' = (q − V a)/σ, σ² = ‖q‖² − a·a:

    - column j − 1 of H becomes h + ρ a, its subdiagonal ρ σ (ρ: that of the first pass), since
      E V_{j−1} = V_{<j} h + ρ q and q = V a + σ q';
    - E q' = (w − V_{<j} z − e q')/σ with z = H_{<j,<j} a, e = a_{j−1} ρ σ (Arnoldi relation), so
      its projections and norm follow from a, b and ‖w‖² without another sum.

    V_j becomes q' and w the projected E q', in place; returns (⟨V_{≤j}, E q'⟩, ‖E q'‖²), or None
    when q is itself in the span of V_{<j} to working accuracy (σ² ≤ REORTHOGONALISE_BELOW‖q‖²).
    The correction is of the size of the lost orthogonality (a of order u‖w‖/‖w − V h‖, about
    1e-13 for a pass that cancelled 6 digits of ‖w‖²), so E q' differs from w in those digits only. After Świrydowicz, Langou,
    Ananthan, Yang & Thomas (2021), "delayed" classical Gram–Schmidt with re-orthogonalisation,
    here taken only after a step that cancelled."""
    xp = sums.backend.xp
    totals = sums.combine(sums.backend.to_host(xp.concatenate(
        (sums.local_dots(V[:j], V[j], with_norm=True), sums.local_dots(V[:j + 1], w, with_norm=True)))))
    a, qq, b, ww = totals[:j], totals[j], totals[j + 1:2 * j + 2], totals[2 * j + 2]
    sigma2 = qq - a @ a
    if not sigma2 > REORTHOGONALISE_BELOW * qq:
        return None
    sigma = math.sqrt(sigma2)
    rho = H[j, j - 1]
    H[:j, j - 1] += rho * a
    H[j, j - 1] = rho * sigma
    z = H[:j, :j] @ a
    e = a[j - 1] * H[j, j - 1]
    qw = (b[j] - a @ b[:j]) / sigma                                     # ⟨q', w⟩
    h = np.append((b[:j] - z) / sigma, (qw - e) / sigma)
    norm2 = (ww - 2.0 * (z @ b[:j]) - 2.0 * e * qw + z @ z + e * e) / sigma2
    sums.backend.subtract_combination(V[j], a, V)
    np.divide(V[j], sigma, out=V[j])
    np.divide(w, sigma, out=w)
    sums.backend.subtract_combination(w, np.append(z / sigma + h[:j], e / sigma + h[j]), V)
    return h, norm2


def _back_substitute(R, g):
    """Solution of the upper-triangular system R y = g."""
    n = len(g)
    y = np.zeros(n)
    for i in range(n - 1, -1, -1):
        y[i] = (g[i] - R[i, i + 1:] @ y[i + 1:]) / R[i, i]
    return y
