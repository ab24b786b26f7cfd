"""Boundary conditions on the physical faces of the global box, per axis.

Kinds (docs/models/diffusion-qke.md §4):
  periodic      every field wraps around (the halo exchange does it);
  offdiag_zero  diagonal fields wrap; the listed transverse fields are held at 0 on the
                boundary planes (antisymmetric ghost: the face value is zero);
  neumann       zero flux for every field (mirror ghost: the face gradient is zero).
Ghost cells are filled after the halo exchange, on the ranks that own a global face.
"""

from __future__ import annotations

BC_KINDS = ("periodic", "offdiag_zero", "neumann")


def axis_is_periodic(kind):
    """Whether the decomposition wraps this axis (offdiag_zero wraps the diagonals)."""
    return kind in ("periodic", "offdiag_zero")


def apply_boundaries(u, partition, rank, kinds, odd_fields):
    """Fill ghost cells of u (n_fields, *padded) on the global faces owned by `rank`.

    Args:
        kinds: one BC kind per spatial axis.
        odd_fields: field indices held at zero by `offdiag_zero`.
    """
    h = partition.halo
    coords = partition.coords(rank)
    for axis, kind in enumerate(kinds):
        if kind == "periodic":
            continue
        n = u.shape[axis + 1]
        faces = []
        if coords[axis] == 0:
            faces.append([(h - 1 - k, h + k) for k in range(h)])
        if coords[axis] == partition.process_grid[axis] - 1:
            faces.append([(n - h + k, n - h - 1 - k) for k in range(h)])
        for face in faces:
            for ghost, mirror in face:
                g = [slice(None)] * u.ndim
                m = [slice(None)] * u.ndim
                g[axis + 1], m[axis + 1] = ghost, mirror
                if kind == "neumann":
                    u[tuple(g)] = u[tuple(m)]
                else:
                    for f in odd_fields:
                        g[0] = m[0] = f
                        u[tuple(g)] = -u[tuple(m)]
