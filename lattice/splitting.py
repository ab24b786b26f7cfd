"""Coupling of the stiff local update and the diffusion operator, second order in dt.

These are the split couplings, kept for comparison (`integrator.coupling: midpoint_source` or
`strang`); the default coupling is `implicit` (lattice/implicit.py: diffusion inside the
Rosenbrock stages; docs/models/numerics.md §2 and §5). Two couplings share one interface,
``step(t, u, dt) -> (u_new or None, dt_next)``:

* ``MidpointSourceCoupling`` (`midpoint_source`): the local equations are integrated over the
  whole step with the diffusion entering as a constant source, evaluated at a predicted
  mid-step state. No operator is ever applied on its own, so the state is never kicked off
  the local slow manifold: the splitting error vanishes at a stiff local–diffusive balance.
* ``StrangSplitting`` (`strang`): local(dt/2) → diffusion(dt) → local(dt/2), the textbook method.

Why the midpoint source rather than Strang: before the resonance L sits at a balance between
diffusion of the active asymmetry and its local relaxation, while the transverse fields precess
much faster (at V0). Each Strang diffusion substep moves the diagonal fields at once, which
excites a transient precessing at V0: resolving it holds Strang at tiny steps, and letting
L-stable steps damp it instead costs accuracy. The midpoint source is second order with the
local stepper taking its own, unforced step sizes (the comparison is in
docs/results/homogeneous.md, "The split couplings").

Midpoint-source step from (t, u), with E_dt the RKL2 diffusion propagator over dt:
    S₀ = (E_dt u − u)/dt                               diffusion rate at the start
    u_p = Local(u; source S₀) over dt                  predictor (adaptive sub-steps)
    ũ  = ½(u + u_p) − ½ dt S₀                          local flow to mid-step, diffusion removed
    S  = (E_dt ũ − ũ)/dt                               diffusion rate at mid-step
    u⁺ = Local(u; source S) over dt                    corrector, on the predictor's sub-steps
For the linear problem u' = (A + B)u this gives u + dt(A+B)u + dt²/2 (A+B)²u + O(dt³):
second order. With no local terms it is exactly one RKL2 step (u⁺ = E_dt u), so stiff
diffusion modes are damped as RKL2 damps them. u⁺ − u_p = O(dt²) is a first-order error
estimate; it sets the next dt and rejects steps whose estimate exceeds the tolerance. Fields
the local system holds constant (P0⁻) are set to u + (E_dt ũ − ũ) exactly, so their sum over
the box is conserved as the conservative Laplacian conserves it. Diffusion coefficients
that vary with time are frozen at the step midpoint.
"""

from __future__ import annotations

from lattice.rkl2 import rkl2_step, stages_for


class _Diffusion:
    """RKL2 increments E_dt u − u with the coefficient frozen at t + dt/2; counts stages."""

    def __init__(self, tendency, explicit_limit):
        self.tendency, self.explicit_limit = tendency, explicit_limit
        self.stages_total = 0

    def advance(self, u, t, dt):
        """E_dt u: one RKL2 step over [t, t + dt]."""
        t_mid = t + 0.5 * dt
        stages = stages_for(dt, self.explicit_limit(t_mid))
        self.stages_total += stages
        return rkl2_step(u, lambda v: self.tendency(v, t_mid), dt, stages)


class _SplitCoupling:
    """What the split couplings share: the local stepper, the diffusion propagator and the
    counters a run reports (RKL2 stages in all, rejected steps)."""

    def __init__(self, local, diffusion, explicit_limit):
        self.local = local
        self._diffusion = _Diffusion(diffusion, explicit_limit)
        self.h_local = None
        self.rejected = 0

    @property
    def stages_total(self):
        """RKL2 stages taken so far (a checkpoint restores it)."""
        return self._diffusion.stages_total

    @stages_total.setter
    def stages_total(self, value):
        self._diffusion.stages_total = value


class StrangSplitting(_SplitCoupling):
    """Advance u (n_fields, *local) by local(dt/2) ∘ diffusion(dt) ∘ local(dt/2).

    Args:
        local: a Rodas4 stepper for the local equations.
        diffusion: callable (u, t) -> du/dt from diffusion alone.
        explicit_limit: callable t -> forward-Euler stable step of the diffusion [time units].
    """

    def step(self, t, u, dt):
        """One Strang step from t; returns (new state, next dt from the local control)."""
        h = self.h_local or dt / 2
        half = 0.5 * dt
        u, h = self.local.advance(t, u, t + half, min(h, half))
        u = self._diffusion.advance(u, t, dt)
        u, h = self.local.advance(t + half, u, t + dt, min(h, half))
        self.h_local = h
        return u, 2.0 * h


class MidpointSourceCoupling(_SplitCoupling):
    """Advance u by the midpoint-source coupling (module docstring); dt by its own control.

    Args:
        local: a Rodas4 stepper for the local equations (supports `source` and `replay`).
        diffusion: callable (u, t) -> du/dt from diffusion alone.
        explicit_limit: callable t -> forward-Euler stable step of the diffusion [time units].
        error_norm: callable (err, u, u_new) -> weighted error on this rank (≤ 1 acceptable).
        reduce_max: combines the norm across ranks.
        safety, fac_min, fac_max: step-size controller factors [dimensionless].
    """

    ERROR_ORDER = 2.0  # the estimate u⁺ − u_p is O(dt²)
    REPLAY_TOLERANCE = 2.0
    """Largest local error norm accepted on the corrector's replayed sub-steps: they were
    accepted (norm ≤ 1) for the predictor's forcing, which differs from the corrector's by
    O(dt); rejecting the whole step for a norm just above 1 wasted a quarter of the work."""

    def __init__(self, local, diffusion, explicit_limit, error_norm, reduce_max=None,
                 safety=0.8, fac_min=0.2, fac_max=2.0):
        super().__init__(local, diffusion, explicit_limit)
        self.error_norm = error_norm
        self.reduce_max = reduce_max or (lambda x: x)
        self.safety, self.fac_min, self.fac_max = safety, fac_min, fac_max
        self.constant_fields = list(local.constant_fields)

    def step(self, t, u, dt):
        """One step from t; returns (new state or None if rejected, proposed next dt)."""
        increment = self._diffusion.advance(u, t, dt) - u
        steps = []
        h0 = min(self.h_local or dt, dt)
        u_p, h = self.local.advance(t, u, t + dt, h0, source=increment / dt, record=steps)
        u_mid = 0.5 * (u + u_p - increment)
        increment = self._diffusion.advance(u_mid, t, dt) - u_mid
        u_new, local_err = self.local.replay(t, u, steps, source=increment / dt)
        for i in self.constant_fields:
            u_new[i] = u[i] + increment[i]
        err = float(self.reduce_max(self.error_norm(u_new - u_p, u, u_new)))
        factor = self.safety * max(err, 1e-12) ** (-1.0 / self.ERROR_ORDER)
        if not err <= 1.0 or not local_err <= self.REPLAY_TOLERANCE:
            self.rejected += 1
            return None, dt * max(self.fac_min, min(0.5, factor))
        self.h_local = h
        return u_new, dt * min(self.fac_max, max(self.fac_min, factor))
