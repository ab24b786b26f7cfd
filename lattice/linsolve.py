"""Linear solves of the Rosenbrock stages, (σ − J) x = r with σ = 1/(γh).

The stepper asks `factorise(J, sigma)` for a solver once per step and applies it to each stage's
right-hand side. What `jac(t, y)` returns decides the structure:

- an ndarray shaped (*grid, n, n): the Jacobian is block diagonal (each site couples only its own
  n fields); (σ − J) is inverted site by site (the default, used by the QKE models);
- a `LowRankCoupled`: block diagonal plus a rank-r coupling U Vᵀ between all sites, as made by a
  few global unknowns that are momentum integrals of the state (the lepton asymmetries of the
  Pauli–Boltzmann model). It is solved exactly by the Woodbury identity: r extra block solves
  and one r×r system per step, so the step is fully implicit in the global unknowns.

Vectors are field-major, shaped (n, *grid), as states are. The block-diagonal solves run on the
array backend (kernels.backend) the caller names once, NumPy by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.backend import NUMPY


class SmallBlockInverse:
    """Per-site inverse of n×n blocks, n ≤ 3, by cofactors on field-major arrays (n, n, *grid).

    For the few fields of the Pauli–Boltzmann model this is several times faster than LAPACK's
    batched inverse and matmul on (sites, n, n) stacks, whose per-matrix overhead dominates.
    The blocks it is used for, σ − J with σ = 1/(γh) > 0 and J of the rate equations, are
    diagonally dominant, so no pivoting is needed.

    Args:
        G: the blocks, (sites, n, n), arrays of `backend`.
        backend: the array backend of G (kernels.backend).
    """

    def __init__(self, G, backend=NUMPY):
        xp = backend.xp
        n = G.shape[-1]
        a = xp.ascontiguousarray(xp.moveaxis(G.reshape(-1, n, n), 0, -1))   # (n, n, sites)
        if n == 1:
            inv = 1.0 / a
        elif n == 2:
            det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
            inv = xp.stack((xp.stack((a[1, 1], -a[0, 1])), xp.stack((-a[1, 0], a[0, 0])))) / det
        else:
            cof = xp.empty_like(a)
            for i in range(3):
                for j in range(3):
                    r, c = [k for k in range(3) if k != i], [k for k in range(3) if k != j]
                    cof[j, i] = (-1) ** (i + j) * (a[r[0], c[0]] * a[r[1], c[1]] - a[r[0], c[1]] * a[r[1], c[0]])
            inv = cof / (a[0, 0] * cof[0, 0] + a[0, 1] * cof[1, 0] + a[0, 2] * cof[2, 0])
        self.inv, self.n = inv, n

    def apply(self, vectors):
        """inv · v per site, v shaped (n, *grid)."""
        flat = vectors.reshape(self.n, -1)
        out = self.inv[:, 0] * flat[0]
        for j in range(1, self.n):
            out += self.inv[:, j] * flat[j]
        return out.reshape(vectors.shape)


def _shifted_inverse(blocks, sigma, backend=NUMPY):
    """Per-site inverse of (σ I − blocks) for blocks shaped (*grid, n, n), as a function v -> G⁻¹v.

    n ≤ 3 on one grid axis: cofactors (SmallBlockInverse). Otherwise the per-site LU with partial
    pivoting of the backend's stage preconditioner (no diffusion, unit allowances: exactly
    (σ − J)⁻¹), the same operations in the same order on the CPU and the GPU, and the fused
    per-site product."""
    n = blocks.shape[-1]
    if n <= 3 and blocks.ndim == 3:
        G = -blocks
        diag = np.arange(n)
        G[..., diag, diag] += sigma
        return SmallBlockInverse(G, backend).apply
    xp = backend.xp
    G_inv = backend.stage_preconditioner(blocks, np.zeros((n, n)), 0.0, sigma,
                                         xp.ones((n,) + blocks.shape[:-2]))
    return lambda rhs: backend.apply_field_major(G_inv, rhs)


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
        apply = _shifted_inverse(self.blocks, sigma)
        r = self.U.shape[0]
        Z = np.stack([apply(self.U[k]) for k in range(r)])
        V = self.V.reshape(r, -1)
        S_inv = np.linalg.inv(np.eye(r) - V @ Z.reshape(r, -1).T)

        def solve(rhs):
            x = apply(rhs)
            coef = S_inv @ (V @ x.reshape(-1))
            return x + np.tensordot(coef, Z, axes=1)

        return solve


def factorise(J, sigma, backend=NUMPY):
    """A function solving (σ − J) x = rhs for the Jacobian J (see the module docstring): blocks
    that are an array of `backend` (kernels.backend), or an object with `factorise(sigma)`.
    The function may overwrite rhs (the implicit lattice's GMRES scales it in place)."""
    if isinstance(J, backend.xp.ndarray):
        return _shifted_inverse(J, sigma, backend)
    return J.factorise(sigma)
