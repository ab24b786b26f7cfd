"""The decomposed comoving lattice: partition, halos, boundary conditions, Laplacian.

A Lattice owns one rank's block of a global grid of cells (cell-centred, comoving spacing
dx = box / cells per axis, in MeV^-1 at T_ref), the halo exchanger for a field set, and a
padded work array reused by every Laplacian evaluation (and a stencil work array).
"""

from __future__ import annotations

import numpy as np

from kernels.backend import backend_for
from kernels.stencil import STENCIL_RADIUS, interior
from lattice.boundary import apply_boundaries, axis_is_periodic
from lattice.halo import HaloExchanger
from lattice.partition import Partition


class Lattice:
    """One rank's view of the global comoving grid.

    Args:
        global_shape: cells per axis (1 to 3 axes).
        box: comoving box length per axis [MeV^-1].
        bc: boundary kind per axis (lattice.boundary.BC_KINDS).
        n_fields: fields per cell.
        comm: lattice.parallel.Communicator (SerialComm, MPIComm or a lattice.local_comm.LocalComm).
        process_grid: ranks per axis, or None to choose.
        odd_fields: fields held at zero by `offdiag_zero`.
        xp: array library of the fields (numpy, or cupy for a GPU).
        cuda_aware: with CuPy, MPI takes device buffers (lattice.halo.HaloExchanger).
    """

    def __init__(self, global_shape, box, bc, n_fields, comm, process_grid=None, odd_fields=(), xp=np,
                 cuda_aware=False):
        self.global_shape = tuple(int(n) for n in global_shape)
        self.ndim = len(self.global_shape)
        self.box = tuple(float(b) for b in box)
        self.bc = tuple(bc)
        self.comm = comm
        self.rank = comm.rank
        self.partition = Partition.create(comm.size, self.global_shape, halo=STENCIL_RADIUS,
                                          periodic=tuple(axis_is_periodic(k) for k in self.bc),
                                          process_grid=process_grid)
        self.spacing = tuple(b / n for b, n in zip(self.box, self.global_shape))
        self.local_shape = self.partition.local_shape(self.rank)
        self.global_slice = self.partition.global_slice(self.rank)
        self.odd_fields = tuple(odd_fields)
        self.xp = xp
        self.backend = backend_for(xp)
        """The array backend (kernels.backend), chosen once from xp."""
        self.exchanger = HaloExchanger(self.partition, n_fields, comm=comm, xp=xp, cuda_aware=cuda_aware,
                                       stencil_radius=STENCIL_RADIUS)
        self.padded = xp.zeros((n_fields,) + self.partition.padded_shape(self.rank))
        self._interior = interior(self.padded, self.partition.halo)   # a view, made once
        self._faces_to_fill = any(k != "periodic" for k in self.bc)

    def to_host(self, a):
        """A NumPy copy (or view) of a field array of this lattice: the one way the state leaves the
        device (snapshots, checkpoints, grid doubling, final arrays)."""
        return self.backend.to_host(a)

    def to_device(self, a):
        """A field array of this lattice's library (xp) holding the host array a."""
        return self.backend.asarray(a)

    def double_box(self):
        """Double the box and the spacing along every axis (grid doubling; the cells stay)."""
        self.box = tuple(2.0 * b for b in self.box)
        self.spacing = tuple(2.0 * dx for dx in self.spacing)

    @property
    def n_cells(self):
        """Total number of cells in the global grid."""
        return int(np.prod(self.global_shape))

    def cell_centres(self, axis):
        """Comoving coordinates of this rank's cell centres along `axis` [MeV^-1]."""
        s = self.global_slice[axis]
        return (np.arange(s.start, s.stop) + 0.5) * self.spacing[axis]

    def fill_ghosts(self, u, scale=None):
        """Copy interior u (n_fields, *local), times `scale` (same shape) if given, into the padded
        buffer and fill its ghosts."""
        if scale is None:
            self._interior[...] = u
        else:
            self.xp.multiply(u, scale, out=self._interior)
        return self.fill_ghosts_of(self.padded)

    def fill_ghosts_of(self, padded):
        """Fill the ghosts of `padded`, an array of the padded buffer's shape whose interior is
        written (halo exchange, then the boundary conditions); returns it. (lattice.stages writes
        a stage's argument straight into the interior of one of two such buffers.)"""
        self.exchanger.exchange(padded)
        if self._faces_to_fill:
            apply_boundaries(padded, self.partition, self.rank, self.bc, self.odd_fields)
        return padded

    def laplacian(self, u, out=None, scale=None):
        """Comoving Laplacian of every field of u (n_fields, *local) [MeV² · u], or of u·scale
        (element by element, formed in the padded buffer: no temporary)."""
        return self.backend.laplacian(self.fill_ghosts(u, scale), self.partition.halo, self.spacing, out=out)

    def explicit_limit(self, coefficient):
        """Forward-Euler stable step for du/dt = coefficient ∇²u: 1/(2 κ Σ 1/dx²) [MeV^-1]."""
        return 1.0 / (2.0 * coefficient * sum(1.0 / dx ** 2 for dx in self.spacing))
