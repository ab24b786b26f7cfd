"""The communicator the driver uses: mpi4py's COMM_WORLD when available, else one rank.

Only rank 0 prints and writes shared files; every global decision (step size, accept/reject,
stop) goes through `allreduce_max`, which is exact and independent of the rank count.
"""

from __future__ import annotations

import numpy as np


class SerialComm:
    """A one-rank stand-in with the same methods as MPIComm."""

    rank = 0
    size = 1

    def allreduce_max(self, value):
        return value

    def allreduce_sum(self, value):
        return value

    def allreduce_array(self, values, op):
        """Element-wise reduction ("sum" or "max") of a float array over ranks."""
        return np.asarray(values, dtype=float)

    def allgather(self, value):
        return [value]

    def bcast(self, value):
        """Rank 0's (picklable) value, on every rank."""
        return value

    def alltoall(self, values):
        """values[r] goes to rank r; returns what every rank sent to this one."""
        return list(values)

    def barrier(self):
        pass


class MPIComm:
    """Thin wrapper around an mpi4py communicator."""

    def __init__(self, comm):
        from mpi4py import MPI

        self._MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    def allreduce_max(self, value):
        return self.comm.allreduce(value, op=self._MPI.MAX)

    def allreduce_sum(self, value):
        return self.comm.allreduce(value, op=self._MPI.SUM)

    def allreduce_array(self, values, op):
        """Element-wise reduction ("sum" or "max") of a float array over ranks, in one message."""
        send = np.ascontiguousarray(values, dtype=float)
        out = np.empty_like(send)
        self.comm.Allreduce(send, out, op={"sum": self._MPI.SUM, "max": self._MPI.MAX}[op])
        return out

    def allgather(self, value):
        """Every rank's (picklable) value, in rank order, on every rank."""
        return self.comm.allgather(value)

    def bcast(self, value):
        """Rank 0's (picklable) value, on every rank."""
        return self.comm.bcast(value, root=0)

    def abort(self, code):
        """End every rank of the job at once (MPI_Abort) with exit status `code`."""
        self.comm.Abort(code)

    def alltoall(self, values):
        """values[r] (picklable) goes to rank r; returns, in rank order, what each rank sent here."""
        return self.comm.alltoall(values)

    def barrier(self):
        self.comm.Barrier()


def world():
    """COMM_WORLD wrapped, or SerialComm when mpi4py is not installed."""
    try:
        from mpi4py import MPI
    except ImportError:
        return SerialComm()
    return MPIComm(MPI.COMM_WORLD)
