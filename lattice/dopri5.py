"""The explicit Dormand–Prince 5(4) step on arrays of any backend: `integrator.method: dopri5` on
a lattice solved with GMRES stages (any dimension, NumPy or CuPy).

The compiled single-site and 1D line loops have their own DOPRI5 branch with the automatic
switch (lattice.explicit_rk). This stepper is explicit throughout: every stage evaluates the
whole right-hand side, the local equations plus diffusion (lattice.implicit.ImplicitLattice.f),
and combines the stages element by element in a fixed order, so a step is bitwise the same on
the CPU and the GPU and for any rank count. A step costs six evaluations (the last stage is the
next step's first) and one device→host sync, the error norm's global maximum. The step is set
by accuracy at rtol × integrator.explicit_rtol_factor, and by stability where the problem is
stiff (then the controller's rejections hold it near the stability limit: use Rodas4 there).
Conserved totals are not corrected (see Dopri5.conserve): they move by round-off only.
"""

from __future__ import annotations

from lattice.explicit_rk import DP_A, DP_C, DP_E
from lattice.rosenbrock import Rodas4

STAGES = 7


class Dopri5(Rodas4):
    """DOPRI5 with the step control and bookkeeping of lattice.rosenbrock.Rodas4 (advance,
    counters, restart state); the Jacobian is never formed.

    Args: as Rodas4 (system: a lattice.model.Equations, here the coupled lattice; error_norm at
    the explicit branch's tolerance).
    """

    error_order = 5.0
    """Controller exponent −1/5 (the embedded solution's order 4, plus 1)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.conserve = None
        """No correction of conserved totals: Rodas4's removes the GMRES error in them, and an
        explicit step has none (the local terms of those fields vanish and the flux-form
        Laplacian sums to zero), so the totals move by round-off only. That leaves the error
        norm's maximum as the step's one device→host sync."""
        self._known = []   # [(t, y, f(t, y))]: this step's start and the last step's end (FSAL)
        self.h_lambda = float("nan")
        """Hairer's h|λ| of the last attempt made with `stiffness` (lattice.switching)."""

    def split_stats(self):
        """Statistics per branch: every step is DOPRI5."""
        return {"dopri5_accepted": self.n_accepted, "dopri5_rejected": self.n_rejected, "switches": 0}

    def advance(self, t, y, t_end, h, source=None, record=None, interrupt=None):
        """As Rodas4.advance; the stage values of earlier calls are not reused (the caller may
        change y in place between calls)."""
        self._known = []
        return super().advance(t, y, t_end, h, source, record, interrupt)

    def _f_at(self, t, y):
        """f(t, y), reused when (t, y) is a known start or the end of the previous attempt."""
        for known_t, known_y, value in self._known:
            if known_t == t and known_y is y:
                return value
        return self.system.f(t, y)

    def attempt(self, t, y, h, source=None, stiffness=False):
        """One DOPRI5 step of size h from (t, y); returns (y_new, error norm). `source` must be
        None (the explicit stepper does not serve a split coupling).

        With `stiffness`, also Hairer's estimate h|λ| ≈ h‖k₆ − k₅‖/‖y_new − y₅‖ from the two
        stages at t + h (k₅ at the argument y₅ of stage 5), into `h_lambda` (NaN where y_new = y₅):
        its two sums come to the host in the error norm's copy.
        """
        if source is not None:
            raise ValueError("Dopri5 takes no source term")
        k = [self._f_at(t, y)]
        stage5 = None
        for s in range(1, STAGES - 1):
            argument = self._combination(y, h, DP_A[s], k)
            if s == STAGES - 2 and stiffness:
                stage5 = argument
            k.append(self.system.f(t + DP_C[s] * h, argument))
        y_new = self._combination(y, h, DP_A[STAGES - 1], k)
        k.append(self.system.f(t + h, y_new))
        error = self._combination(None, h, DP_E, k)
        local = getattr(self.error_norm, "local", None) if stiffness else None
        if stiffness:
            sums, xp = self.system.sums, self.backend.xp
            dk, dy = (k[-1] - k[-2]).reshape(-1), (y_new - stage5).reshape(-1)
            both = xp.concatenate((sums.local_dots(dk[None], dk), sums.local_dots(dy[None], dy)))
            parts = [both.reshape(-1)] + ([xp.reshape(local(error, y, y_new), (1,))] if local else [])
            host = self.backend.to_host(xp.concatenate(parts))
            num, den = sums.combine(host[:both.size].reshape(both.shape))
            self.h_lambda = h * (num / den) ** 0.5 if den > 0.0 else float("nan")
        if local is not None:
            norm = float(self.reduce_max(float(host[-1])))
        else:
            norm = float(self.reduce_max(self.error_norm(error, y, y_new)))
        self._known = [(t, y, k[0]), (t + h, y_new, k[-1])]
        return y_new, norm

    def _combination(self, y, h, weights, k):
        """y + (h w_0) k_0 + (h w_1) k_1 + … (terms with w_j = 0 skipped), element by element in
        that order (the backend's `combine`); without y, the sum alone."""
        return self.backend.combine(k, [h * float(w) if w != 0.0 else 0.0 for w in weights], base=y)
