"""Rodas4 and DOPRI5 with automatic switching on any decomposed lattice and any backend.

`integrator.method: auto` with GMRES stages (`stage_solver: gmres`, the implicit coupling): the
same rules as the compiled single-site and line loops (lattice.explicit_rk: the margins, the
calm and stiff counts, the probes and the cost guard, the switching state), here around the
array steppers: Rodas4 on the coupled lattice (lattice.rosenbrock, lattice.implicit) and DOPRI5
(lattice.dopri5). Any dimension, NumPy or CuPy, any rank count: every decision rests on exact
maxima and reproducible sums, so a run is bitwise the same for all of them, and a restart
continues with exactly the steps of an uninterrupted run (the switching state is checkpointed).

**ρ(J)** for the Rodas4 → DOPRI5 test (every RADIUS_EVERY accepted Rodas4 steps) and for the
reported h·ρ: POWER_ITERATIONS products of the coupled Jacobian J_local + K∇² from a fixed start
vector (the line's pattern, alternating in sign with the global cell parity), scaled by a host
number instead of normalised after each product, so that the estimate costs two copies to the
host, not sixteen: the norm after the first quarter of the products sets the scale of the rest
(about 1/ρ per product), and the norms after the half and after the last give ρ as the mean
growth over the second half, as the line's power iteration measures it. A product that
overflows reads ρ = ∞ (stay implicit), one that vanishes ρ = 0.

**Hairer's stiffness test** on DOPRI5 steps: its two sums travel in the error norm's copy
(Dopri5.attempt `stiffness`).
"""

from __future__ import annotations

import math

import numpy as np

from lattice.compiled_rodas import control
from lattice.explicit_rk import (COST_RATIO, DP_EXPONENT, EXPLICIT_MARGIN, POWER_ITERATIONS,
                                 PROBE_STEPS, RODAS4, SwitchingCounters, check_stiffness, count_dopri,
                                 count_rodas, count_stiffness, estimate_radius, switch)
from lattice.rosenbrock import ERROR_ORDER, IntegrationError


class SwitchingLattice(SwitchingCounters):
    """The automatic switch between Rodas4 and DOPRI5 on a lattice coupled implicitly with GMRES
    stages, with the interface of Rodas4 that a lattice run uses (advance, n_accepted, n_rejected,
    t_reached, on_accept) and the switching state of lattice.explicit_rk.SwitchingCounters
    (branch, counters, h·ρ, checkpoint_state, restore_state).

    Args:
        implicit: Rodas4 on the coupled lattice (its `system`, a lattice.implicit.ImplicitLattice,
            gives f, the local Jacobian, the diffusion, the lattice and the reproducible sums).
        explicit: Dopri5 on the same system, with the explicit branch's error norm.
        method: "auto" (switch), "rodas4" or "dopri5" (one branch throughout).
        probe_steps: explicit steps in a row before a probe of Rodas4 (default PROBE_STEPS).
        safety, fac_min, fac_max, h_min_rel: as Rodas4.
        max_attempts: attempts per call before IntegrationError.
    """

    def __init__(self, implicit, explicit, method="auto", probe_steps=None, safety=0.9, fac_min=0.2,
                 fac_max=6.0, h_min_rel=1e-14, max_attempts=2**62):
        self.implicit, self.explicit = implicit, explicit
        self.system = implicit.system
        self.auto = method == "auto"
        self.probe_steps = PROBE_STEPS if probe_steps is None else int(probe_steps)
        self.safety, self.fac_min, self.fac_max, self.h_min_rel = safety, fac_min, fac_max, h_min_rel
        self.max_attempts = max_attempts
        self.start_switching(method)
        self.on_accept = None
        """Optional callable(t, h) after every accepted step (progress reports)."""
        self.t_reached = None
        self._start = None

    def advance(self, t, y, t_end, h, source=None, record=None, interrupt=None):
        """Integrate from t to t_end; returns (y, h_next). `interrupt()` is asked after every
        accepted step short of t_end; True returns early at `t_reached`, and continuing takes
        exactly the steps an uninterrupted call takes."""
        if source is not None or record is not None:
            raise NotImplementedError("the switching lattice stepper takes neither a source nor a record")
        self.implicit._at, self.explicit._known = None, []    # y may have changed between calls
        fresh, rho, reject_streak, h_last, attempts = True, 0.0, 0, float("nan"), 0
        while t < t_end:
            h_min = self.h_min_rel * abs(t)
            if h < h_min:
                raise IntegrationError(f"step size {h:.3e} fell below {h_min:.3e} at t = {t:.6e}")
            if attempts >= self.max_attempts:
                raise IntegrationError(f"{attempts} step attempts made before reaching t = {t_end:.6e} "
                                       f"(at t = {t:.6e})")
            attempts += 1
            clipped = t + h >= t_end
            h_try = t_end - t if clipped else h
            if self.state[0] == RODAS4:
                if fresh:
                    if estimate_radius(self.auto, self.counts):
                        rho = self.radius(t, y)
                    fresh = False
                y_new, err = self.implicit.attempt(t, y, h_try)
                ok, h_next = control(err, h_try, h, clipped, reject_streak, self.safety, self.fac_min,
                                     self.fac_max, -1.0 / ERROR_ORDER)
                count_rodas(ok, self.auto, self.state, self.counts, self.memory, h_next, h_try, rho,
                            EXPLICIT_MARGIN, COST_RATIO)
            else:
                check = check_stiffness(self.auto, self.state, self.counts)
                y_new, err = self.explicit.attempt(t, y, h_try, stiffness=check)
                ok, h_next = control(err, h_try, h, clipped, reject_streak, self.safety, self.fac_min,
                                     self.fac_max, DP_EXPONENT)
                count_dopri(ok, self.state, self.counts)
                if ok and check and self.explicit.h_lambda == self.explicit.h_lambda:
                    count_stiffness(self.explicit.h_lambda, self.state)
            h = h_next
            if not ok:
                reject_streak += 1
                continue
            h_last, reject_streak = h_try, 0
            t = t_end if clipped else t + h_try
            y = y_new
            fresh = True
            if switch(self.auto, self.state, self.counts, self.memory, t, self.probe_steps):
                self.implicit._at, self.explicit._known = None, []
                if self.state[0] != RODAS4:
                    self.system.work.release()    # the Krylov basis is not needed by DOPRI5
            if self.on_accept:
                self.on_accept(t, h_try)
            if interrupt is not None and t < t_end and interrupt():
                break
        if h_last == h_last:
            self.h_rho = h_last * self.radius(t, y)
        self.t_reached = t
        return y, h

    def radius(self, t, y):
        """Estimate of the spectral radius ρ of the coupled Jacobian at (t, y) [1/time]: see the
        module docstring. Two copies to the host; bitwise the same on every backend and rank count."""
        s = self.system
        backend, sums = s.backend, s.sums
        T = s.local.temperature(t)
        jacobian = backend.site_jacobian(s.local_jacobian(t, y))
        xp = backend.xp

        def product(u, scale):
            out = backend.apply_site_jacobian(jacobian, u)
            out += s.diffusion.tendency(s.lattice.laplacian(u), T)
            out *= scale
            return out

        def norm2(*vectors):
            local = xp.concatenate([sums.local_dots(v.reshape(1, -1), v.reshape(-1)) for v in vectors])
            return sums.combine(backend.to_host(local))

        u = self._start_vector(y)
        quarter, half = POWER_ITERATIONS // 4, POWER_ITERATIONS // 2
        for _ in range(quarter):
            u = product(u, 1.0)
        start2, first2 = norm2(self._start_vector(y), u)
        if not first2 > 0.0:
            return 0.0
        if not math.isfinite(first2):
            return math.inf
        scale = (start2 / first2) ** (0.5 / quarter)       # about 1/ρ per product
        for _ in range(half - quarter):
            u = product(u, scale)
        middle = u
        for _ in range(POWER_ITERATIONS - half):
            u = product(u, scale)
        middle2, last2 = norm2(middle, u)
        if not middle2 > 0.0:
            return 0.0
        growth = (last2 / middle2) ** (0.5 / (POWER_ITERATIONS - half))
        return growth / scale if math.isfinite(growth) else math.inf

    def _start_vector(self, y):
        """The fixed start vector of the ρ estimate on this rank's cells: (1 + q/(4n)) for field q,
        times 1 on cells of even global index sum and −1/2 on odd ones (the line's pattern)."""
        if self._start is None or self._start.shape != y.shape:
            lattice = self.system.lattice
            n = y.shape[0]
            parity = sum(np.arange(sl.start, sl.stop).reshape((-1,) + (1,) * (len(y.shape) - 2 - a))
                         for a, sl in enumerate(lattice.global_slice)) % 2
            cells = np.where(parity == 0, 1.0, -0.5)
            fields = 1.0 + 0.25 * np.arange(n) / n
            self._start = fields.reshape((n,) + (1,) * cells.ndim) * cells   # kept on the host
        return self.system.lattice.to_device(self._start.copy())
