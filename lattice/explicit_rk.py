"""The explicit branch of the compiled loops and the switching between it and Rodas4.

Shared by the single-site loop (`lattice.compiled_rodas`) and the line loop
(`lattice.compiled_line`), which differ only in how f, the Jacobian and the error norm are
evaluated; the method, the stiffness tests and the switching rules are written once here as
Numba `register_jitable` pieces over flat arrays (the loops inline them).

**Dormand–Prince 5(4)** (DOPRI5: Hairer, Nørsett & Wanner, Solving ODEs I, §II.5): seven stages
with the last one reused as the next step's first (FSAL), error estimate of order 4, controller
exponent −1/5, on the model's error norm with rtol multiplied by `explicit_rtol_factor` (an
explicit step's local error is not damped by an L-stable propagator, so the branch runs tighter;
docs/results.md §7 gives the validation).

**Switching.** From Rodas4 to DOPRI5 when the next proposed step h satisfies h·ρ ≤ a margin
(`EXPLICIT_MARGIN` on a line, `SITE_EXPLICIT_MARGIN` on a site) on `CALM_STEPS` estimates of ρ in
a row (made every `RADIUS_EVERY` accepted steps) without the controller ramping the step up, ρ being the spectral radius of the Jacobian
estimated by `POWER_ITERATIONS` products from a fixed vector (the row-sum norm is useless for the
QKE: the nonlinear V_L terms put entries ~1e10 H into J that hardly move its eigenvalues). From
DOPRI5 back to Rodas4 by Hairer's stiffness test: h|λ| ≈ h ‖k₇ − k₆‖ / ‖y₇ − y₆‖ from the two
stages at t + h exceeding `STIFF_LIMIT` on `STIFF_STEPS` accepted steps with fewer than
`NONSTIFF_RESET` non-stiff steps between them; and after `probe_steps` explicit steps in a row,
a probe (see PROBE_STEPS), after which a cost guard keeps Rodas4 where its steps are longer
than DOPRI5's by more than the cost ratio (see COST_RATIO).

The switching state is five integers carried between calls (a call may end anywhere and the next
one continues with exactly the steps of an uninterrupted run): [branch, calm count, stiff count,
non-stiff count, explicit steps since the last switch]; the counters are [Rodas4 accepted,
rejected, DOPRI5 accepted, rejected, switches].
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

RODAS4, DOPRI5 = 0, 1
"""Branch codes (the time series' `integrator` column)."""
BRANCH_NAMES = ("rodas4", "dopri5")
METHODS = ("auto", "rodas4", "dopri5")

EXPLICIT_MARGIN = 30.0
"""Rodas4 → DOPRI5 on a line when the proposed step times the estimate of ρ(J) is at most this:
DOPRI5 is stable up to h|λ| ≈ 3.3 and an attempt costs about a tenth of a Rodas4 attempt there,
so below ~40 the explicit branch advances further per unit of work even where stability holds
its step."""
SITE_EXPLICIT_MARGIN = 10.0
"""The same for a single site, where a DOPRI5 attempt costs about a third of a Rodas4 attempt
(no block-tridiagonal solve to save, only an 8×8 LU)."""
COST_RATIO = 10.0
"""Cost of a Rodas4 attempt in DOPRI5 attempts on a line (the guard below) ..."""
SITE_COST_RATIO = 3.0
"""... and on a single site. **The guard:** after a probe has left DOPRI5, Rodas4 → DOPRI5 also
needs the proposed Rodas4 step to be at most this many times the mean step of that DOPRI5 run.
Without it a site whose DOPRI5 steps are held far below 1/ρ by accuracy (strong mixing, where
the sterile states thermalise) returns to DOPRI5 16 steps after every probe: in a batch of 64
sites to 3 MeV, 3.2e8 attempts against 1.2e7 with Rodas4 alone (margin 10, no guard)."""
RADIUS_EVERY = 4
"""ρ(J) is estimated on every RADIUS_EVERY-th accepted Rodas4 step (16 Jacobian products) ..."""
CALM_STEPS = 4
"""... and the switch made after this many estimates in a row allow it (with the step not
growing by more than 2×: a controller still ramping up says nothing about the step to come)."""
PROBE_STEPS = 8192
"""DOPRI5 → Rodas4 also after this many explicit steps in a row: a probe. Where the explicit
step is held by accuracy on a precession that Rodas4 steps over (|hλ| of 1–2, below the
stiffness test's 3.25), Rodas4's step grows and it stays; where Rodas4 does no better, the
ρ test returns to DOPRI5 after 4·CALM_STEPS steps (a few per cent of the explicit work)."""
POWER_ITERATIONS = 16
"""Jacobian products of one estimate of ρ(J)."""
STIFF_LIMIT = 3.25
"""DOPRI5 → Rodas4 when Hairer's estimate h|λ| exceeds this ..."""
STIFF_STEPS = 15
"""... on this many accepted steps (Hairer's DOPRI5 test)."""
NONSTIFF_RESET = 6
"""Non-stiff accepted steps in a row that clear the stiffness count."""
STIFF_EVERY = 8
"""Hairer's test runs on every STIFF_EVERY-th accepted DOPRI5 step, and on every step while the
stiffness count is above zero (as his code does with NSTIFF)."""

# Dormand–Prince 5(4): nodes, stage weights (row s: weights of k_0 … k_(s−1)), solution weights
# (= row 6, first same as last) and the error weights b − b̂.
DP_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
DP_A = np.zeros((7, 7))
DP_A[1, :1] = [1 / 5]
DP_A[2, :2] = [3 / 40, 9 / 40]
DP_A[3, :3] = [44 / 45, -56 / 15, 32 / 9]
DP_A[4, :4] = [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729]
DP_A[5, :5] = [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]
DP_A[6, :6] = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
DP_E = np.array([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])
DP_EXPONENT = -1.0 / 5.0


def initial_state(method):
    """The switching state a run starts with (int64 (5,)): Rodas4 unless method is dopri5."""
    if method not in METHODS:
        raise ValueError(f"method {method!r}: allowed {', '.join(METHODS)}")
    state = np.zeros(5, dtype=np.int64)
    state[0] = DOPRI5 if method == "dopri5" else RODAS4
    return state


@register_jitable
def dopri_argument(s, h, y, k, out):
    """out = y + Σ_j (h a_sj) k_j, term by term in order of j, zero weights skipped (flat y, out;
    k: (7, y.size)); for s = 6 this is the solution."""
    for q in range(y.size):
        out[q] = y[q]
    for j in range(s):
        w = h * DP_A[s, j]
        if w != 0.0:
            for q in range(y.size):
                out[q] += w * k[j, q]


@register_jitable
def dopri_error(h, k, out):
    """out = Σ_j (h e_j) k_j, the difference of the 5th- and 4th-order solutions."""
    for q in range(out.size):
        out[q] = 0.0
    for j in range(7):
        w = h * DP_E[j]
        if w != 0.0:
            for q in range(out.size):
                out[q] += w * k[j, q]


@register_jitable
def stiffness_test(h, k6, k5, y_new, y5, state):
    """Hairer's test after an accepted step: h|λ| ≈ h ‖k6 − k5‖ / ‖y_new − y5‖ (the two stages at
    t + h, flat arrays) updates the stiff and non-stiff counts in state."""
    num = 0.0
    den = 0.0
    for q in range(y_new.size):
        dk = k6[q] - k5[q]
        num += dk * dk
        dy = y_new[q] - y5[q]
        den += dy * dy
    if den > 0.0:
        count_stiffness(h * (num / den) ** 0.5, state)


@register_jitable
def count_stiffness(h_lambda, state):
    """Update the stiff and non-stiff counts in state from Hairer's estimate h|λ| of an accepted
    DOPRI5 step (stiff above STIFF_LIMIT)."""
    if h_lambda > STIFF_LIMIT:
        state[3] = 0
        state[2] += 1
    else:
        state[3] += 1
        if state[3] == NONSTIFF_RESET:
            state[2] = 0


@register_jitable
def check_stiffness(auto, state, counts):
    """Whether Hairer's test runs on this DOPRI5 step."""
    return auto and (state[2] > 0 or counts[2] % STIFF_EVERY == 0)


@register_jitable
def estimate_radius(auto, counts):
    """Whether ρ(J) is estimated at the start of this Rodas4 step."""
    return auto and counts[0] % RADIUS_EVERY == 0


@register_jitable
def count_rodas(ok, auto, state, counts, memory, h_next, h_try, rho, margin, cost_ratio):
    """Count a Rodas4 attempt; after an accepted step on which ρ was estimated, count it towards
    the switch to DOPRI5 when h_next·ρ ≤ margin with the step not ramping up and, after a probe,
    h_next ≤ cost_ratio × the mean step of the DOPRI5 run before it (memory[1]; 0: no guard)."""
    if not ok:
        counts[1] += 1
        return
    counts[0] += 1
    if auto and (counts[0] - 1) % RADIUS_EVERY == 0:
        guard = memory[1] == 0.0 or h_next <= cost_ratio * memory[1]
        if h_next * rho <= margin and h_next <= 2.0 * h_try and guard:
            state[1] += 1
        else:
            state[1] = 0


@register_jitable
def count_dopri(ok, state, counts):
    """Count a DOPRI5 attempt."""
    if ok:
        counts[2] += 1
        state[4] += 1
    else:
        counts[3] += 1


@register_jitable
def switch(auto, state, counts, memory, t, probe_steps):
    """After an accepted step reaching t: switch branch if the rules say so; returns True when it
    did (the new branch then starts from fresh data at the new state). memory (float (2,)):
    [start time of the current DOPRI5 run, mean step of the last DOPRI5 run left by a probe
    (0 after one left by the stiffness test)]."""
    if not auto:
        return False
    if state[0] == RODAS4:
        if state[1] < CALM_STEPS:
            return False
        state[0] = DOPRI5
        memory[0] = t
    else:
        stiff = state[2] >= STIFF_STEPS
        if not (stiff or state[4] >= probe_steps):
            return False
        state[0] = RODAS4
        memory[1] = 0.0 if stiff else (t - memory[0]) / state[4]
    state[1], state[2], state[3], state[4] = 0, 0, 0, 0
    counts[4] += 1
    return True


class SwitchingCounters:
    """The counters and switching state of a compiled stepper with both branches, and what a
    checkpoint stores of them (mixed into the single-site and the line stepper).

    Expects `self.state` and `self.counts` (int64 (5,)), `self.memory` (float64 (2,), see
    `switch`) and `self.h_rho` (float).
    """

    switching = True
    """The stepper has the explicit branch: its branch, counters and h·ρ go into the time
    series, the statistics and the checkpoints."""

    def start_switching(self, method):
        """The state a stepper starts with for `method` (auto, rodas4 or dopri5)."""
        self.state = initial_state(method)            # branch, calm, stiff, non-stiff, explicit run
        self.counts = np.zeros(5, dtype=np.int64)    # Rodas4 acc/rej, DOPRI5 acc/rej, switches
        self.memory = np.zeros(2)                    # the switching guard's (see `switch`)
        self.h_rho = float("nan")
        """h·ρ after the last call: the last accepted step times the estimate of ρ(J) at the
        state reached [dimensionless]."""

    @property
    def n_accepted(self):
        return int(self.counts[0] + self.counts[2])

    @n_accepted.setter
    def n_accepted(self, value):       # a restart sets the totals; the split comes with restore_state
        self.counts[0] = int(value) - self.counts[2]

    @property
    def n_rejected(self):
        return int(self.counts[1] + self.counts[3])

    @n_rejected.setter
    def n_rejected(self, value):
        self.counts[1] = int(value) - self.counts[3]

    @property
    def branch(self):
        """The branch the next step takes: "rodas4" or "dopri5"."""
        return BRANCH_NAMES[int(self.state[0])]

    def split_stats(self):
        """The statistics of the two branches: accepted and rejected steps of each, switches."""
        c = self.counts
        return dict(rodas4_accepted=int(c[0]), rodas4_rejected=int(c[1]), dopri5_accepted=int(c[2]),
                    dopri5_rejected=int(c[3]), switches=int(c[4]))

    def checkpoint_state(self):
        """What an exact restart needs besides (t, y, h) and the totals."""
        return {"switch_state": self.state.tolist(), "switch_counts": self.counts.tolist(),
                "switch_memory": self.memory.tolist(), "h_rho": self.h_rho}

    def restore_state(self, meta):
        """Restore from checkpoint metadata (the line engine wrote `line_state`/`line_counts`
        before the single site had the branch; both are read)."""
        self.state[:] = meta["switch_state"] if "switch_state" in meta else meta["line_state"]
        self.counts[:] = meta["switch_counts"] if "switch_counts" in meta else meta["line_counts"]
        self.memory[:] = meta.get("switch_memory", (0.0, 0.0))   # before the guard: none
        self.h_rho = float(meta["h_rho"])

    @staticmethod
    def has_state(meta):
        """Whether checkpoint metadata carries the switching state."""
        return "switch_state" in meta or "line_state" in meta


@register_jitable
def power_start(v, cells, n):
    """The fixed start vector of the ρ(J) estimate, flat (cells·n): every field of every cell,
    alternating in sign between cells so that a line's shortest diffusion mode is present."""
    for i in range(cells):
        for q in range(n):
            v[i * n + q] = (1.0 + 0.25 * q / n) * (1.0 if i % 2 == 0 else -0.5)


@register_jitable
def power_update(it, v, w, log_growth):
    """One power-iteration step after w = J v (flat): v = w / ‖w‖; over the second half of the
    POWER_ITERATIONS steps log_growth accumulates log ‖J v‖/‖v‖. Returns (log_growth, ok); not
    ok when J v vanished (ρ then reads 0)."""
    norm_v = 0.0
    norm_w = 0.0
    for q in range(v.size):
        norm_v += v[q] * v[q]
        norm_w += w[q] * w[q]
    if not norm_w > 0.0:
        return log_growth, False
    scale = 1.0 / norm_w ** 0.5
    for q in range(v.size):
        v[q] = w[q] * scale
    if 2 * it >= POWER_ITERATIONS:
        log_growth += 0.5 * math.log(norm_w / norm_v)
    return log_growth, True


@register_jitable
def power_radius(log_growth):
    """ρ from the accumulated growth: the mean growth per product over the second half. Deterministic;
    an overestimate where J is far from normal."""
    return math.exp(log_growth / (POWER_ITERATIONS - (POWER_ITERATIONS + 1) // 2))
