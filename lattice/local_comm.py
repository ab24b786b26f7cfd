"""Several ranks in one process: `LocalComm`, a lattice.parallel.Communicator per thread.

`local_comms(n)` makes n communicators that share one `_World`; `run_ranks(n, fn)` calls
``fn(comm)`` for every rank on its own thread and returns the results in rank order. Tests use
it to run decompositions, halo exchanges, reductions and whole lattice runs on 2-4 ranks
without mpiexec (the idea of NDSL's ndsl/comm/local_comm.py).

Collectives: each rank puts its contribution into its slot of the shared table, waits at a
barrier and reads what it needs. Successive collectives alternate between two tables: a rank
can only come back to a table after the next barrier, which every rank reaches only once it
has read that table, so one barrier per collective suffices. Values travel pickled, as
mpi4py's lowercase methods send them, so no rank ever holds another rank's objects. Reductions
combine the contributions in rank order, the same on every rank, with mpi4py's rules for Python
objects (SUM: x + y; MAX: y if y > x else x).

Point-to-point: `isend` copies the buffer into a mailbox keyed by (source, dest, tag) at once
(so every send completes immediately); `waitall` moves the messages into the receive buffers
in send order, blocking until they have arrived.

A rank that fails, aborts or waits longer than `timeout` seconds breaks the world: every
rank blocked in it (or entering it later) raises `RankFailed` instead of hanging. The ranks
share one interpreter (and its GIL): a collective costs a thread hand-over, some 0.1-0.5 ms,
so this is for correctness checks on small grids, not for speed.
"""

from __future__ import annotations

import collections
import functools
import pickle
import threading

import numpy as np

from lattice.parallel import Communicator

ARRAY_OPS = {"sum": np.add, "max": np.maximum}
"""Element-wise operations of `allreduce_array`."""


class RankFailed(RuntimeError):
    """Raised on a rank waiting for another that failed, aborted or timed out."""


class LocalAbort(RuntimeError):
    """Raised by `LocalComm.abort` on the rank that aborts; `code` is the exit status asked for."""

    def __init__(self, code):
        super().__init__(f"rank aborted with exit status {code}")
        self.code = code


def _mpi_max(x, y):
    """mpi4py's MAX for Python objects."""
    return y if y > x else x


class _World:
    """State shared by the ranks of one `local_comms` call.

    Args:
        size: number of ranks.
        timeout: seconds a rank may wait for the others before the world breaks.
    """

    def __init__(self, size, timeout):
        self.size, self.timeout = size, timeout
        self.gate = threading.Barrier(size, timeout=timeout)
        self.tables = ([None] * size, [None] * size)
        self.mail = collections.defaultdict(collections.deque)   # (source, dest, tag) -> copies
        self.post = threading.Condition()
        self.broken = False

    def meet(self):
        """Wait until every rank has arrived here."""
        try:
            self.gate.wait()
        except threading.BrokenBarrierError:
            self.fail()
            raise RankFailed("another rank failed, aborted or timed out") from None

    def fail(self):
        """Break the world: wake and fail every waiting rank."""
        with self.post:
            self.broken = True
            self.post.notify_all()
        self.gate.abort()

    def deliver(self, key, message):
        with self.post:
            self.mail[key].append(message)
            self.post.notify_all()

    def collect(self, key):
        """The oldest message under `key`, once it has arrived."""
        with self.post:
            arrived = self.post.wait_for(lambda: self.mail[key] or self.broken, self.timeout)
            if arrived and not self.broken:
                return self.mail[key].popleft()
        self.fail()
        raise RankFailed(f"no message (source, dest, tag) = {key}: a rank failed or timed out")


class _Receive:
    """A posted `irecv`: the buffer to fill and the mailbox to take from."""

    def __init__(self, buf, key):
        self.buf, self.key = buf, key


class LocalComm(Communicator):
    """Rank `rank` of a `_World` of threads (make them with `local_comms`)."""

    def __init__(self, world, rank):
        self.world, self.rank, self.size = world, rank, world.size
        self._calls = 0      # collectives so far: picks the table of the next one

    def _gather(self, payload, pick):
        """Every rank's `payload` (pickled bytes or lists of them) -> pick(slots), after a barrier."""
        slots = self.world.tables[self._calls % 2]
        self._calls += 1
        slots[self.rank] = payload
        self.world.meet()
        return pick(slots)

    def allgather(self, value):
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        return self._gather(data, lambda slots: [pickle.loads(s) for s in slots])

    def bcast(self, value):
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL) if self.rank == 0 else None
        return self._gather(data, lambda slots: pickle.loads(slots[0]))

    def alltoall(self, values):
        if len(values) != self.size:
            raise ValueError(f"alltoall needs {self.size} values, one per rank, got {len(values)}")
        data = [pickle.dumps(v, pickle.HIGHEST_PROTOCOL) for v in values]
        return self._gather(data, lambda slots: [pickle.loads(s[self.rank]) for s in slots])

    def allreduce_sum(self, value):
        return functools.reduce(lambda x, y: x + y, self.allgather(value))

    def allreduce_max(self, value):
        return functools.reduce(_mpi_max, self.allgather(value))

    def allreduce_array(self, values, op):
        parts = self.allgather(np.ascontiguousarray(values, dtype=float))
        return functools.reduce(ARRAY_OPS[op], parts)

    def barrier(self):
        self._gather(None, lambda slots: None)

    def abort(self, code):
        self.world.fail()
        raise LocalAbort(code)

    def isend(self, buf, dest, tag):
        """Copy `buf` into the mailbox now; the returned request (None) is already complete."""
        self._check_peer(dest)
        self.world.deliver((self.rank, dest, tag), buf.copy())
        return None

    def irecv(self, buf, source, tag):
        self._check_peer(source)
        return _Receive(buf, (source, self.rank, tag))

    def waitall(self, requests):
        for request in requests:
            if request is not None:
                request.buf[...] = self.world.collect(request.key)

    def _check_peer(self, other):
        if not 0 <= other < self.size:
            raise ValueError(f"rank {other} is not one of the {self.size} ranks")


def local_comms(n, timeout=300.0):
    """n communicators, ranks 0 .. n-1, sharing one world; drive each from its own thread.

    Args:
        n: number of ranks.
        timeout: seconds a rank may wait in a collective or for a message [s].
    """
    world = _World(n, timeout)
    return [LocalComm(world, r) for r in range(n)]


def run_ranks(n, fn, timeout=300.0):
    """``fn(comm)`` on n ranks, each on its own thread; returns the results in rank order.

    `timeout` [s] as for `local_comms`.

    If a rank raises, the world breaks (the others raise RankFailed instead of waiting) and the
    first rank's own exception is raised here, after every thread has ended.
    """
    comms = local_comms(n, timeout)
    results, errors = [None] * n, [None] * n

    def body(comm):
        try:
            results[comm.rank] = fn(comm)
        except BaseException as exc:  # re-raised below, on the calling thread
            errors[comm.rank] = exc
            comm.world.fail()

    threads = [threading.Thread(target=body, args=(c,), name=f"local-rank-{c.rank}") for c in comms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failures = [e for e in errors if e is not None]
    if failures:
        raise next((e for e in failures if not isinstance(e, RankFailed)), failures[0])
    return results
