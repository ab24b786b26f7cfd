"""Tests for lattice.partition (pure, no MPI)."""
import itertools
import math

import numpy as np
import pytest

from lattice.partition import Partition, assert_halo_covers_stencil, choose_process_grid

SHAPES = [(64,), (100,), (7,), (8, 8), (64, 3), (13, 17), (4, 4, 4), (16, 8, 2), (5, 7, 9)]
NRANKS = range(1, 65)


def _valid_grids(nranks, shape):
    return [g for g in itertools.product(*(range(1, n + 1) for n in shape))
            if math.prod(g) == nranks]


def _partition_or_none(nranks, shape, halo=0, periodic=None):
    try:
        grid = choose_process_grid(nranks, shape)
    except ValueError:
        assert not _valid_grids(nranks, shape), (nranks, shape)
        return None
    return Partition.create(nranks, shape, halo=halo, periodic=periodic, process_grid=grid)


@pytest.mark.parametrize("shape", SHAPES)
def test_choose_process_grid(shape):
    for nranks in NRANKS:
        p = _partition_or_none(nranks, shape)
        if p is None:
            continue
        assert math.prod(p.process_grid) == nranks == p.nranks
        assert all(1 <= q <= n for q, n in zip(p.process_grid, shape))
        assert choose_process_grid(nranks, shape) == p.process_grid  # deterministic


def test_choose_process_grid_prefers_long_axes_and_balance():
    assert choose_process_grid(4, (100, 10)) == (4, 1)
    assert choose_process_grid(4, (10, 100)) == (1, 4)
    assert choose_process_grid(8, (8, 8, 8)) == (2, 2, 2)
    assert choose_process_grid(2, (8, 8, 8)) == (2, 1, 1)
    assert choose_process_grid(4, (64, 64, 1)) == (2, 2, 1)
    assert choose_process_grid(12, (4, 3)) == (4, 3)  # greedy prime splitting would fail


@pytest.mark.parametrize("shape", SHAPES)
def test_slices_tile_global_array_exactly_once(shape):
    for nranks in NRANKS:
        p = _partition_or_none(nranks, shape, halo=1)
        if p is None:
            continue
        count = np.zeros(shape, dtype=int)
        for r in range(nranks):
            sl = p.global_slice(r)
            assert count[sl].shape == p.local_shape(r)
            assert tuple(s.start for s in sl) == p.offset(r)
            assert p.rank_of(p.coords(r)) == r
            assert p.padded_shape(r) == tuple(m + 2 for m in p.local_shape(r))
            count[sl] += 1
        assert (count == 1).all(), (nranks, shape, p.process_grid)
        for a, (n, q) in enumerate(zip(shape, p.process_grid)):
            ranks = [p.rank_of(tuple(c if b == a else 0 for b in range(len(shape))))
                     for c in range(q)]
            sizes = [p.local_shape(r)[a] for r in ranks]
            assert sizes == [n // q + (c < n % q) for c in range(q)]


def test_row_major_ordering_matches_cart_create():
    p = Partition((6, 6, 6), (2, 3, 2))
    expected = list(itertools.product(range(2), range(3), range(2)))
    assert [p.coords(r) for r in range(p.nranks)] == expected


@pytest.mark.parametrize("shape", SHAPES)
def test_neighbours_consistent(shape):
    patterns = list(itertools.product((False, True), repeat=len(shape)))
    for nranks in NRANKS:
        for periodic in patterns:
            p = _partition_or_none(nranks, shape, periodic=periodic)
            if p is None:
                break
            for r in range(nranks):
                c = p.coords(r)
                for a in range(len(shape)):
                    for d in (1, -1):
                        nb = p.neighbour(r, a, d)
                        at_edge = c[a] == (p.process_grid[a] - 1 if d == 1 else 0)
                        if at_edge and not periodic[a]:
                            assert nb is None
                            continue
                        assert nb is not None and p.neighbour(nb, a, -d) == r
                        nc = p.coords(nb)
                        assert all(nc[b] == c[b] for b in range(len(shape)) if b != a)
                        assert nc[a] == (c[a] + d) % p.process_grid[a]
                        if p.process_grid[a] == 1:
                            assert nb == r


def _exchange(p, global_array):
    """Simulate a halo exchange, axis by axis, with NaN-initialised ghosts."""
    local = {}
    for r in range(p.nranks):
        a = np.full(p.padded_shape(r), np.nan)
        a[p.interior_slice(r)] = global_array[p.global_slice(r)]
        local[r] = a
    for axis in range(p.ndim):
        msgs = [(p.neighbour(r, axis, d), d, local[r][p.send_slice(r, axis, d)].copy())
                for r in range(p.nranks) for d in (1, -1)]
        for nb, d, buf in msgs:
            if nb is not None:
                local[nb][p.recv_slice(nb, axis, -d)] = buf
    return local


@pytest.mark.parametrize("shape,grid,halo,periodic", [
    ((13,), (4,), 2, (True,)),
    ((13,), (4,), 3, (False,)),
    ((13, 17), (3, 4), 2, (True, True)),
    ((13, 17), (3, 4), 1, (True, False)),
    ((13, 17), (1, 4), 2, (True, False)),
    ((9, 8, 7), (2, 2, 3), 2, (True, True, True)),
    ((9, 8, 7), (3, 1, 2), 1, (False, True, True)),
    ((6, 6), (2, 2), 0, (True, True)),
])
def test_halo_exchange_matches_padded_global(shape, grid, halo, periodic):
    p = Partition(shape, grid, halo, periodic)
    g = np.arange(math.prod(shape), dtype=float).reshape(shape)
    ref = g
    for a, per in enumerate(periodic):
        width = [(halo, halo) if b == a else (0, 0) for b in range(len(shape))]
        kw = {"mode": "wrap"} if per else {"constant_values": np.nan}
        ref = np.pad(ref, width, **kw)
    for r, arr in _exchange(p, g).items():
        o = p.offset(r)
        window = tuple(slice(oa, oa + m) for oa, m in zip(o, p.padded_shape(r)))
        np.testing.assert_array_equal(arr, ref[window])


def _raises(match, fn, *args, **kwargs):
    with pytest.raises(ValueError, match=match):
        fn(*args, **kwargs)


def test_errors_name_offending_quantity():
    _raises(r"process_grid=\(3, 1\).*nranks=4", Partition.create, 4, (8, 8), process_grid=(3, 1))
    _raises(r"process_grid\[0\]=5.*global_shape\[0\]=4", Partition, (4,), (5,))
    _raises(r"process_grid\[1\]=9.*global_shape\[1\]=8",
            Partition.create, 18, (8, 8), process_grid=(2, 9))
    _raises(r"local block of 2 cells on axis 0.*halo=3", Partition, (10,), (4,), halo=3)
    _raises(r"process_grid=\(2,\) has 1 axes.*global_shape", Partition, (8, 8), (2,))
    _raises(r"periodic=.*global_shape", Partition, (8, 8), (2, 2), 1, (True,))
    _raises(r"global_shape must have 1 to 3 axes", Partition, (2, 2, 2, 2), (1, 1, 1, 1))
    _raises(r"global_shape\[0\] must be positive", Partition, (0, 8), (1, 1))
    _raises(r"process_grid\[1\] must be positive", Partition, (8, 8), (1, 0))
    _raises(r"halo must be >= 0", Partition, (8,), (2,), -1)
    _raises(r"nranks must be positive", choose_process_grid, 0, (8,))
    _raises(r"nranks must be positive", Partition.create, -2, (8,))
    _raises(r"global_shape\[1\] must be positive", choose_process_grid, 2, (8, -1))
    _raises(r"nranks=8 cannot be split over global_shape=\(7,\)", choose_process_grid, 8, (7,))
    _raises(r"nranks=61 cannot be split", choose_process_grid, 61, (13, 17))
    p = Partition((8, 8), (2, 2), 1, (True, False))
    _raises(r"rank=4 out of range", p.coords, 4)
    _raises(r"coords=\(2, 0\) outside process_grid", p.rank_of, (2, 0))
    _raises(r"axis=2 out of range", p.neighbour, 0, 2, 1)
    _raises(r"direction must be \+1 or -1", p.send_slice, 0, 0, 0)


def test_halo_equal_to_block_is_allowed():
    p = Partition((8,), (4,), halo=2, periodic=(True,))
    assert p.local_shape(0) == (2,) and p.padded_shape(0) == (6,)


def test_assert_halo_covers_stencil():
    assert_halo_covers_stencil(2, 2)
    assert_halo_covers_stencil(3, 1)
    assert_halo_covers_stencil(0, 0)
    _raises(r"halo=1 is smaller than stencil_radius=2", assert_halo_covers_stencil, 1, 2)


def test_partition_is_frozen_and_normalised():
    p = Partition([8, 8], [2, 2], 1, [1, 0])
    assert p.global_shape == (8, 8) and p.process_grid == (2, 2) and p.periodic == (True, False)
    assert Partition((8,), (2,)).periodic == (False,)
    with pytest.raises(Exception):
        p.halo = 2
