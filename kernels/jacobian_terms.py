"""A per-site Jacobian given as fixed patterns weighted by per-site scalars (JacobianTerms).

Part of the model interface (lattice.model re-exports it: System.jac_terms); here, below the
machinery, because the backends' stage preconditioner (kernels.numpy_ops, kernels.cupy_ops)
takes it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


ROW_BY_ROW_ABOVE = 1 << 16
"""`blocks` forms the weighted patterns of device arrays a row of blocks at a time above this many
numbers (a temporary of n numbers per site instead of n²: a lattice's GPU memory), whole
otherwise (on the host the strided rows cost twice the time; few sites: n times fewer calls).
The same products and sums either way."""


class JacobianTerms(NamedTuple):
    """∂f/∂y of every site as fixed n×n patterns weighted by per-site scalars:

        J(site) = uniform + scalars[0, site]·patterns[0] + scalars[1, site]·patterns[1] + …

    added in that order, element by element (`blocks`). A lattice on a GPU keeps these k scalars
    per site instead of an n×n block and rebuilds each site's block where it is needed (the
    stage preconditioner, lattice.implicit). Arrays of the state's library.

    Attributes:
        uniform: (n, n), the part every site shares [MeV].
        patterns: (k, n, n), the fixed structures [dimensionless].
        scalars: (k, *sites), their per-site weights [MeV].
    """

    uniform: object
    patterns: object
    scalars: object

    def blocks(self):
        """The per-site Jacobian blocks (*sites, n, n) [MeV]."""
        n = self.uniform.shape[0]
        J = np.empty_like(self.scalars, shape=self.scalars.shape[1:] + (n, n))   # NumPy or CuPy
        J[...] = self.uniform
        if J.size <= ROW_BY_ROW_ABOVE or isinstance(J, np.ndarray):
            for scalar, pattern in zip(self.scalars, self.patterns):
                J += scalar[..., None, None] * pattern
            return J
        row = np.empty_like(J[..., 0, :])          # one row of blocks at a time: no n² temporary
        for scalar, pattern in zip(self.scalars, self.patterns):
            column = scalar[..., None]
            for i in range(n):
                J[..., i, :] += np.multiply(column, pattern[i], out=row)
        return J
