"""RKL2 super-time-stepping (Meyer, Balsara & Aslam 2014) for parabolic terms.

Advances du/dt = L(u) over a step dt that may exceed the explicit (forward Euler) limit
dt_explicit by far, with s stages where (s² + s − 2)/4 · dt_explicit ≥ dt. Second order in
time, stable for operators with real non-positive spectrum (diffusion). Each stage costs one
evaluation of L (one stencil sweep plus a halo exchange).
"""

from __future__ import annotations

import math


def stages_for(dt, dt_explicit, safety=0.9):
    """Smallest odd-free stage count s >= 2 with (s² + s − 2)/4 · safety · dt_explicit >= dt."""
    ratio = dt / (safety * dt_explicit)
    s = math.ceil(0.5 * (-1.0 + math.sqrt(9.0 + 16.0 * ratio)))
    return max(2, s)


def _b(j):
    return 1.0 / 3.0 if j < 2 else (j * j + j - 2.0) / (2.0 * j * (j + 1.0))


def rkl2_step(u, operator, dt, stages):
    """One RKL2 step of size dt with `stages` stages.

    Args:
        u: state array (any shape); not modified.
        operator: callable L(v) returning dv/dt with v's shape (fills ghosts itself).
        dt: step (time units of L).
        stages: s >= 2.
    Returns:
        the new state (a new array).
    """
    s = int(stages)
    w1 = 4.0 / (s * s + s - 2.0)
    Lu = operator(u)
    y_prev2 = u
    y_prev = u + (w1 / 3.0) * dt * Lu                    # μ̃_1 = b_1 w1, b_1 = 1/3
    for j in range(2, s + 1):
        bj, bj1, bj2 = _b(j), _b(j - 1), _b(j - 2)
        mu = (2.0 * j - 1.0) / j * bj / bj1
        nu = -(j - 1.0) / j * bj / bj2
        mu_t = mu * w1
        gamma_t = -(1.0 - bj1) * mu_t                      # −a_{j−1} μ̃_j, a = 1 − b
        y = (mu * y_prev + nu * y_prev2 + (1.0 - mu - nu) * u
             + (mu_t * dt) * operator(y_prev) + (gamma_t * dt) * Lu)
        y_prev2, y_prev = y_prev, y
    return y_prev
