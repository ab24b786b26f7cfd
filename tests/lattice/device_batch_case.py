"""A small batch of single sites run by the host batch and by the GPU batch (lattice/device_batch.py)
on numba.cuda's device: a GPU, or Numba's CUDA simulator under NUMBA_ENABLE_CUDASIM=1 (how CI runs
it). Prints one JSON object for tests/lattice/test_device_batch.py:

    NUMBA_ENABLE_CUDASIM=1 python tests/lattice/device_batch_case.py

Three sites of input/homogeneous_B.yaml from 2 T_res to 1.95 T_res at rtol 1e-4 (about 1 500 step
attempts each): one stopped by integrator.max_steps in the middle of a sample interval, one
switching between Rodas4 and DOPRI5 (probes every 32 explicit steps, so that both branches and
the switches run), and one on Rodas4 alone. The batch runs in chunks of two samples; after the
first, the GPU batch hands the sites to threads in decreasing order of cost (the stopped site
last), which changes no site's arithmetic.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lattice.batched_sites import batch_of, simulations  # noqa: E402
from lattice.device_batch import gpu_name  # noqa: E402
from physics.qke_model import mixing_parameters  # noqa: E402
from scripts.models import load_deck  # noqa: E402

RTOL = 1e-4
SITES = [((1.0, 1e-5, 1e-10), ["integrator.method=rodas4", "integrator.max_steps=250"]),
         ((-1.0, 1e-5, 1e-10), ["integrator.method=auto"]),
         ((-0.05, 1e-4, -2e-10), ["integrator.method=rodas4"])]
PROBE_STEPS = 32


def decks():
    out, schema = [], None
    for (dm2, s2, L0), extra in SITES:
        base = [f"physics.delta_m2_eV2={dm2!r}", f"physics.sin2_2theta={s2!r}"]
        deck, schema = load_deck(ROOT / "input" / "homogeneous_B.yaml", base)
        T_res = mixing_parameters(deck).resonance_temperature()
        deck, schema = load_deck(ROOT / "input" / "homogeneous_B.yaml", base + [
            f"physics.L0={L0!r}", f"time.T_start_MeV={2 * T_res!r}", f"time.T_end_MeV={1.95 * T_res!r}",
            f"integrator.rtol={RTOL!r}", "output.samples=7", "output.progress=none", *extra])
        out.append(deck)
    return out, schema


def main():
    sims = simulations(*decks())
    runs, reports = {}, []
    for where in ("host", "device"):
        batch = batch_of(sims)
        batch.controls[:, 4] = PROBE_STEPS
        wall0 = time.perf_counter()
        batch.run(chunk_samples=2, gpu=where == "device",
                  report=(lambda p: reports.append(p.samples_done)) if where == "device" else None)
        runs[where] = (batch, time.perf_counter() - wall0)
    host, device = runs["host"][0], runs["device"][0]
    sites = []
    for s in range(len(sims)):
        reached = int(host.next_sample[s])
        a, b = host.states[s, :reached], device.states[s, :reached]
        scale = float(np.max(np.abs(a))) if reached else 1.0
        sites.append({"status": [int(host.status[s]), int(device.status[s])],
                      "samples": [reached, int(device.next_sample[s])],
                      "accepted": [int(host.accepted[s]), int(device.accepted[s])],
                      "rejected": [int(host.rejected[s]), int(device.rejected[s])],
                      "switches": [int(host.counts[s, 4]), int(device.counts[s, 4])],
                      "dopri5_accepted": [int(host.counts[s, 2]), int(device.counts[s, 2])],
                      "max_state_difference": float(np.max(np.abs(a - b))) / scale if reached else 0.0,
                      "bitwise": bool(np.array_equal(a, b))})
    orders = [order.tolist() for order in device.orders]
    print(json.dumps({"device": gpu_name(), "rtol": RTOL, "reports": reports, "sites": sites, "orders": orders,
                      "wall_s": {k: v[1] for k, v in runs.items()}}))


if __name__ == "__main__":
    main()
