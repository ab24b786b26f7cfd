"""The comoving momentum grid y = p/T of the Pauli–Boltzmann model and its quadrature.

Momentum integrals ∫ g(y) dy are sums Σ_j w_j g(y_j) with trapezoid weights, in ln y on a log
grid (dy = y d ln y) or in y on a linear one. On the lattice the momentum axis is the grid
axis, so these sums are the model's lattice reductions.
"""

from __future__ import annotations

import numpy as np


class MomentumGrid:
    """n points from y_min to y_max [dimensionless], log- or linearly spaced.

    Attributes:
        y: the grid points; dy: trapezoid weights, Σ dy g(y) ≈ ∫ g dy.
        half_cell_ln_y: half the spacing in ln y around each point (its cell, for cell-averaged
            rates; on a linear grid Δy/(2y), the cell [y − Δy/2, y + Δy/2] to first order)
            [dimensionless].
        f0: the equilibrium occupation 1/(1 + e^y) at each point.
    """

    def __init__(self, y_min: float, y_max: float, n_points: int, spacing: str = "log"):
        if spacing == "log":
            u = np.linspace(np.log(y_min), np.log(y_max), n_points)
            self.y = np.exp(u)
            du = np.full(n_points, u[1] - u[0])
            du[[0, -1]] *= 0.5
            self.dy = du * self.y
            self.half_cell_ln_y = np.full(n_points, 0.5 * (u[1] - u[0]))
        elif spacing == "linear":
            self.y = np.linspace(y_min, y_max, n_points)
            self.dy = np.full(n_points, self.y[1] - self.y[0])
            self.dy[[0, -1]] *= 0.5
            self.half_cell_ln_y = 0.5 * (self.y[1] - self.y[0]) / self.y
        else:
            raise ValueError(f"spacing {spacing!r}: expected 'log' or 'linear'")
        self.f0 = 1.0 / (1.0 + np.exp(self.y))

    def __len__(self):
        return len(self.y)
