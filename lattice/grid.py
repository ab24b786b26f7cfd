"""The decomposed comoving lattice: partition, halos, boundary conditions, Laplacian.

A Lattice owns one rank's block of a global grid of cells (cell-centred, comoving spacing
dx = box / cells per axis, in MeV^-1 at T_ref), the halo exchanger for a field set, and a
padded work array reused by every Laplacian evaluation (and a stencil work array).

The Laplacian overlaps the exchange along the last axis with the cells that do not need it:
where that axis has a face shared with another rank, the exchanger posts it (`start`), the
stencil runs on the core (the cells whose neighbours are interior or ghosts already filled),
then the exchange completes (`wait`), the boundary conditions fill their ghosts, and the stencil
runs on the shell around the core. On a GPU with staged halos the core's kernel runs while the
rank waits for MPI; each cell's value is the same as without the split (tests/lattice/test_halo.py).
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
        self.overlap = overlap_boxes(self.partition, self.rank, self.bc)
        """None, or (core, shell): the boxes of interior cells the Laplacian computes during and
        after the exchange along the last axis (see the module docstring)."""

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
        return self.fill_ghosts_of(self.load(u, scale))

    def load(self, u, scale=None):
        """The padded buffer with interior u (times scale), ghosts not filled (`stencil_on` fills
        them)."""
        if scale is None:
            self._interior[...] = u
        else:
            self.xp.multiply(u, scale, out=self._interior)
        return self.padded

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
        (element by element, formed in the padded buffer: no temporary); overlapping the last
        axis's exchange where it has one (see the module docstring)."""
        padded = self.load(u, scale)
        if out is None:
            out = self.xp.empty((padded.shape[0],) + tuple(self.local_shape))
        self.stencil_on(padded, lambda box: self.backend.laplacian(padded, self.partition.halo, self.spacing,
                                                                     out=out, box=box))
        return out

    def stencil_on(self, padded, compute):
        """Fill the ghosts of `padded` (its interior written) and call compute(box) so that every
        interior cell is covered once: compute(None) after the fill, or, where the last axis is
        exchanged with another rank, compute(core) while that exchange is pending and
        compute(box) for each shell box after it and the boundary conditions (`overlap`).
        compute must give each cell the value it would give it in one call."""
        if self.overlap is None:
            self.fill_ghosts_of(padded)
            compute(None)
            return
        core, shell = self.overlap
        self.exchanger.start(padded)
        if core is not None:
            compute(core)
        self.exchanger.wait(padded)
        if self._faces_to_fill:
            apply_boundaries(padded, self.partition, self.rank, self.bc, self.odd_fields)
        for box in shell:
            compute(box)

    def explicit_limit(self, coefficient):
        """Forward-Euler stable step for du/dt = coefficient ∇²u: 1/(2 κ Σ 1/dx²) [MeV^-1]."""
        return 1.0 / (2.0 * coefficient * sum(1.0 / dx ** 2 for dx in self.spacing))


def overlap_boxes(partition, rank, bc):
    """(core, shell) boxes of this rank's interior cells for a Laplacian that overlaps the
    exchange along the last axis, or None where that axis has no face shared with another rank.

    A side of an axis is late (its ghosts are filled only after `HaloExchanger.wait` and the
    boundary conditions) if it is a global face of a non-periodic kind (lattice.boundary fills
    or amends it after the exchange) or, along the last axis, a face shared with another rank;
    the core leaves out the layer of cells next to each late side. core: ((lo, hi) per axis) or
    None if empty; shell: disjoint boxes covering the other cells."""
    last, shape = partition.ndim - 1, partition.local_shape(rank)
    shared = [partition.neighbour(rank, last, d) for d in (-1, 1)]
    if all(nb is None or nb == rank for nb in shared):
        return None
    coords, lo, hi = partition.coords(rank), [0] * len(shape), list(shape)
    for axis, kind in enumerate(bc):
        for d in (-1, 1):
            nb = partition.neighbour(rank, axis, d)
            on_face = coords[axis] == (0 if d < 0 else partition.process_grid[axis] - 1)
            if (kind != "periodic" and on_face) or (axis == last and nb != rank):
                if d < 0:
                    lo[axis] = min(1, shape[axis])
                else:
                    hi[axis] = max(lo[axis], shape[axis] - 1)
    core = tuple(zip(lo, hi))
    if any(a >= b for a, b in core):
        return None, (tuple((0, n) for n in shape),)
    shell = []
    for axis in range(len(shape)):          # cells outside the core along `axis`, inside it before
        for a, b in ((0, lo[axis]), (hi[axis], shape[axis])):
            if a < b:
                shell.append(tuple(core[k] if k < axis else (a, b) if k == axis else (0, shape[k])
                                   for k in range(len(shape))))
    return core, tuple(shell)
