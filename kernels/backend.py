"""Which array library an array belongs to, without importing CuPy where it is not installed."""


def is_device_array(a) -> bool:
    """True for a CuPy array (GPU memory), False for NumPy arrays and anything else."""
    return type(a).__module__.split(".", 1)[0] == "cupy"
