"""Planned halo exchange for a set of fields on a :class:`~lattice.partition.Partition`.

The field set of one rank is a single array of shape ``(n_fields, *padded_shape(rank))``.
Axes are swept in order 0, 1, 2: the strips sent along axis ``a`` span the full padded
extent of the other axes, including the ghosts already received along earlier axes, so
edge and corner ghosts come out right. Each face carries all ``n_fields`` fields in ONE
message, through contiguous buffers allocated once, at planning time. Messages go through the
communicator's non-blocking point-to-point methods (`isend`, `irecv`, `waitall` of
:class:`lattice.parallel.Communicator`), so any communicator of lattice.parallel or
lattice.local_comm carries them.

Ghosts beyond a non-periodic physical boundary are not written by the sweep along that
axis (a boundary-condition module fills them). Corner/edge ghosts lying beyond such a
boundary along one axis but inside the domain along another receive whatever the
neighbour holds in its own (untouched) physical ghosts, i.e. apply boundary conditions
after the exchange, or apply them before it identically on every rank.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Tuple

import numpy as np

from kernels import numpy_ops
from kernels.backend import backend_for
from lattice.parallel import SerialComm
from lattice.partition import Partition, assert_halo_covers_stencil


def _tag(tag_base: int, axis: int, direction: int) -> int:
    """Tag of a message travelling along ``axis`` in ``direction`` (+1/-1)."""
    return tag_base + 2 * axis + (direction > 0)


@dataclass
class _Face:
    """One face of one axis exchanged with another rank through the communicator."""

    nb: int                      # neighbour rank (both sends to and receives from it)
    send_idx: Tuple[slice, ...]  # interior strip packed, leading field axis included
    recv_idx: Tuple[slice, ...]  # ghost strip filled
    send_tag: int
    recv_tag: int
    pack: Any                    # contiguous xp buffer the strip is packed into
    unpack: Any                  # contiguous xp buffer the strip is unpacked from
    send_msg: Any                # buffer handed to isend (host copy when staged)
    recv_msg: Any                # buffer handed to irecv (host copy when staged)


class HaloExchanger:
    """Halo exchange planned once for a field set of shape ``(n_fields, *padded_shape)``.

    Usage: ``ex.exchange(u)``, or ``ex.start(u)``; compute on the interior; ``ex.wait(u)``.
    ``start`` completes axes ``0 .. ndim-2`` (the sweep needs their ghosts before the next
    axis can be packed) and posts the last axis non-blocking; ``wait`` completes it. Between
    the two, do not read ghost cells of ``u`` or write its ghost cells; interior writes are
    safe (the outgoing strips are already packed).

    Args:
        partition: The decomposition; ``partition.halo`` is the ghost width (cells).
        n_fields: Number of fields (leading axis of the exchanged array).
        dtype: Element type of the array (any numpy dtype mpi4py can map).
        comm: :class:`lattice.parallel.Communicator` whose ``size`` is ``partition.nranks``; this
            rank is ``comm.rank``. None means one rank (SerialComm).
        xp: Array module, ``numpy`` or ``cupy``.
        cuda_aware: With CuPy, hand device buffers straight to MPI (needs CUDA-aware MPI);
            otherwise device strips are staged through pinned host buffers.
        stencil_radius: Widest stencil reach (cells); must not exceed ``partition.halo``.
        tag_base: Offset of the ``2 * ndim`` tags used, for concurrent exchangers.

    Attributes:
        rank: This rank (``comm.rank``).
        bytes_per_exchange: Bytes this rank sends to other ranks per exchange (same-rank
            copies excluded).
        messages_per_exchange: Messages this rank sends to other ranks per exchange.
        bytes_sent: Cumulative bytes sent; ``n_exchanges``: exchanges started.
    """

    def __init__(self, partition: Partition, n_fields: int, dtype=np.float64, comm=None, xp=np,
                 cuda_aware: bool = False, stencil_radius: int = 1, tag_base: int = 0):
        assert_halo_covers_stencil(partition.halo, stencil_radius)
        if n_fields < 1:
            raise ValueError(f"n_fields must be >= 1, got {n_fields}")
        self.comm = SerialComm() if comm is None else comm
        if self.comm.size != partition.nranks:
            raise ValueError(f"a {self.comm.size}-rank communicator does not fit "
                             f"process_grid={partition.process_grid}")
        self.partition, self.rank, self.xp = partition, self.comm.rank, xp
        self.dtype = np.dtype(dtype)
        self.shape = (n_fields,) + partition.padded_shape(self.rank)
        self.device = xp is not np
        self.staged = self.device and not cuda_aware
        self._wraps: List[bool] = []          # per axis: wraps onto this rank (both faces copied locally)
        self._faces: List[List[_Face]] = []   # per axis: faces shared with other ranks
        self._stacks: List[tuple] = []        # per axis: the faces' (pack, unpack, send, recv) buffers
        for axis in range(partition.ndim):
            wraps, faces = self._plan_axis(axis, tag_base)
            self._wraps.append(wraps)
            self._faces.append(faces)
        flat = [f for faces in self._faces for f in faces]
        self.messages_per_exchange = len(flat)
        self.bytes_per_exchange = sum(f.pack.nbytes for f in flat)
        self.bytes_sent = self.n_exchanges = 0
        self._pending = None
        self._wrap = backend_for(xp).wrap_axis if self.dtype == np.float64 else numpy_ops.wrap_axis
        """Both faces of an axis this rank holds whole: one pass (kernels: the backend's wrap_axis)."""

    def _plan_axis(self, axis: int, tag_base: int):
        """(wraps, faces) of one axis: whether it wraps onto this rank (one rank along a periodic
        axis: both faces are filled from the opposite strips, `wrap_axis`), and the faces shared
        with other ranks. The faces' strips (same shape on both sides) are slices of one
        contiguous buffer per direction, so that staged strips cross between device and host in
        one copy per axis."""
        p, r, lead = self.partition, self.rank, (slice(None),)
        wraps, remote = False, []
        for d in (-1, 1):
            nb = p.neighbour(r, axis, d)
            if nb is None:
                continue  # physical boundary: ghosts left to the boundary conditions
            recv_idx = lead + p.recv_slice(r, axis, d)
            if nb == r:  # one rank along a periodic axis: the strip sent towards -d lands here
                wraps = True
                continue
            remote.append((d, nb, recv_idx))
        strip = list(self.shape)
        strip[axis + 1] = p.halo
        stacked = [len(remote)] + strip
        packs, unpacks = self.xp.empty(stacked, self.dtype), self.xp.empty(stacked, self.dtype)
        sends, recvs = packs, unpacks
        if self.staged and remote:
            import cupyx

            sends, recvs = cupyx.empty_pinned(stacked, self.dtype), cupyx.empty_pinned(stacked, self.dtype)
        self._stacks.append((packs, unpacks, sends, recvs))
        faces = [_Face(nb, lead + p.send_slice(r, axis, d), recv_idx, _tag(tag_base, axis, d),
                       _tag(tag_base, axis, -d), packs[i], unpacks[i], sends[i], recvs[i])
                 for i, (d, nb, recv_idx) in enumerate(remote)]
        return wraps, faces

    def _post(self, axis: int, array) -> list:
        faces = self._faces[axis]
        reqs = [self.comm.irecv(f.recv_msg, f.nb, f.recv_tag) for f in faces]
        for f in faces:
            f.pack[...] = array[f.send_idx]
        if faces and self.staged:
            packs, _, sends, _ = self._stacks[axis]
            packs.get(out=sends)  # one blocking device-to-host copy for the axis's faces
        if faces and self.device and not self.staged:
            self.xp.cuda.get_current_stream().synchronize()  # packs done before the sends read
        reqs += [self.comm.isend(f.send_msg, f.nb, f.send_tag) for f in faces]
        if self._wraps[axis]:
            self._wrap(array, axis, self.partition.halo)
        return reqs

    def _complete(self, axis: int, array, reqs: list) -> None:
        if reqs:
            self.comm.waitall(reqs)
        faces = self._faces[axis]
        if faces and self.staged:
            _, unpacks, _, recvs = self._stacks[axis]
            unpacks.set(recvs)  # one host-to-device copy for the axis's faces
        for f in faces:
            array[f.recv_idx] = f.unpack

    def start(self, array) -> None:
        """Exchange axes ``0 .. ndim-2`` and post the last axis (see class docstring).

        Args:
            array: ``xp`` array of shape ``(n_fields, *padded_shape(rank))`` and ``dtype``.
        """
        if self._pending is not None:
            raise RuntimeError("start() called twice without wait()")
        if not isinstance(array, self.xp.ndarray) or array.shape != self.shape \
                or array.dtype != self.dtype:
            raise ValueError(f"expected {self.xp.__name__} array {self.shape} {self.dtype}, got "
                             f"{type(array).__name__} {getattr(array, 'shape', None)} "
                             f"{getattr(array, 'dtype', None)}")
        last = self.partition.ndim - 1
        for axis in range(last):
            self._complete(axis, array, self._post(axis, array))
        self._pending = (array, self._post(last, array))
        self.bytes_sent += self.bytes_per_exchange
        self.n_exchanges += 1

    def wait(self, array) -> None:
        """Complete the exchange begun by :meth:`start` on the same ``array``."""
        if self._pending is None or self._pending[0] is not array:
            raise RuntimeError("wait() without a matching start() on this array")
        _, reqs = self._pending
        self._pending = None
        self._complete(self.partition.ndim - 1, array, reqs)

    def exchange(self, array) -> None:
        """Fill all ghost cells of ``array`` reachable by exchange (start + wait)."""
        self.start(array)
        self.wait(array)
