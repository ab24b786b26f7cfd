"""Compile the GPU batch's kernel (lattice/device_batch.py) with the QKE's per-site kernels to PTX
for sm_90, with no GPU and no driver: tests/lattice/test_device_batch.py. Exit status 5 (with a
line saying why) where numba-cuda's NVVM is not installed.

numba-cuda compiles a `register_jitable` function called from a kernel as a device function for
the current device's compute capability, which asks the driver; with no driver, the compute
capability is given here as that of sm_90 (the H100/H200).
"""

import sys
import time
import types as pytypes
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from numba import cuda, types  # noqa: E402
import numba.cuda.dispatcher as dispatcher  # noqa: E402

from lattice.device_batch import make_device_kernel  # noqa: E402
from physics.qke_kernels import site_dfdt, site_error, site_jac, site_rhs  # noqa: E402

dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(9, 0))
i1, i2 = types.int64[::1], types.int64[:, ::1]
f1, f2, f3 = types.float64[::1], types.float64[:, ::1], types.float64[:, :, ::1]
# order, t_samples, n_samples, y, h, params, params_explicit, constant, controls, auto, max_steps,
# next_sample, state, counts, memory, h_rho, status, t_stop, h_stop (lattice.device_batch.RESIDENT_ARRAYS),
# first, states, steps, branches, explicit, h_rhos (SAMPLE_ARRAYS), stop
SIGNATURE = (i1, f2, i1, f2, f1, f2, f2, i1, f2, types.boolean[::1], i1, i1, i2, i2, f2, f1, i1, f1, f1, types.int64,
             f3, i2, i2, i2, f2, types.int64)

kernel = make_device_kernel(site_rhs, site_jac, site_dfdt, site_error, 8)
wall0 = time.perf_counter()
try:
    ptx, _ = cuda.compile_ptx(kernel.py_func, SIGNATURE, cc=(9, 0))
except Exception as exc:  # noqa: BLE001 - NVVM missing shows as one of several exception types
    if "nvvm" in str(exc).lower() or "libnvrtc" in str(exc).lower():
        print(f"numba-cuda's NVVM is not installed here: {str(exc).splitlines()[0]}")
        sys.exit(5)
    raise
print(f"PTX for sm_90: {len(ptx)} characters in {time.perf_counter() - wall0:.1f} s; "
      f"{ptx.count('fma.rn.f64')} fma.rn.f64 (NVVM contracts multiply-adds)")
