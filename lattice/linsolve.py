"""Linear solves of the Rosenbrock stages, (σ − J) x = r with σ = 1/(γh).

The stepper asks `factorise(J, sigma)` for a solver once per step and applies it to each stage's
right-hand side. What `jac(t, y)` returns decides the structure:

- an ndarray shaped (*grid, n, n): the Jacobian is block diagonal (each site couples only its own
  n fields); (σ − J) is inverted site by site (the default, used by the QKE models);
- a `LowRankCoupled`: block diagonal plus a rank-r coupling U Vᵀ between all sites, as made by a
  few global unknowns that are momentum integrals of the state (the lepton asymmetries of the
  Pauli–Boltzmann model). It is solved exactly by the Woodbury identity: r extra block solves
  and one r×r system per step, so the step is fully implicit in the global unknowns.

Vectors are field-major, shaped (n, *grid), as states are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.linalg import batched_apply, batched_inverse


def _shifted_inverse(blocks, sigma):
    """Per-site inverse of (σ I − blocks) for blocks shaped (*grid, n, n)."""
    G = -blocks
    diag = np.arange(G.shape[-1])
    G[..., diag, diag] += sigma
    return batched_inverse(G)


@dataclass
class LowRankCoupled:
    """J = blocks + Σ_k U_k V_kᵀ: a block-diagonal part plus a rank-r all-site coupling.

    Attributes:
        blocks: per-site Jacobian blocks, (*grid, n, n) [1/time].
        U: r column vectors, (r, n, *grid) [1/time per unit of the global unknown].
        V: r row vectors, (r, n, *grid): the global unknown k is Vₖ · y + const, so Vₖ is
            its gradient with respect to the state (a quadrature weight, for an integral).
    """

    blocks: np.ndarray
    U: np.ndarray
    V: np.ndarray

    def factorise(self, sigma):
        """Solver of (σ − J) x = r by Woodbury:
        x = Gb⁻¹r + Z S⁻¹ Vᵀ Gb⁻¹ r with Gb = σ − blocks, Z = Gb⁻¹U, S = I − Vᵀ Z."""
        G_inv = _shifted_inverse(self.blocks, sigma)
        r = self.U.shape[0]
        Z = np.stack([batched_apply(G_inv, self.U[k]) for k in range(r)])
        V = self.V.reshape(r, -1)
        S_inv = np.linalg.inv(np.eye(r) - V @ Z.reshape(r, -1).T)

        def solve(rhs):
            x = batched_apply(G_inv, rhs)
            coef = S_inv @ (V @ x.reshape(-1))
            return x + np.tensordot(coef, Z, axes=1)

        return solve


def factorise(J, sigma):
    """A function solving (σ − J) x = rhs for the Jacobian J (see the module docstring)."""
    if isinstance(J, np.ndarray):
        G_inv = _shifted_inverse(J, sigma)
        return lambda rhs: batched_apply(G_inv, rhs)
    return J.factorise(sigma)
