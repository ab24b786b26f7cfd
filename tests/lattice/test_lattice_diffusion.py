"""Diffusion on the lattice (issue 3, items 3 and 4).

Item 3 uses the library directly with the local equations switched off (a null local
stepper): a sine mode of the active density P0⁺ + Pz⁺, which diffuses with the coefficient
(T/T_ref)²/Γ^el_ττ, must decay as exp(−k² ∫ κ dt) with κ ∝ t^{3/2} (T ∝ t^{-1/2}), with the
error falling as dx² (spatial) and at least as dt² (RKL2 with the split couplings, coefficient
frozen at mid-step; the implicit coupling, Rodas4 with diffusion in its stages, is fourth order).
"""

import numpy as np
import pytest

from lattice.grid import Lattice
from lattice.implicit import ImplicitLattice
from lattice.model import Equations
from lattice.parallel import SerialComm
from lattice.rosenbrock import FieldwiseNorm, Rodas4
from lattice.splitting import MidpointSourceCoupling, StrangSplitting
from physics.cosmology import Cosmology
from physics.qke import P0M, P0P, PZP, QKEDiffusion, MixingParameters, QKELocal
from scripts.models import load_deck
from lattice.driver import run
from conftest import INPUT

PARAMS = MixingParameters(-1.0, 1e-5)
T_REF, T0, T1 = 18.0, 3.0, 2.4     # low T: long diffusion length, fast decay
COSMO = Cosmology()


class NullLocal:
    """Precession and collisions switched off: only a constant source (if any) moves y."""

    system = None
    constant_fields = []

    def advance(self, t, y, t_end, h, source=None, record=None):
        if record is not None:
            record.append(t_end - t)
        return (y if source is None else y + (t_end - t) * source), h

    def replay(self, t, y, steps, source=None):
        return self.advance(t, y, t + sum(steps), None, source)[0], 0.0


class NullSystem(Equations):
    """The local QKE with precession and collisions switched off: f = 0, J = 0, ∂f/∂t = 0."""

    n_fields = 8
    cosmology = COSMO

    @staticmethod
    def temperature(t):
        return COSMO.temperature(t)

    def f(self, t, y):
        return np.zeros_like(y)

    dfdt = f

    def jac(self, t, y):
        return np.zeros(y.shape[1:] + (8, 8))


class ImplicitFixedSteps:
    """Rodas4 with diffusion in its stages (lattice/implicit.py), at the fixed step it is given."""

    def __init__(self, lat, diffusion):
        norm = FieldwiseNorm(1e-6, 1e-14)
        self.stepper = Rodas4(ImplicitLattice(NullSystem(), diffusion, lat, norm.field_weights, tolerance=1e-6),
                              norm)

    def step(self, t, y, dt):
        return self.stepper.replay(t, y, [dt])[0], dt


COUPLINGS = {
    "strang": lambda tendency, limit: StrangSplitting(NullLocal(), tendency, limit),
    "midpoint_source": lambda tendency, limit: MidpointSourceCoupling(
        NullLocal(), tendency, limit, error_norm=lambda err, u, u_new: 0.0),
    "implicit": None,
}


def _decay(cells, steps, coupling="strang"):
    diffusion = QKEDiffusion(PARAMS, T_REF)
    t0, t1 = COSMO.time(T0), COSMO.time(T1)
    # choose the box so that the mode decays by about e^-1 over the run
    kappa = lambda t: (COSMO.temperature(t) / T_REF) ** 2 / (2.0 * 1.4 * 1.1663787e-11 ** 2 * COSMO.temperature(t) ** 5)
    integral = (t1 * kappa(t1) - t0 * kappa(t0)) / 2.5          # ∫ C t^{3/2} dt = (2/5)[t κ(t)]
    box = 2 * np.pi * np.sqrt(integral)
    lat = Lattice((cells,), (box,), ("periodic",), 8, SerialComm())
    x = lat.cell_centres(0)
    y = QKELocal.initial_state((cells,))
    y[P0P] += 0.01 * np.sin(2 * np.pi * x / box)
    if coupling == "implicit":
        split = ImplicitFixedSteps(lat, diffusion)
    else:
        split = COUPLINGS[coupling](
            lambda v, t: diffusion.tendency(lat.laplacian(v), COSMO.temperature(t)),
            lambda t: lat.explicit_limit(diffusion.max_rate_coefficient(COSMO.temperature(t))))
    t, dt = t0, (t1 - t0) / steps
    for i in range(steps):
        y, _ = split.step(t, y, dt)
        t = t0 + (i + 1) * dt
    active = y[P0P] + y[PZP]
    amplitude = 2 * np.mean(active * np.sin(2 * np.pi * x / box))
    return amplitude, 0.01 * np.exp(-(2 * np.pi / box) ** 2 * integral)


@pytest.mark.parametrize("coupling", sorted(COUPLINGS))
def test_sine_mode_decays_at_the_exact_rate_with_second_order_errors(coupling):
    space = [abs(_decay(n, 64, coupling)[0] - _decay(n, 64, coupling)[1]) for n in (8, 16, 32)]
    reference_fine = _decay(64, 512, coupling)[0]
    time = [abs(_decay(64, s, coupling)[0] - reference_fine) for s in (4, 8, 16)]
    order_x = np.log2(np.array(space[:-1]) / np.array(space[1:]))
    order_t = np.log2(np.array(time[:-1]) / np.array(time[1:]))
    amplitude, exact = _decay(64, 64, coupling)
    print(f"{coupling} decay: amplitude {amplitude:.6e} vs exact {exact:.6e}; orders in dx {order_x}, "
          f"in dt {order_t}")
    assert abs(amplitude / exact - 1) < 2e-3
    assert np.all(order_x > 1.8) and np.all(order_t > 1.8)


@pytest.mark.parametrize("coupling", sorted(COUPLINGS))
@pytest.mark.parametrize("bc", ["periodic", "neumann"])
def test_integral_of_P0_minus_is_conserved(bc, coupling):
    """dP0⁻/dt has no local source; diffusion in flux form moves it but keeps ΣP0⁻."""
    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml",
                             ["grid.shape=[16]", f"grid.bc={bc}", "seed.kind=sine", "physics.L0=1e-10",
                              "seed.amplitude=5e-11", "time.T_start_MeV=24", "time.T_end_MeV=23.9",
                              "output.samples=3", "output.snapshots=0", "output.progress=none",
                              "integrator.atol_minus=1e-20", f"integrator.coupling={coupling}"])
    r = run(deck, schema, write=False)
    p0m = r.state[P0M]
    assert np.abs(p0m).sum() > 0  # diffusion did move P0⁻ around
    print(f"{bc}, {coupling}: sum P0- = {p0m.sum():.3e}, sum |P0-| = {np.abs(p0m).sum():.3e}")
    assert abs(p0m.sum()) <= 1e-13 * np.abs(p0m).sum()
