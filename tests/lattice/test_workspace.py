"""Workspace buffers: reused views, growth, and separate names."""

import numpy as np

from lattice.workspace import Workspace


def test_views_are_reused_and_grow_with_the_largest_request():
    work = Workspace()
    a = work.get("a", (3, 4))
    assert a.shape == (3, 4) and a.flags.c_contiguous
    assert work.get("a", (3, 4)) is a               # the same request: the same view
    assert work.get("a", [3, 4]) is a               # a list names the same shape
    small = work.get("a", (5,))
    assert np.shares_memory(small, a)               # a smaller view of the same buffer
    big = work.get("a", (10, 10))                   # growth: a new buffer
    assert big.shape == (10, 10) and not np.shares_memory(big, a)
    again = work.get("a", (3, 4))
    assert np.shares_memory(again, big) and again is not a   # views of the old buffer are dropped
    b = work.get("b", (3, 4))
    assert not np.shares_memory(b, again)           # names never share memory
