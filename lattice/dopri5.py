"""The explicit Dormand–Prince 5(4) step on arrays of any backend: `integrator.method: dopri5` on
a lattice solved with GMRES stages (any dimension, NumPy or CuPy).

The compiled single-site and 1D line loops have their own DOPRI5 branch with the automatic
switch (lattice.explicit_rk). This stepper is explicit throughout: every stage evaluates the
whole right-hand side, the local equations plus diffusion (lattice.implicit.ImplicitLattice.f),
and combines the stages element by element in a fixed order, so a step is bitwise the same on
the CPU and the GPU and for any rank count. On a device, for a model with a FusedCell, each
stage is one kernel (f at every cell, the Laplacian and the next combination: lattice.stages),
and the last one measures the error estimate at every cell where the model has a cell error
function (one reduction then gives the norm). A step costs six evaluations (the last stage is
the next step's first) and one device→host sync, the error norm's global maximum. The step is
set by accuracy at rtol × integrator.explicit_rtol_factor, and by stability where the problem
is stiff (then the controller's rejections hold it near the stability limit: use Rodas4 there).
Conserved totals are not corrected (see Dopri5.conserve): they move by round-off only.
"""

from __future__ import annotations

from lattice.explicit_rk import DP_A, DP_C, DP_E
from lattice.rosenbrock import Rodas4
from lattice.stages import PlainStages

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

    def _known_value(self, t, y):
        """f(t, y) when (t, y) is a known start or the end of the previous attempt, else None."""
        for known_t, known_y, value in self._known:
            if known_t == t and known_y is y:
                return value
        return None

    def attempt(self, t, y, h, source=None, stiffness=False):
        """One DOPRI5 step of size h from (t, y); returns (y_new, error norm). `source` must be
        None (the explicit stepper does not serve a split coupling).

        The stages run through the system's fused stages where it has them (a device: one kernel
        per stage, lattice.stages.FusedStages), else f then combine (lattice.stages.PlainStages):
        the same numbers. Stage s evaluates k_s and forms the next argument (after k₅: y_new;
        after k₆: the error estimate, of which only this rank's norm is returned: on a device a
        0-d array, which comes to the host in the attempt's one copy).

        With `stiffness`, also Hairer's estimate h|λ| ≈ h‖k₆ − k₅‖/‖y_new − y₅‖ from the two
        stages at t + h (k₅ at the argument y₅ of stage 5), into `h_lambda` (NaN where y_new = y₅):
        its two sums come to the host in the error norm's copy.
        """
        if source is not None:
            raise ValueError("Dopri5 takes no source term")
        stages = self.system.fused_stages() or PlainStages(self.system, self.backend)
        k, argument, stage5, y_new = [], y, None, None
        for s in range(STAGES):
            last = s == STAGES - 1
            kept = s == STAGES - 2 or (stiffness and s == STAGES - 3)    # y_new; y₅ for the test
            t_s = t if s == 0 else t + h if last else t + DP_C[s] * h
            value, argument = stages.evaluate(
                t_s, argument, k, self._weights(h, DP_E if last else DP_A[s + 1]), base=None if last else y,
                known=self._known_value(t, y) if s == 0 else None,
                output="norm" if last else "both" if kept else "argument", norm=self.error_norm, start=y)
            k.append(value)
            if s == STAGES - 3:
                stage5 = argument
            elif s == STAGES - 2:
                y_new = argument
        measured = argument         # this rank's norm: a host float, or a 0-d array where the state is
        if stiffness:
            sums, xp = self.system.sums, self.backend.xp
            on_host = isinstance(measured, float)
            dk, dy = (k[-1] - k[-2]).reshape(-1), (y_new - stage5).reshape(-1)
            both = xp.concatenate((sums.local_dots(dk[None], dk), sums.local_dots(dy[None], dy)))
            parts = [both.reshape(-1)] + ([] if on_host else [xp.reshape(measured, (1,))])
            host = self.backend.to_host(xp.concatenate(parts))
            num, den = sums.combine(host[:both.size].reshape(both.shape))
            self.h_lambda = h * (num / den) ** 0.5 if den > 0.0 else float("nan")
            if not on_host:
                measured = host[-1]
        norm = float(self.reduce_max(float(measured)))
        self._known = [(t, y, k[0]), (t + h, y_new, k[-1])]
        return y_new, norm

    @staticmethod
    def _weights(h, weights):
        """The stage weights h·w_j on the host (0.0 where w_j = 0: the term is skipped)."""
        return [h * float(w) if w != 0.0 else 0.0 for w in weights]
