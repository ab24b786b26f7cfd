"""The CuPy backend's kernels give the NumPy backend's results (marked gpu; skipped without a device).

The Laplacian and block product (fused CUDA kernels), `to_field_major` and `batched_inverse` of
the CuPy backend (`kernels.cupy_ops`) run on a device and are compared with the NumPy backend's
(`kernels.numpy_ops`) on the host. Element-wise kernels must agree to round-off (≤ 1e-12
relative, the GPU issue's criterion: the CUDA compiler may fuse a multiply and an add); the
batched inverse (LAPACK on the host, cuSOLVER/cuBLAS on the device) to 1e-12 of a
well-conditioned matrix's scale. tests/kernels/test_backend.py compares every operation on the
NumPy-backed stand-in for CuPy, where no device is needed.
"""

import numpy as np
import pytest

from kernels.backend import NUMPY, backend_for

cupy = pytest.importorskip("cupy")
try:
    HAVE_DEVICE = cupy.cuda.runtime.getDeviceCount() > 0
except Exception:   # CuPy without a driver or device
    HAVE_DEVICE = False

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAVE_DEVICE, reason="no CUDA device")]


@pytest.fixture
def device():
    """The CuPy backend (made when a test first asks for it)."""
    return backend_for(cupy)


def rel_diff(device_result, host_result):
    """max |device − host| / max |host|."""
    return float(np.max(np.abs(cupy.asnumpy(device_result) - host_result)) / np.max(np.abs(host_result)))


@pytest.mark.parametrize("shape", [(64,), (16, 12), (8, 6, 10)])
def test_laplacian_on_cupy_equals_numpy(shape, device):
    rng = np.random.default_rng(3)
    u = rng.standard_normal((8,) + tuple(n + 2 for n in shape))
    spacing = tuple(0.5 + 0.1 * k for k in range(len(shape)))
    host = NUMPY.laplacian(u, 1, spacing)
    out = cupy.empty((8,) + shape)
    got = device.laplacian(cupy.asarray(u), 1, spacing, out=out)
    assert isinstance(got, cupy.ndarray)
    assert rel_diff(got, host) <= 1e-12


@pytest.mark.parametrize("shape", [(100,), (6, 7, 5)])
def test_block_product_on_cupy_equals_numpy(shape, device):
    rng = np.random.default_rng(4)
    M = rng.standard_normal(shape + (8, 8))
    v = rng.standard_normal((8,) + shape)
    host = NUMPY.apply_field_major(NUMPY.to_field_major(M), v)
    got = device.apply_field_major(device.to_field_major(cupy.asarray(M)), cupy.asarray(v))
    assert isinstance(got, cupy.ndarray)
    assert rel_diff(got, host) <= 1e-12


def test_batched_inverse_on_cupy_equals_numpy(device):
    rng = np.random.default_rng(5)
    M = rng.standard_normal((200, 8, 8)) + 8.0 * np.eye(8)     # well conditioned
    host = NUMPY.batched_inverse(M)
    got = device.batched_inverse(cupy.asarray(M))
    assert isinstance(got, cupy.ndarray)
    assert rel_diff(got, host) <= 1e-12


@pytest.mark.parametrize("shape", [(64,), (8, 8, 8)])
def test_implicit_lattice_steps_on_cupy_equal_numpy(shape):
    """Two implicit lattice steps (Rodas4 + GMRES with the pre-rounded sums, the local QKE and
    diffusion) from the relaxed pre-resonance state at 20 MeV, dt·H = 1e-3: every field on the
    GPU equals the NumPy result to ≤ 1e-12 of its largest value."""
    from lattice.parallel import SerialComm
    from scripts.bench_lattice import _implicit_steps

    results = []
    for xp in (np, cupy):
        stepper, t, dt, y = _implicit_steps(shape, SerialComm(), 1e-3, 20.0, xp)
        y, error = stepper.replay(t, y, [dt, dt])
        assert error <= 1.0
        results.append(cupy.asnumpy(y) if xp is cupy else y)
    host, device = results
    scale = np.abs(host).max(axis=tuple(range(1, host.ndim)), keepdims=True)
    scale[scale == 0] = 1.0
    assert np.max(np.abs(device - host) / scale) <= 1e-12
