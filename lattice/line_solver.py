"""Direct stage solves for a 1D implicit lattice (`integrator.stage_solver: direct`).

On a line the stage matrix σ − J_local − K ∇² of lattice/implicit.py is cyclic block
tridiagonal: per cell the block σ − J_i − K C_i / dx², and to each neighbour −K C'_i / dx², where
C_i, C'_i are the diagonal matrices of the 3-point Laplacian's coefficients per field (−2 and 1
inside; at the two ends of the line those of the boundary condition, lattice/boundary.py:
`periodic` wraps to the other end, `neumann` mirrors the end cell (−1, no wrap), `offdiag_zero`
wraps the diagonal fields and mirrors the odd ones with a sign (−3, no wrap)). It is solved
exactly by kernels.block_tridiagonal, in place of GMRES.

Every rank gathers the whole line (the blocks once per step, the right-hand side per stage)
and solves the same system with the same deterministic arithmetic, keeping its own cells: the
result is bitwise the same on any number of ranks. The serial solve costs O(N) per rank, so this
suits lines up to some 1e5 cells; longer lines on many ranks want GMRES.
"""

from __future__ import annotations

import numpy as np

from kernels.block_tridiagonal import factorise, solve, stage_blocks


def gather_line(comm, start, N, local):
    """The global cell-major array (N, ...) of a line from every rank's (cells, ...) part, this
    rank's starting at cell `start`; the same on every rank."""
    parts = comm.allgather((start, local))
    out = np.empty((N,) + local.shape[1:])
    for first, part in parts:
        out[first:first + part.shape[0]] = part
    return out


class DirectLineSolver:
    """Factorises the 1D stage matrix and returns its exact solver.

    Args:
        lattice: a 1D lattice.Lattice (spacing, bc, odd_fields, comm, global_slice).
        n_fields: fields per cell.
    """

    def __init__(self, lattice, n_fields):
        if lattice.ndim != 1:
            raise ValueError("the direct stage solver needs a 1D lattice")
        self.lattice = lattice
        self.start = lattice.global_slice[0].start
        self.N = lattice.global_shape[0]
        self.laplacian_coefficients = laplacian_coefficients(lattice.bc[0], lattice.odd_fields, self.N,
                                                              n_fields)

    def _gather(self, local):
        return gather_line(self.lattice.comm, self.start, self.N, local)

    def factorise(self, blocks, K, sigma):
        """A function r -> x solving (σ − J − K∇²) x = r for field-major r (n, local cells).

        blocks: this rank's local Jacobian blocks J (cells, n, n), rates [MeV]; K: the diffusion
        matrix (n, n) [MeV^-1], so that K times the comoving Laplacian [MeV²] is a rate; sigma:
        1/(γh) [MeV].
        """
        J = self._gather(np.ascontiguousarray(blocks))
        inv_dx2 = 1.0 / self.lattice.spacing[0] ** 2      # the spacing doubles with the grid
        D, Lo, Up = stage_blocks(J, np.ascontiguousarray(K, dtype=float), *self.laplacian_coefficients,
                                 inv_dx2, float(sigma))
        factors = factorise(D, Lo, Up)
        start, stop = self.start, self.start + blocks.shape[0]

        def solve_stage(r):
            b = self._gather(np.ascontiguousarray(r.T))
            x = solve(factors, Lo, b, np.empty_like(b))
            return np.ascontiguousarray(x[start:stop].T)

        return solve_stage


def laplacian_coefficients(kind, odd_fields, N, n):
    """(diagonal, left, right): the 3-point Laplacian's coefficients per cell and field on a line
    of N cells with boundary `kind` [1/dx²], each (N, n)."""
    odd = np.zeros(n, dtype=bool)
    odd[list(odd_fields)] = True
    if kind == "periodic":
        wraps, end_extra = np.ones(n, bool), np.zeros(n)
    elif kind == "neumann":            # mirror ghost: the end cell misses one neighbour term
        wraps, end_extra = np.zeros(n, bool), np.ones(n)
    else:  # offdiag_zero: diagonal fields wrap, odd fields have an antisymmetric ghost
        wraps, end_extra = ~odd, np.where(odd, -1.0, 0.0)
    diag = np.full((N, n), -2.0)
    left = np.ones((N, n))
    right = np.ones((N, n))
    for end, side in ((0, left), (N - 1, right)):
        diag[end] += end_extra
        side[end] = np.where(wraps, 1.0, 0.0)
    return diag, left, right
