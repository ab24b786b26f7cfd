"""How a run moves its state from one output sample to the next.

Two advancers, one interface: `advance(t, y, t_end, interrupt)` (with `t_reached` after it),
the accepted/rejected totals, what a checkpoint stores of them (`checkpoint_state`,
`restore_state`), the statistics of a run (`stats`), extra time-series columns (`columns`,
`observe`) and progress between samples (`report_steps`).

- LocalOnly: one adaptive stepper does everything (a single site, a model's own grid, or a
  lattice whose diffusion sits inside the implicit stages).
- Split: a lattice advanced by coupled local/diffusion steps (lattice.splitting).

Time t [MeV^-1].
"""

from __future__ import annotations

from lattice.checkpoint import RestartError

KRYLOV_COUNTERS = ("solves", "iterations", "failures", "estimate_misses")
"""The GMRES counters (lattice.krylov.KrylovStats) a run reports and a checkpoint carries: the same on
every rank and backend (not the device's discarded speculative products)."""

SWITCHING_COLUMNS = {
    "integrator": "code: 0 rodas4, 1 dopri5 (the branch the next step takes)",
    "explicit_steps": "count (accepted dopri5 steps since the start)",
    "h_rho": "dimensionless: last step × estimate of the Jacobian's spectral radius",
}
"""The time-series columns of a stepper with the explicit branch (lattice.explicit_rk)."""


class LocalOnly:
    """Advance by the adaptive local stepper alone.

    Args:
        stepper: Rodas4, CompiledSiteStepper or CompiledLineStepper.
        h: first trial step [MeV^-1].
        krylov: the GMRES statistics of an implicit lattice (lattice.krylov.KrylovStats) or None.
    """

    def __init__(self, stepper, h, krylov=None):
        self.stepper, self.h, self.krylov = stepper, h, krylov
        self.t_reached = None

    @property
    def n_accepted(self):
        return self.stepper.n_accepted

    @property
    def n_rejected(self):
        return self.stepper.n_rejected

    def advance(self, t, y, t_end, interrupt=None):
        """y at t_end, or at `t_reached` < t_end if `interrupt()` said so after a step."""
        y, self.h = self.stepper.advance(t, y, t_end, self.h, interrupt=interrupt)
        self.t_reached = self.stepper.t_reached
        return y

    def columns(self) -> dict:
        """Extra time-series columns (name -> unit)."""
        return dict(SWITCHING_COLUMNS) if self.stepper.switching else {}

    def observe(self) -> dict:
        """Values of the extra columns now."""
        st = self.stepper
        if not st.switching:
            return {}
        return {"integrator": int(st.state[0]), "explicit_steps": int(st.counts[2]), "h_rho": st.h_rho}

    def checkpoint_state(self) -> dict:
        st = self.stepper
        state = {"accepted": st.n_accepted, "rejected": st.n_rejected, "h": self.h, **st.checkpoint_state()}
        if self.krylov is not None:
            state["krylov"] = {name: getattr(self.krylov, name) for name in KRYLOV_COUNTERS}
        return state

    def restore_state(self, meta, path):
        """Restore from checkpoint metadata; RestartError if the checkpoint lacks the stepper's state."""
        st = self.stepper
        st.n_accepted, st.n_rejected = meta["accepted"], meta["rejected"]
        self.h = meta["h"]
        if st.switching:
            if not st.has_state(meta):
                raise RestartError(f"{path} was written by a stepper without the explicit branch (the "
                                   f"Python Rodas4, or a version before it); restart it with the "
                                   f"version that wrote it")
            st.restore_state(meta)
        if self.krylov is not None:            # a checkpoint from before stop 30 has none: from 0
            for name in KRYLOV_COUNTERS:
                setattr(self.krylov, name, int(meta.get("krylov", {}).get(name, 0)))

    def stats(self) -> dict:
        stats = {"accepted": self.n_accepted, "rejected": self.n_rejected, **self.stepper.split_stats()}
        k = self.krylov
        if k is not None:
            stats.update({f"krylov_{name}": getattr(k, name) for name in KRYLOV_COUNTERS})
        return stats

    def report_steps(self, report, hubble):
        """Call report(t, text) after every accepted step; hubble(t) -> H [MeV] at time t."""
        st, k = self.stepper, self.krylov

        def on_accept(t, h):
            text = f"step {st.n_accepted}, dt·H = {h * hubble(t):.2e}"
            if st.switching:
                text += f", {st.branch}"
            if k is not None and k.solves:
                text += f", GMRES {k.iterations / k.solves:.1f} it/solve"
            report(t, text)
        st.on_accept = on_accept


class Split:
    """Advance a lattice by coupled local/diffusion steps; dt from the coupling's control, capped.

    Args:
        splitting: lattice.splitting.StrangSplitting or MidpointSourceCoupling.
        dt: first trial step [MeV^-1].
        dt_cap: t -> largest step at time t [MeV^-1].
        dt_min_rel: smallest step relative to t before the run fails.
    """

    def __init__(self, splitting, dt, dt_cap, dt_min_rel=1e-14):
        self.splitting, self.dt, self.dt_cap = splitting, dt, dt_cap
        self.dt_min_rel = dt_min_rel
        self.steps = 0
        self.on_step = None
        """Optional callable(t) after each accepted step (progress between output samples)."""
        self.t_reached = None

    @property
    def n_accepted(self):
        return self.splitting.local.n_accepted

    @property
    def n_rejected(self):
        return self.splitting.local.n_rejected

    def advance(self, t, y, t_end, interrupt=None):
        """y at t_end, or at `t_reached` < t_end if `interrupt()` said so after a step."""
        while t < t_end:
            dt = min(self.dt, self.dt_cap(t))
            if dt < self.dt_min_rel * t:
                raise RuntimeError(f"lattice step {dt:.3e} fell below {self.dt_min_rel:g} t at t = {t:.6e}")
            last = t + dt >= t_end
            dt = t_end - t if last else dt
            y_new, proposal = self.splitting.step(t, y, dt)
            if y_new is None:  # rejected: retry with the smaller proposal
                self.dt = proposal
                continue
            y = y_new
            self.steps += 1
            t = t_end if last else t + dt
            if self.on_step:
                self.on_step(t)
            if not last:
                self.dt = min(proposal, 2.0 * dt)
                if interrupt is not None and interrupt():
                    break
        self.t_reached = t
        return y

    def columns(self) -> dict:
        return {}

    def observe(self) -> dict:
        return {}

    def checkpoint_state(self) -> dict:
        s, local = self.splitting, self.splitting.local
        return {"accepted": local.n_accepted, "rejected": local.n_rejected, "dt": self.dt, "h_local": s.h_local,
                "split_steps": self.steps, "split_rejected": s.rejected, "stages_total": s.stages_total}

    def restore_state(self, meta, path):
        s, local = self.splitting, self.splitting.local
        local.n_accepted, local.n_rejected = meta["accepted"], meta["rejected"]
        self.dt, self.steps = meta["dt"], meta["split_steps"]
        s.h_local, s.stages_total, s.rejected = meta["h_local"], meta["stages_total"], meta["split_rejected"]

    def stats(self) -> dict:
        s = self.splitting
        return {"accepted": self.n_accepted, "rejected": self.n_rejected, "split_steps": self.steps,
                "split_rejected": s.rejected, "diffusion_stages": s.stages_total}

    def report_steps(self, report, hubble):
        """Call report(t, text) after every accepted split step; hubble(t) -> H [MeV] at time t."""
        self.on_step = lambda t: report(t, f"step {self.steps}, dt·H = {self.dt * hubble(t):.2e}")
