"""Pure Cartesian domain decomposition (no MPI), in the spirit of NDSL's partitioner.

Ranks are ordered row-major over the process grid (last axis fastest), exactly as
``MPI.Cart_create(..., reorder=False)``. Padded local arrays carry ``halo`` ghost
cells on both sides of every axis. Send/receive strips span the full padded extent
on the other axes, so exchanging axis 0, then 1, then 2 also fills corner ghosts.
Rank ``r`` sends ``send_slice(r, a, d)`` to ``neighbour(r, a, d)``, which stores it
in ``recv_slice(neighbour, a, -d)``.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from fractions import Fraction
from itertools import product
from typing import Optional, Sequence, Tuple

Shape = Tuple[int, ...]


def _as_int(name: str, value) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _ints(name: str, values: Sequence[int]) -> Shape:
    out = tuple(_as_int(f"{name}[{i}]", v) for i, v in enumerate(values))
    if not 1 <= len(out) <= 3:
        raise ValueError(f"{name} must have 1 to 3 axes, got {len(out)}: {out}")
    for i, v in enumerate(out):
        if v <= 0:
            raise ValueError(f"{name}[{i}] must be positive, got {v} in {name}={out}")
    return out


def assert_halo_covers_stencil(halo: int, stencil_radius: int) -> None:
    """Raise ValueError if ``halo`` is narrower than ``stencil_radius``."""
    if _as_int("halo", halo) < _as_int("stencil_radius", stencil_radius):
        raise ValueError(f"halo={halo} is smaller than stencil_radius={stencil_radius}")


def choose_process_grid(nranks: int, global_shape: Sequence[int]) -> Shape:
    """Pick a deterministic, balanced process grid for ``nranks`` ranks.

    Among all factorisations with ``grid[a] <= global_shape[a]``, chooses the one
    whose local blocks are closest to cubic (smallest max/min block-extent ratio),
    so the longest axes are split first; ties go to larger counts on earlier axes.

    Raises:
        ValueError: if ``nranks`` is not positive or no valid factorisation exists.
    """
    shape = _ints("global_shape", global_shape)
    nranks = _as_int("nranks", nranks)
    if nranks <= 0:
        raise ValueError(f"nranks must be positive, got {nranks}")
    divisors = [d for d in range(1, nranks + 1) if nranks % d == 0]
    best, best_key = None, None
    for head in product(divisors, repeat=len(shape) - 1):
        rest, rem = divmod(nranks, math.prod(head))
        grid = head + (rest,)
        if rem or any(p > n for p, n in zip(grid, shape)):
            continue
        extents = [Fraction(n, p) for n, p in zip(shape, grid)]
        key = (max(extents) / min(extents), tuple(-p for p in grid))
        if best_key is None or key < best_key:
            best, best_key = grid, key
    if best is None:
        raise ValueError(f"nranks={nranks} cannot be split over global_shape={shape} "
                         "with at most one rank per cell along each axis")
    return best


@dataclass(frozen=True)
class Partition:
    """Block decomposition of ``global_shape`` over ``process_grid`` ranks.

    Attributes:
        global_shape: Cells per axis of the global domain (1 to 3 axes).
        process_grid: Ranks per axis; its product is the number of ranks.
        halo: Ghost-cell width on each side of every axis (>= 0).
        periodic: Per-axis periodic flags (default: all False).
    """

    global_shape: Shape
    process_grid: Shape
    halo: int = 0
    periodic: Optional[Tuple[bool, ...]] = None

    def __post_init__(self):
        shape = _ints("global_shape", self.global_shape)
        grid = _ints("process_grid", self.process_grid)
        halo = _as_int("halo", self.halo)
        periodic = (False,) * len(shape) if self.periodic is None else self.periodic
        periodic = tuple(map(bool, periodic))
        for name, value in (("process_grid", grid), ("periodic", periodic)):
            if len(value) != len(shape):
                raise ValueError(f"{name}={value} has {len(value)} axes but "
                                 f"global_shape={shape} has {len(shape)}")
        if halo < 0:
            raise ValueError(f"halo must be >= 0, got {halo}")
        for a, (n, p) in enumerate(zip(shape, grid)):
            if p > n:
                raise ValueError(f"process_grid[{a}]={p} exceeds global_shape[{a}]={n} cells")
            if n // p < halo:
                raise ValueError(f"local block of {n // p} cells on axis {a} "
                                 f"(global_shape[{a}]={n}, process_grid[{a}]={p}) "
                                 f"is smaller than halo={halo}")
        for name, value in zip(("global_shape", "process_grid", "halo", "periodic"),
                               (shape, grid, halo, periodic)):
            object.__setattr__(self, name, value)

    @classmethod
    def create(cls, nranks: int, global_shape: Sequence[int], halo: int = 0,
               periodic: Optional[Sequence[bool]] = None,
               process_grid: Optional[Sequence[int]] = None) -> "Partition":
        """Build a partition for ``nranks`` ranks, choosing the grid if not given."""
        nranks = _as_int("nranks", nranks)
        if nranks <= 0:
            raise ValueError(f"nranks must be positive, got {nranks}")
        if process_grid is None:
            process_grid = choose_process_grid(nranks, global_shape)
        grid = _ints("process_grid", process_grid)
        if math.prod(grid) != nranks:
            raise ValueError(f"process_grid={grid} has product {math.prod(grid)} "
                             f"!= nranks={nranks}")
        return cls(tuple(global_shape), grid, halo, None if periodic is None else tuple(periodic))

    @property
    def ndim(self) -> int:
        return len(self.global_shape)

    @property
    def nranks(self) -> int:
        return math.prod(self.process_grid)

    def coords(self, rank: int) -> Shape:
        """Process-grid coordinates of ``rank`` (row-major, last axis fastest)."""
        rank = _as_int("rank", rank)
        if not 0 <= rank < self.nranks:
            raise ValueError(f"rank={rank} out of range [0, {self.nranks})")
        out = []
        for p in reversed(self.process_grid):
            rank, c = divmod(rank, p)
            out.append(c)
        return tuple(reversed(out))

    def rank_of(self, coords: Sequence[int]) -> int:
        """Rank at process-grid ``coords`` (inverse of :meth:`coords`)."""
        coords = tuple(_as_int("coords", c) for c in coords)
        grid = self.process_grid
        if len(coords) != self.ndim or any(not 0 <= c < p for c, p in zip(coords, grid)):
            raise ValueError(f"coords={coords} outside process_grid={self.process_grid}")
        rank = 0
        for c, p in zip(coords, self.process_grid):
            rank = rank * p + c
        return rank

    def offset(self, rank: int) -> Shape:
        """Global index of the first interior cell of ``rank``."""
        return tuple(c * (n // p) + min(c, n % p)
                     for c, n, p in zip(self.coords(rank), self.global_shape, self.process_grid))

    def local_shape(self, rank: int) -> Shape:
        """Interior cells of ``rank``; the first ``n % p`` blocks get one extra."""
        return tuple(n // p + (c < n % p)
                     for c, n, p in zip(self.coords(rank), self.global_shape, self.process_grid))

    def global_slice(self, rank: int) -> Tuple[slice, ...]:
        """Slices of the global array holding the interior of ``rank``."""
        return tuple(slice(o, o + m) for o, m in zip(self.offset(rank), self.local_shape(rank)))

    def padded_shape(self, rank: int) -> Shape:
        """Local shape plus ``2 * halo`` on every axis."""
        return tuple(m + 2 * self.halo for m in self.local_shape(rank))

    def interior_slice(self, rank: int) -> Tuple[slice, ...]:
        """Slices of the padded local array holding the interior."""
        return tuple(slice(self.halo, self.halo + m) for m in self.local_shape(rank))

    def neighbour(self, rank: int, axis: int, direction: int) -> Optional[int]:
        """Rank adjacent along ``axis`` in ``direction`` (+1/-1); None at a closed boundary."""
        self._check_axis(axis, direction)
        coords = list(self.coords(rank))
        c, p = coords[axis] + direction, self.process_grid[axis]
        if not 0 <= c < p:
            if not self.periodic[axis]:
                return None
            c %= p
        coords[axis] = c
        return self.rank_of(coords)

    def send_slice(self, rank: int, axis: int, direction: int) -> Tuple[slice, ...]:
        """Interior strip of width ``halo`` next to the ``direction`` face of ``axis``."""
        return self._strip(rank, axis, direction, ghost=False)

    def recv_slice(self, rank: int, axis: int, direction: int) -> Tuple[slice, ...]:
        """Ghost strip of width ``halo`` beyond the ``direction`` face of ``axis``."""
        return self._strip(rank, axis, direction, ghost=True)

    def _strip(self, rank, axis, direction, ghost):
        self._check_axis(axis, direction)
        h, m = self.halo, self.local_shape(rank)[axis]
        start = (h + m if ghost else m) if direction > 0 else (0 if ghost else h)
        out = [slice(None)] * self.ndim
        out[axis] = slice(start, start + h)
        return tuple(out)

    def _check_axis(self, axis, direction):
        if not 0 <= _as_int("axis", axis) < self.ndim:
            raise ValueError(f"axis={axis} out of range for {self.ndim}-D partition")
        if direction not in (1, -1):
            raise ValueError(f"direction must be +1 or -1, got {direction!r}")
