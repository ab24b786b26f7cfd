"""Array libraries: which one an array belongs to, and choosing one from the deck's `backend`.

CuPy is imported only when asked for, so everything runs where it is not installed.
"""

import numpy as np

BACKENDS = ("numpy", "cupy", "auto")


def is_device_array(a) -> bool:
    """True for a CuPy array (GPU memory), False for NumPy arrays and anything else."""
    return type(a).__module__.split(".", 1)[0] == "cupy"


def device_available() -> bool:
    """True when CuPy imports and a CUDA device answers."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:   # no CuPy, no driver or no device
        return False


def array_module(backend: str):
    """numpy or cupy for backend 'numpy' | 'cupy' | 'auto' (CuPy only where a device answers).

    Raises ValueError naming the problem when 'cupy' is asked for and no device answers.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend = {backend!r}: allowed {', '.join(BACKENDS)}")
    if backend == "numpy" or (backend == "auto" and not device_available()):
        return np
    if not device_available():
        raise ValueError("backend = 'cupy': CuPy is not installed or no CUDA device answers")
    import cupy

    return cupy


def to_host(a):
    """A NumPy view or copy of a (NumPy arrays pass through; CuPy arrays are copied to the host)."""
    return a.get() if is_device_array(a) else a
