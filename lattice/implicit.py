"""The lattice as one stiff system: local equations and diffusion in the same implicit stages.

Before the resonance L sits at a balance between the diffusion of the active asymmetry and its
local relaxation, both far faster than the expansion, at every domain wall. A scheme that
advances the two apart (Strang, or a source held fixed over the step) makes an error of order
dt² × (diffusion rate) × (local rate) there and is held at dt·H ~ 1e-7. Treating them together,
the Rosenbrock stages solve

    (σ − J_local − K ∇²) x = r,   σ = 1/(γ h),

with the exact Jacobian of f = f_local(y) + K(t) ∇²y; the step is then set by accuracy alone,
as for a single site. K is the model's constant-in-space diffusion matrix (fields × fields).

The stage systems couple all sites. They are solved by GMRES (lattice/krylov.py) preconditioned
by the per-site blocks σ − J_local + K Σ_axes 2/dx² (the local physics exactly, the diffusion's
own-cell part), in variables scaled by the error allowance of every field and site: "converged"
means the true residual, measured in allowances, is below krylov_tolerance (a fraction of the
local-error tolerance). The error itself is bounded only through the conditioning, by
‖Ã⁻¹‖ times that residual (tests/lattice/test_implicit.py checks both). With steps
small compared with the diffusion time of a cell, a single iteration suffices; at large steps
the iterations grow like the square root of γh × (grid diffusion rate). On a 1D lattice the
stage matrix is block tridiagonal and `stage_solver="direct"` solves it exactly instead
(lattice/line_solver.py): no iterations, whatever the step.

Fields the local system leaves constant (`locally_constant`, e.g. P0⁻) are moved only by the
flux-form Laplacian, which conserves their sum over a periodic or zero-flux box, and so does
every exact stage solution. After each step their totals are reset to the old ones by a uniform
shift of the order of the solve tolerance (`conserve`), so the conservation does not rest on
the Krylov tolerance.
"""

from __future__ import annotations

import numpy as np

from kernels.backend import NUMPY, backend_for
from lattice.krylov import KrylovStats, PendingChecks, SolveFailed, gmres
from lattice.line_solver import DirectLineSolver
from lattice.model import Equations
from lattice.reductions import ReproducibleSums
from lattice.stages import FusedStages
from lattice.workspace import Workspace


class ImplicitLattice(Equations):
    """f, jac and ∂f/∂t of the local equations plus diffusion on a decomposed lattice.

    Args:
        local: the per-site system (f, jac, dfdt, temperature, cosmology; field-major states).
        diffusion: gives `tendency(lap, T)` = K(T)·lap, `matrix(T)` = K(T) and
            `temperature_exponent` n with K ∝ T^n [MeV^-1].
        lattice: the decomposed lattice (`laplacian`, `spacing`, `n_cells`, `comm`).
        weights: function y -> error allowance per field and site (scales the linear solves).
        tolerance: GMRES stops when the scaled residual norm is ≤ tolerance·σ, i.e. when the
            solve error is about `tolerance` error allowances or less [dimensionless].
        restart, max_iterations: GMRES basis size and iteration limit per solve; a solve that
            does not converge raises lattice.krylov.SolveFailed, and the stepper rejects the
            step (without its later stages) and shrinks h.
        stage_solver: "gmres", or "direct" for the exact line solve of a 1D NumPy lattice.
    """

    def __init__(self, local, diffusion, lattice, weights, tolerance=1e-3, restart=10,
                 max_iterations=400, stage_solver="gmres"):
        self.local, self.diffusion, self.lattice = local, diffusion, lattice
        self.weights = weights
        self.tolerance, self.restart, self.max_iterations = tolerance, restart, max_iterations
        self.n_fields = local.n_fields
        self.locally_constant = ()   # diffusion moves every field
        self.conserved = tuple(local.locally_constant)
        self.xp = lattice.xp        # numpy, or cupy: every array of the step lives there
        self.backend = backend = backend_for(lattice.xp)   # its operations, chosen once
        self.sums = ReproducibleSums(lattice.comm, local.n_fields * lattice.n_cells, backend)
        self.cell_sums = ReproducibleSums(lattice.comm, lattice.n_cells, backend)
        self.stats = KrylovStats()
        self.pending = PendingChecks(self.stats)
        self.defer_checks = True
        """Stage solves return on their estimate and their true-residual checks travel with the
        next copy to the host (lattice.krylov.PendingChecks); Rodas4 turns this off to redo an
        attempt in which one failed."""
        self.work = Workspace(backend)   # the stage operator's and GMRES's temporaries, reused
        self.direct = None
        if stage_solver == "direct":
            if backend is not NUMPY:
                raise ValueError("integrator.stage_solver = 'direct' runs on NumPy arrays only; "
                                 "use 'gmres' on a GPU")
            self.direct = DirectLineSolver(lattice, local.n_fields)
        self.fused_cell = local.fused_cell(diffusion) if backend.explicit_stage is not None else None
        """The model's lattice.model.FusedCell where the backend fuses explicit stages (a device),
        else None."""

    @property
    def own_cell(self):
        """−(diagonal of ∇²) = Σ_axes 2/dx² [MeV²] (the spacing changes when the grid doubles)."""
        return sum(2.0 / dx ** 2 for dx in self.lattice.spacing)

    def diffusion_tendency(self, y, T):
        """K(T) ∇²y: the diffusion terms of f [state/MeV^-1], in a work buffer that the next
        evaluation (or stage solve) overwrites."""
        work, shape = self.work, y.shape     # the stage operator's buffers (free outside a stage solve)
        lap = self.lattice.laplacian(y, out=work.get("laplacian", shape))
        return self.diffusion.tendency(lap, T, out=work.get("M⁻¹ v", shape))

    def f(self, t, y):
        """dy/dt = f_local + K ∇²y [state/MeV^-1]; on a device for a model with a FusedCell, one
        kernel (lattice.stages.FusedStages.f: the same bits as the array calls)."""
        if self.fused_cell is not None:
            return FusedStages(self, self.fused_cell).f(t, y)
        out = self.local.f(t, y)
        out += self.diffusion_tendency(y, self.local.temperature(t))
        return out

    def fused_stages(self):
        """lattice.stages.FusedStages for one explicit attempt (f, the Laplacian and the stage
        combination in one kernel per stage, bitwise what f then combine give) on a device for a
        model with a FusedCell; None otherwise."""
        return FusedStages(self, self.fused_cell) if self.fused_cell is not None else None

    def dfdt(self, t, y):
        """∂f/∂t at fixed y: the local rates' drift plus dK/dt ∇²y = −n H K ∇²y."""
        T = self.local.temperature(t)
        rate = -self.diffusion.temperature_exponent * self.local.cosmology.hubble(T)
        out = self.local.dfdt(t, y)
        out += rate * self.diffusion_tendency(y, T)
        return out

    def conserve(self, y, y_new):
        """y_new with the totals of the `conserved` fields reset to those of y (a uniform shift).

        The exact stage solutions keep these totals (the local terms vanish and the flux-form
        Laplacian sums to zero); the shift removes the GMRES error in them, which is of the order
        of the solve tolerance, so the totals are conserved to round-off.
        """
        if self.conserved:
            self._shift(y_new, self.cell_sums.row_sums(self._conserved_rows(y, y_new)))
        return y_new

    def conserve_and_measure(self, y, y_new, err, error_norm):
        """As Equations.conserve_and_measure, in one device→host copy that also brings the last
        stage solve's deferred residual check (raising lattice.krylov.DeferredCheckFailed if it
        failed): this rank's error norm travels with the bins of the conserved totals. The norm is
        measured on y_new before the conservation shift, which is of the order of the solve
        tolerance (a thousandth of an error allowance), far below what the norm resolves. A norm
        without `local` (a 0-d array where the state is) is measured after the shift, in a second
        copy."""
        xp, local = self.xp, getattr(error_norm, "local", None)
        checks = self.pending.local()
        parts = [bins.reshape(-1) for bins in checks]
        totals = self.cell_sums.local(self._conserved_rows(y, y_new)) if self.conserved else None
        if totals is not None:
            parts.append(totals.reshape(-1))
        norm = self._local_norm(error_norm, err, y, y_new) if local is not None else None
        if norm is not None:
            parts.append(xp.reshape(norm, (1,)))
        host = self.backend.to_host(xp.concatenate(parts)) if parts else np.empty(0)
        if checks:
            width = checks[0].shape[1]
            self.pending.verify(self.sums.combine(host[:len(checks) * width].reshape(len(checks), width)))
            host = host[len(checks) * width:]
        if totals is not None:
            self._shift(y_new, self.cell_sums.combine(host[:totals.size].reshape(totals.shape)))
            host = host[totals.size:]
        if norm is None:
            return y_new, error_norm(err, y, y_new)
        return y_new, float(host[0])

    def _local_norm(self, norm, err, y, y_new):
        """The norm's `local` of the error estimate err (a 0-d array where the state is): on a
        device for a model whose FusedCell computes it, one kernel and one reduction
        (lattice.stages.FusedStages.measure), the same bits."""
        if self.fused_cell is not None:
            return FusedStages(self, self.fused_cell).measure(norm, err, y, y_new)
        return norm.local(err, y, y_new)

    def _conserved_rows(self, y, y_new):
        """The conserved fields of y, then those of y_new, as rows (2m, cells)."""
        idx = list(self.conserved)
        return self.xp.concatenate((y[idx], y_new[idx])).reshape(2 * len(idx), -1)

    def _shift(self, y_new, totals):
        """Shift the conserved fields of y_new uniformly from their totals (the second half of
        `totals`) to those of y (the first half)."""
        idx = list(self.conserved)
        shift = (totals[:len(idx)] - totals[len(idx):]) / self.lattice.n_cells
        y_new[idx] += self.backend.asarray(shift.reshape((-1,) + (1,) * (y_new.ndim - 1)))

    def local_jacobian(self, t, y):
        """J_local(t, y) [MeV]: the model's JacobianTerms where it has them (a GPU then keeps a few
        scalars per site), else its per-site blocks; what the backends' per-site Jacobian
        operations take."""
        terms = self.local.jac_terms(t, y)
        return terms if terms is not None else self.local.jac(t, y)

    def jac(self, t, y):
        """The coupled Jacobian J_local + K ∇², as an object the Rosenbrock stages factorise."""
        K = self.diffusion.matrix(self.local.temperature(t))
        if self.direct is not None:
            return CoupledJacobian(self, t, y, K, None, blocks=self.local.jac(t, y))
        return CoupledJacobian(self, t, y, K, self.weights(y))   # only GMRES scales by the allowances


class CoupledJacobian:
    """J = blocks + K ∇² at one (t, y); `factorise(σ)` returns the stage solver (GMRES, which
    scales by the error allowances `weights`, or the direct line solve, which gets None).

    For GMRES the per-site blocks J_local(t, y) are not kept: `factorise` evaluates them (as the
    model's JacobianTerms where it has them), turns them into the stage preconditioner and lets
    them go (an n×n block per site is n state vectors of device memory); a rejected step's
    retry, with a new σ, evaluates them again. On a GPU, JacobianTerms are all the
    preconditioner keeps (k scalars per site): each application forms the sites' M⁻¹ anew.
    y must not change while this object is in use (Rodas4 keeps it for one step's attempts).
    """

    def __init__(self, system, t, y, K, weights, blocks=None):
        self.system, self.t, self.y, self.K, self.w, self.blocks = system, t, y, K, weights, blocks

    def factorise(self, sigma):
        """A function r -> x solving (σ − J) x = r (NaN everywhere if GMRES fails).

        GMRES runs on x̃ = x / w (w: error allowance per field and site) with the per-site
        preconditioner M̃⁻¹ = W⁻¹ M⁻¹ W, M = σ − J_local + own_cell·K, stored field-major (the
        backend's `stage_preconditioner`). The Jacobian itself is not kept: the scaled stage
        matrix is Ã = M̃ − D̃ with D̃ = W⁻¹ K (∇² + own_cell) W, the neighbour coupling, so the
        preconditioned operator is Ã M̃⁻¹ = I − D̃ M̃⁻¹, and GMRES needs only M̃⁻¹ and the
        diffusion (`apply_E`: one block product, one Laplacian, one fused pass of the backend's
        `stage_diffusion`). Its residuals are those of this operator: the rounding of the stored
        inverse (about ε·cond(M) of the solution) is not seen by them, the same class of error
        as the direct line solve's. The operators write into reused buffers (see gmres).
        """
        s = self.system
        if s.direct is not None:
            return s.direct.factorise(self.blocks, self.K, sigma)
        w, shape, work, ops = self.w, self.w.shape, s.work, s.backend
        M_inv = ops.stage_preconditioner(s.local_jacobian(self.t, self.y), self.K, s.own_cell, sigma, w)
        s.pending.clear()                     # a new attempt: nothing of an abandoned one is pending
        own_cell = s.own_cell

        def apply_M_inv(v):
            return ops.apply_stage_preconditioner(M_inv, v.reshape(shape), out=work.get("M⁻¹ v", shape)).reshape(-1)

        def apply_E(v, out):      # Ã M̃⁻¹ v − v = −D̃ M̃⁻¹ v
            x = apply_M_inv(v).reshape(shape)
            lap = s.lattice.laplacian(x, out=work.get("laplacian", shape), scale=w)
            return ops.stage_diffusion(x, w, lap, self.K, own_cell, out.reshape(shape)).reshape(-1)

        def solve(r):             # r is scaled in place: it is GMRES's right-hand side
            r /= w
            x, converged = gmres(apply_E, apply_M_inv, r.reshape(-1), s.sums, s.tolerance * sigma,
                                 s.restart, s.max_iterations, s.stats, workspace=work,
                                 pending=s.pending if s.defer_checks else None)
            if not converged:
                raise SolveFailed(f"a stage solve did not converge in {s.max_iterations} GMRES iterations")
            return x.reshape(shape) * w

        return solve
