"""The one communicator interface of the machinery, and its one-rank and MPI implementations.

`Communicator` states what every part of the code may ask of the ranks: collectives (bcast,
barrier, allreduce_*, allgather, alltoall), abort, and the non-blocking point-to-point
messages of the halo exchange (isend, irecv, waitall). Implementations: `SerialComm` (one
rank, no MPI), `MPIComm` (mpi4py) and `lattice.local_comm.LocalComm` (n ranks as threads of
one process, for tests). `world()` gives the driver's: mpi4py's COMM_WORLD when available,
else one rank.

Only rank 0 prints and writes shared files; every global decision (step size, accept/reject,
stop) goes through `allreduce_max`, which is exact and independent of the rank count.
Collectives must be called by every rank, in the same order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Communicator(ABC):
    """What the machinery asks of the ranks of a run.

    Attributes:
        rank: this rank, 0 <= rank < size.
        size: number of ranks.
    """

    rank: int
    size: int

    @property
    def node_rank(self) -> int:
        """This rank's index among the ranks on its node (picks its GPU, lattice.devices); ranks
        of one process (SerialComm, lattice.local_comm) count as one node."""
        return self.rank

    @abstractmethod
    def allreduce_max(self, value):
        """The largest of every rank's (picklable, ordered) `value`, on every rank; exact."""

    @abstractmethod
    def allreduce_sum(self, value):
        """Every rank's `value` (number or numpy array) added, on every rank; the floating-point
        result depends on the rank count (lattice.reductions has rank-count independent sums)."""

    @abstractmethod
    def allreduce_array(self, values, op):
        """Element-wise reduction `op` ("sum" or "max") of a float array over ranks, in one message;
        returns a float64 numpy array of the same shape on every rank."""

    @abstractmethod
    def allgather(self, value):
        """Every rank's (picklable) value, in rank order, on every rank."""

    @abstractmethod
    def bcast(self, value):
        """Rank 0's (picklable) value, on every rank (`value` is ignored on the others)."""

    @abstractmethod
    def alltoall(self, values):
        """values[r] (picklable) goes to rank r; returns, in rank order, what each rank sent here."""

    @abstractmethod
    def barrier(self):
        """Return once every rank has called it."""

    @abstractmethod
    def abort(self, code):
        """End every rank of the job at once with exit status `code` (MPI_Abort)."""

    @abstractmethod
    def isend(self, buf, dest, tag):
        """Start sending the contiguous array `buf` to rank `dest` with integer `tag`; returns a
        request for `waitall`. `buf` must not change until the request has completed."""

    @abstractmethod
    def irecv(self, buf, source, tag):
        """Start receiving into the contiguous array `buf` the message rank `source` sends with
        `tag` (messages of one source and tag arrive in send order); returns a request. `buf`
        holds the data once `waitall` has returned."""

    @abstractmethod
    def waitall(self, requests):
        """Complete every request of `isend`/`irecv` in `requests`."""


class SerialComm(Communicator):
    """One rank: collectives return their argument and there is no other rank to message."""

    rank = 0
    size = 1

    def allreduce_max(self, value):
        return value

    def allreduce_sum(self, value):
        return value

    def allreduce_array(self, values, op):
        return np.asarray(values, dtype=float)

    def allgather(self, value):
        return [value]

    def bcast(self, value):
        return value

    def alltoall(self, values):
        return list(values)

    def barrier(self):
        pass

    def abort(self, code):
        raise SystemExit(code)

    def isend(self, buf, dest, tag):
        raise ValueError(f"a one-rank communicator has no rank {dest} to send to")

    def irecv(self, buf, source, tag):
        raise ValueError(f"a one-rank communicator has no rank {source} to receive from")

    def waitall(self, requests):
        if requests:
            raise ValueError("a one-rank communicator has no requests to complete")


class MPIComm(Communicator):
    """An mpi4py communicator behind the Communicator interface.

    Attributes:
        comm: the mpi4py communicator itself (h5py's parallel 'mpio' driver needs it).
    """

    def __init__(self, comm):
        from mpi4py import MPI

        self._MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self._node_rank = None

    @property
    def node_rank(self) -> int:
        """The rank within this node's shared-memory communicator (MPI_COMM_TYPE_SHARED);
        collective on the first call."""
        if self._node_rank is None:
            node = self.comm.Split_type(self._MPI.COMM_TYPE_SHARED, key=self.rank)
            self._node_rank = node.Get_rank()
            node.Free()
        return self._node_rank

    def allreduce_max(self, value):
        return self.comm.allreduce(value, op=self._MPI.MAX)

    def allreduce_sum(self, value):
        return self.comm.allreduce(value, op=self._MPI.SUM)

    def allreduce_array(self, values, op):
        send = np.ascontiguousarray(values, dtype=float)
        out = np.empty_like(send)
        self.comm.Allreduce(send, out, op={"sum": self._MPI.SUM, "max": self._MPI.MAX}[op])
        return out

    def allgather(self, value):
        return self.comm.allgather(value)

    def bcast(self, value):
        return self.comm.bcast(value, root=0)

    def alltoall(self, values):
        return self.comm.alltoall(values)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code):
        self.comm.Abort(code)

    def isend(self, buf, dest, tag):
        return self.comm.Isend(buf, dest=dest, tag=tag)

    def irecv(self, buf, source, tag):
        return self.comm.Irecv(buf, source=source, tag=tag)

    def waitall(self, requests):
        self._MPI.Request.Waitall(requests)


def world() -> Communicator:
    """COMM_WORLD wrapped, or SerialComm when mpi4py is not installed."""
    try:
        from mpi4py import MPI
    except ImportError:
        return SerialComm()
    return MPIComm(MPI.COMM_WORLD)
