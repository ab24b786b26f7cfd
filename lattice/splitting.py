"""Strang splitting of a stiff local update and a diffusion operator, second order in dt.

One step of size dt: local(dt/2) → diffusion(dt) → local(dt/2). The local part is integrated
to its own tolerance by the adaptive Rodas4 stepper (sub-steps as needed, collectively across
ranks); the diffusion part by RKL2 with the stage count set by the explicit stability limit,
so dt is bounded by accuracy, not by diffusion stability. Diffusion coefficients that vary
with time are frozen at the step midpoint (second order).
"""

from __future__ import annotations

from lattice.rkl2 import rkl2_step, stages_for


class StrangSplitting:
    """Advance u (n_fields, *local) by local ∘ diffusion ∘ local.

    Args:
        local: a Rodas4 stepper for the local equations.
        diffusion: callable (u, t) -> du/dt from diffusion alone.
        explicit_limit: callable t -> forward-Euler stable step of the diffusion [time units].
    """

    def __init__(self, local, diffusion, explicit_limit):
        self.local = local
        self.diffusion = diffusion
        self.explicit_limit = explicit_limit
        self.h_local = None
        self.stages_total = 0

    def step(self, t, u, dt):
        """One Strang step from t; returns the new state."""
        h = self.h_local or dt / 2
        half = 0.5 * dt
        u, h = self.local.advance(t, u, t + half, min(h, half))
        t_mid = t + half
        stages = stages_for(dt, self.explicit_limit(t_mid))
        self.stages_total += stages
        u = rkl2_step(u, lambda v: self.diffusion(v, t_mid), dt, stages)
        u, h = self.local.advance(t_mid, u, t + dt, min(h, half))
        self.h_local = h
        return u

    def proposed_dt(self):
        """The next outer step the local accuracy control allows (2 × its sub-step)."""
        return None if self.h_local is None else 2.0 * self.h_local
