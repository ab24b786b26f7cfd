"""Several ranks in one process (lattice.local_comm): the communicator itself, then halos,
reproducible sums, grid doubling and whole lattice runs on 2-4 threads-as-ranks against one rank."""
import threading
import time

import numpy as np
import pytest

import mpi_halo_check as check
from conftest import INPUT
from lattice.doubling import coarsen
from lattice.driver import run
from lattice.grid import Lattice
from lattice.local_comm import LocalAbort, RankFailed, local_comms, run_ranks
from lattice.parallel import SerialComm
from lattice.partition import Partition
from lattice.reductions import ReproducibleSums
from scripts.models import load_deck


def _global(part, blocks):
    """The global array (n_fields, *global_shape) from every rank's block (n_fields, *local_shape)."""
    out = np.empty(blocks[0].shape[:1] + part.global_shape, dtype=blocks[0].dtype)
    for r, block in enumerate(blocks):
        out[(slice(None),) + part.global_slice(r)] = block
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_collectives(n):
    def body(comm):
        r = comm.rank
        mine = np.full(2, float(r))
        got = {
            "bcast": comm.bcast(("root", r)),
            "allgather": comm.allgather(r * 10),
            "alltoall": comm.alltoall([(r, q) for q in range(comm.size)]),
            "sum": comm.allreduce_sum(r + 0.5),
            "max": comm.allreduce_max(-r),
            "array_sum": comm.allreduce_array(mine, "sum"),
            "array_max": comm.allreduce_array([r, -r], "max"),
        }
        mine[:] = -1.0          # the values sent are copies: changing them now changes nothing
        got["after"] = comm.allgather(mine)
        comm.barrier()
        return got

    out = run_ranks(n, body)
    for r, got in enumerate(out):
        assert got["bcast"] == ("root", 0)
        assert got["allgather"] == [10 * q for q in range(n)]
        assert got["alltoall"] == [(q, r) for q in range(n)]
        assert got["sum"] == sum(q + 0.5 for q in range(n)) and got["max"] == 0
        assert np.array_equal(got["array_sum"], np.full(2, float(sum(range(n)))))
        assert np.array_equal(got["array_max"], [n - 1, 0]) and got["array_max"].dtype == np.float64
        assert all(np.array_equal(a, [-1.0, -1.0]) for a in got["after"])


def test_point_to_point_keeps_send_order_and_copies_at_send():
    def body(comm):
        other = 1 - comm.rank
        first, second = np.empty(3), np.empty(3)
        reqs = [comm.irecv(first, other, 7), comm.irecv(second, other, 7)]
        data = np.arange(3.0) + 10 * comm.rank
        reqs.append(comm.isend(data, other, 7))
        data += 100.0               # after isend: not seen by the receiver
        reqs.append(comm.isend(data, other, 7))
        comm.waitall(reqs)
        return first, second

    for r, (first, second) in enumerate(run_ranks(2, body)):
        sent = np.arange(3.0) + 10 * (1 - r)
        assert np.array_equal(first, sent) and np.array_equal(second, sent + 100.0)
    with pytest.raises(ValueError, match="not one of"):
        local_comms(2)[0].isend(np.zeros(1), 2, 0)


def test_a_failing_rank_fails_the_others_instead_of_hanging():
    def body(comm):
        if comm.rank == 1:
            raise KeyError("rank 1 broke")
        comm.barrier()                  # rank 0 and 2 would wait here forever

    start = time.perf_counter()
    with pytest.raises(KeyError, match="rank 1 broke"):
        run_ranks(3, body)
    with pytest.raises(LocalAbort) as info:
        run_ranks(2, lambda comm: comm.abort(3) if comm.rank == 0 else comm.allgather(1))
    assert info.value.code == 3
    with pytest.raises(RankFailed):          # a message that never comes: the timeout ends it
        run_ranks(2, lambda comm: comm.waitall([comm.irecv(np.empty(1), 1 - comm.rank, 0)]), timeout=0.2)
    assert time.perf_counter() - start < 5.0
    assert not [t for t in threading.enumerate() if t.name.startswith("local-rank")]


@pytest.mark.parametrize("n, ncases", [(2, 44), (3, 44), (4, 68)])
def test_halo_exchange_and_reproducible_sums_on_every_partition(n, ncases):
    """mpi_halo_check's cases (1D/2D/3D, halo 1 and 2, every periodicity and process grid): ghosts
    as one rank fills them, reproducible sums with the bits of one rank."""
    for count, errors in run_ranks(n, check.run_cases):
        assert errors == [] and count == ncases


@pytest.mark.parametrize("shape, n", [((8, 6), 2), ((8, 6), 4), ((6, 5, 4), 3), ((6, 5, 4), 4)])
@pytest.mark.parametrize("bc", ["periodic", "neumann", "offdiag_zero"])
def test_lattice_ghosts_and_laplacian_match_one_rank(shape, n, bc):
    """Lattice.fill_ghosts (exchange, then boundary conditions) and the Laplacian: every rank's
    padded block is the window of the one-rank padded array, bit for bit."""
    n_fields, box = 4, tuple(0.5 * m for m in shape)
    u = np.random.default_rng(len(shape) + n).standard_normal((n_fields,) + shape)

    def body(comm):
        lat = Lattice(shape, box, (bc,) * len(shape), n_fields, comm, odd_fields=(1, 2))
        mine = np.ascontiguousarray(u[(slice(None),) + lat.global_slice])
        return lat.partition, lat.fill_ghosts(mine).copy(), lat.laplacian(mine)

    (one, padded, lap), = run_ranks(1, body)
    h = one.halo
    results = run_ranks(n, body)
    part = results[0][0]
    for r, (_, block, _) in enumerate(results):
        window = tuple(slice(o, o + m + 2 * h) for o, m in zip(part.offset(r), part.local_shape(r)))
        assert np.array_equal(block, padded[(slice(None),) + window], equal_nan=True), r
    assert np.array_equal(_global(part, [res[2] for res in results]), lap)


@pytest.mark.parametrize("cuts", [[0, 100, 999], [0, 400, 410, 999]], ids=["2 ranks", "3 ranks"])
def test_reproducible_sums_have_the_bits_of_one_rank(cuts):
    """ReproducibleSums over columns spread unevenly on the ranks (rank r holds cuts[r]:cuts[r + 1])
    give the one-rank bits, also where the ranks' largest terms are decades apart (their bins
    are shifted to the global top before the sum), where a rank holds only zeros, and a NaN on
    one rank makes its row NaN everywhere."""
    n = len(cuts) - 1
    rng = np.random.default_rng(11)
    terms = rng.standard_normal((5, 999)) * np.exp(rng.uniform(-30, 30, (5, 999)))
    terms[3, cuts[1]:] *= 1e-40                    # the last ranks' terms far below rank 0's
    terms[4, :cuts[1]] = 0.0                       # rank 0 holds only zeros in this row
    terms = np.concatenate((terms, terms[:1]))
    terms[5, cuts[-2]] = np.nan

    def body(comm):
        mine = np.ascontiguousarray(terms[:, cuts[comm.rank]:cuts[comm.rank + 1]])
        return ReproducibleSums(comm, terms.shape[1]).row_sums(mine), comm.allreduce_sum(mine.sum(axis=1))

    want = ReproducibleSums(SerialComm(), terms.shape[1]).row_sums(terms)
    assert np.isnan(want[5]) and want[3] != 0.0
    results = run_ranks(n, body)
    assert all(np.array_equal(sums, want, equal_nan=True) for sums, _ in results)
    assert all(np.array_equal(plain, results[0][1], equal_nan=True) for _, plain in results)   # the same on every rank


@pytest.mark.parametrize("shape, n", [((8, 8), 2), ((8, 8), 3), ((4, 6, 4), 4)])
@pytest.mark.parametrize("method", ["drop", "average"])
def test_grid_doubling_redistribution_matches_one_rank(shape, n, method):
    u = np.random.default_rng(5).standard_normal((3,) + shape)
    want = coarsen(u, Partition.create(1, shape), SerialComm(), method)
    part = Partition.create(n, shape)

    def body(comm):
        return coarsen(np.ascontiguousarray(u[(slice(None),) + part.global_slice(comm.rank)]), part, comm, method)

    assert np.array_equal(_global(part, run_ranks(n, body)), want)


def _run_on(n, deck_name, overrides):
    """A lattice run in memory on one rank (SerialComm) or n threads-as-ranks; returns the
    global final state and rank 0's result."""
    deck, schema = load_deck(INPUT / deck_name, list(overrides) + ["output.progress=none"])
    if n == 1:
        result = run(deck, schema, write=False, comm=SerialComm())
        return result.state, result
    results = run_ranks(n, lambda comm: run(deck, schema, write=False, comm=comm))
    part = Partition.create(n, deck.grid.shape, process_grid=deck.grid.process_grid)
    return _global(part, [r.state for r in results]), results[0]


def _assert_same_run(base, other):
    """Final fields and step counts bitwise; the sampled averages (plain sums of per-rank sums,
    lattice.sampling) to rounding."""
    assert np.array_equal(other[0], base[0])
    assert {k: v for k, v in other[1].stats.items() if k != "wall_s"} == \
        {k: v for k, v in base[1].stats.items() if k != "wall_s"}
    for name, values in base[1].series.items():
        np.testing.assert_allclose(other[1].series[name], values, rtol=1e-13, atol=0, equal_nan=True)


SHORT = ["integrator.rtol=1e-3", "time.T_start_MeV=24", "output.samples=3"]


@pytest.mark.parametrize("method", ["rodas4", "auto"])
def test_2d_lattice_run_on_two_ranks_equals_one_rank(method):
    """The GMRES stage solver (reproducible inner products, halo exchanges) on an 8 x 8 grid; with
    method auto also the switching between Rodas4 and DOPRI5 (lattice.switching: its ρ
    estimates and stiffness tests), which switches here."""
    overrides = SHORT + ["grid.shape=[8, 8]", "time.T_end_MeV=23.997", f"integrator.method={method}",
                         "integrator.probe_steps=50"]
    base = _run_on(1, "lattice_2d_laptop.yaml", overrides)
    if method == "auto":
        assert base[1].stats["switches"] >= 2
    _assert_same_run(base, _run_on(2, "lattice_2d_laptop.yaml", overrides))


def test_1d_direct_run_with_a_doubling_on_two_and_three_ranks_equals_one_rank():
    """The compiled line engine (gathered line), with a grid doubling (all-to-all) at the first sample."""
    overrides = SHORT + ["grid.shape=[24]", "time.T_end_MeV=23.98", "integrator.stage_solver=direct",
                         "grid.doubling_cells_per_lD=0.5", "grid.max_doublings=1"]
    base = _run_on(1, "lattice_1d_laptop.yaml", overrides)
    assert base[1].series["doubling_level"][-1] == 1
    for n in (2, 3):
        _assert_same_run(base, _run_on(n, "lattice_1d_laptop.yaml", overrides))


@pytest.mark.parametrize("n", [2, 4])
def test_an_implicit_attempt_with_a_delayed_second_pass_on_several_ranks_equals_one_rank(n):
    """One Rodas4 attempt on 64² at dt·H = 1e-6, whose GMRES takes a second Gram–Schmidt pass
    delayed into the next iteration's sums (lattice.krylov._lagged_pass, corrected on the host
    from the reproducible sums): the new state and the error norm bitwise those of one rank,
    with the same iterations and passes."""
    from lattice.assembly import assemble

    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml", ["grid.shape=[64, 64]", "seed.kind=sine",
                                                               "seed.amplitude=3e-11", "integrator.method=rodas4"])

    def attempt(comm):
        parts = assemble(deck, schema.spec, comm)
        cosmology, T = parts.system.cosmology, deck.time.T_start_MeV
        y_new, error = parts.stepper.attempt(cosmology.time(T), parts.y, 1e-6 / cosmology.hubble(T))
        stats = parts.stepper.system.stats
        return y_new, error, (stats.iterations, stats.reorthogonalised)

    one = attempt(SerialComm())
    assert one[2][1] >= 1
    ranks = run_ranks(n, attempt)
    part = Partition.create(n, deck.grid.shape, process_grid=deck.grid.process_grid)
    assert np.array_equal(_global(part, [r[0] for r in ranks]), one[0])
    assert all(r[1] == one[1] and r[2] == one[2] for r in ranks)
