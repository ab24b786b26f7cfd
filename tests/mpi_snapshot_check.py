"""Run under mpiexec: parallel snapshots and checkpoints reproduce a known global array exactly.

    mpiexec -n N python -m mpi4py tests/mpi_snapshot_check.py write DIR
        for a 2-D and a 1-D lattice: every rank writes its block of a known global array as a
        snapshot and a checkpoint (twice, so the second overwrites the first), then reads them
        back; rank 0 compares the global arrays, every rank its own checkpoint block.
    mpiexec -n M python -m mpi4py tests/mpi_snapshot_check.py read DIR
        reads the checkpoints and snapshots written by `write` on another rank count.
Any mismatch raises, and `python -m mpi4py` turns that into MPI_Abort: non-zero exit status.
"""

import os
import sys

import numpy as np

from lattice.checkpoint import read_checkpoint, write_checkpoint
from lattice.parallel import world
from lattice.partition import Partition
from lattice.snapshots import SnapshotWriter, read_snapshot

CASES = {"2d": (7, 5), "1d": (11,)}
NAMES = ("P0p", "Pzm", "Pxp")


def known(shape, generation=1):
    """The global state (n_fields, *shape): random doubles, reproducible from the shape."""
    rng = np.random.default_rng([len(shape), *shape, generation])
    return rng.standard_normal((len(NAMES),) + tuple(shape))


def meta(generation):
    return {"t": 0.1 + 0.2 * generation, "T": 17.25, "step": 40 * generation, "h": 1e-7 / 3,
            "rng": '{"bit_generator": "PCG64", "state": {"state": 12345678901234567890}}',
            "level": 1, "counters": {"accepted": 39, "rejected": [1, 2]}}


def check_checkpoint(path, comm, part, generation):
    state, got = read_checkpoint(path, comm, part)
    want = known(part.global_shape, generation)[(slice(None),) + part.global_slice(comm.rank)]
    assert state.dtype == want.dtype and np.array_equal(state, want), f"{path} rank {comm.rank}"
    assert got == meta(generation), (got, meta(generation))


def check_snapshot(path, shape, attrs=None):
    fields, got = read_snapshot(path)
    want = known(shape)
    assert list(fields) == list(NAMES), list(fields)
    for i, name in enumerate(NAMES):
        assert np.array_equal(fields[name], want[i]), f"{path}: field {name} differs"
    for key, value in (attrs or {}).items():
        assert np.array_equal(got[key], value), (key, got[key], value)


def write(root, comm):
    for tag, shape in CASES.items():
        part = Partition.create(comm.size, shape)
        block = (slice(None),) + part.global_slice(comm.rank)
        attrs = {"T": 17.25, "t": 0.5, "step": 40, "level": 1, "dx": (0.25,) * len(shape),
                 "origin": (-1.0,) * len(shape), "deck": f"lattice: {tag}\n"}
        writer = SnapshotWriter(os.path.join(root, tag), part, comm, NAMES)
        path = writer.write(7, known(shape)[block], attrs)
        ckpt = os.path.join(root, tag, "restart.h5")
        for generation in (1, 2):
            write_checkpoint(ckpt, comm, part, known(shape, generation)[block], meta(generation))
            check_checkpoint(ckpt, comm, part, generation)
        if comm.rank == 0:
            check_snapshot(path, shape, attrs={"T": 17.25, "step": 40, "dx": attrs["dx"]})
            print(f"ok write {tag} {part.process_grid} on {comm.size} ranks "
                  f"({writer.strategy.name})")


def read(root, comm):
    for tag, shape in CASES.items():
        part = Partition.create(comm.size, shape)
        check_checkpoint(os.path.join(root, tag, "restart.h5"), comm, part, 2)
        if comm.rank == 0:
            check_snapshot(os.path.join(root, tag, "snapshots", "snap_000007.h5"), shape)
            print(f"ok read {tag} {part.process_grid} on {comm.size} ranks")


if __name__ == "__main__":
    mode, directory = sys.argv[1], sys.argv[2]
    communicator = world()
    {"write": write, "read": read}[mode](directory, communicator)
    communicator.barrier()
