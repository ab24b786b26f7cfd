"""Work arrays reused from call to call.

A fresh NumPy array of lattice size is a fresh memory mapping: every page is faulted in (and
zeroed by the kernel) on first touch, which on a large lattice costs as much as the arithmetic
done in it. The solver loops therefore take their temporaries from a Workspace, which keeps
one flat buffer per name and hands out views of the requested shape.
"""

from __future__ import annotations

import math

from kernels.backend import NUMPY


class Workspace:
    """Named float64 buffers that grow to the largest size asked for and are then reused.

    Args:
        backend: the array backend of the buffers (kernels.backend: NUMPY, or a CuPy backend).
    """

    def __init__(self, backend=NUMPY):
        self.backend = backend
        self.xp = backend.xp
        self._buffers: dict = {}
        self._views: dict = {}    # (name, shape) -> the view last handed out (the solver loops ask
        #                          for the same few hundred per step: a dict hit, not a reshape)

    def release(self):
        """Let every buffer go (they are made again on the next `get`): for a phase that does not
        use them, e.g. the explicit steps between implicit ones, to free device memory."""
        self._buffers, self._views = {}, {}

    def get(self, name: str, shape):
        """A C-contiguous array of `shape` (uninitialised) backed by the buffer `name`.

        The contents stay valid until the next `get` of the same name with a larger size.
        """
        key = (name, shape if isinstance(shape, tuple) else tuple(shape))
        view = self._views.get(key)
        if view is not None:
            return view
        shape = tuple(int(n) for n in shape)
        size = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.size < size:
            buf = self._buffers[name] = self.xp.empty(size)
            self._views = {k: v for k, v in self._views.items() if k[0] != name}   # views of the old buffer
        view = self._views[key] = buf[:size].reshape(shape)
        return view
