"""The explicit DOPRI5 stepper on a lattice (lattice/dopri5.py: `integrator.method: dopri5` with
GMRES stages, any dimension, any backend) against a tight Rodas4 solution of the same deck."""

import numpy as np
import pytest

from conftest import INPUT
from lattice.deck import DeckError
from lattice.driver import run
from scripts.models import load_deck

WINDOW = ["grid.shape=[4, 3]", "seed.kind=sine", "seed.amplitude=5e-11", "time.T_start_MeV=24",
          "time.T_end_MeV=23.99", "output.samples=3", "output.snapshots=0", "output.progress=none"]


def _run(*overrides):
    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml", WINDOW + list(overrides))
    return run(deck, schema, write=False)


def test_dopri5_on_a_2d_lattice_follows_a_tight_rodas4_solution():
    """DOPRI5 at rtol 1e-3 steps at rtol × explicit_rtol_factor = 1e-5; over its ~340 steps the
    observables' global error stays within 10× that tolerance (measured: 1e-5 of L). (Fields far
    below their absolute tolerance are not held to a relative error by either stepper.) The
    reference, Rodas4 at rtol 1e-8, is 1000× tighter. Rodas4 at the same deck rtol 1e-3 is
    ~6e-4 off, so the comparison tells the two tolerances apart."""
    explicit = _run("integrator.rtol=1e-3", "integrator.method=dopri5")
    reference = _run("integrator.rtol=1e-8", "integrator.method=rodas4")
    assert explicit.stats["dopri5_accepted"] == explicit.stats["accepted"] > 100
    for name in ("L", "L_abs", "L_nutau", "sterile_over_active"):
        assert abs(explicit.series[name][-1] / reference.series[name][-1] - 1) <= 1e-4, name
    L, L_ref = explicit.series["L"][-1], reference.series["L"][-1]
    coarse = _run("integrator.rtol=1e-3", "integrator.method=rodas4")
    assert abs(coarse.series["L"][-1] / L_ref - 1) > 10 * abs(L / L_ref - 1)


def test_dopri5_with_a_split_coupling_is_refused():
    with pytest.raises(DeckError, match="integrator.method = 'dopri5': the explicit branch takes the whole"):
        load_deck(INPUT / "lattice_1d_laptop.yaml", WINDOW + ["integrator.method=dopri5",
                                                             "integrator.coupling=strang"])


def test_dopri5_keeps_the_conserved_totals_to_round_off():
    """The explicit step does not correct the totals of the locally constant fields (lattice/
    dopri5.py): the local terms vanish and the flux-form Laplacian sums to zero, so each step
    moves a total by round-off only, at most about 8 roundings of each cell's value per step
    (the stage combinations): |Δ total| ≤ steps · 8ε · Σ|y| with Σ|y| the larger of its start and
    end values (the conserved field starts at zero here and grows by diffusion and mixing)."""
    from lattice.assembly import assemble
    from lattice.parallel import SerialComm

    deck, schema = load_deck(INPUT / "lattice_1d_laptop.yaml", WINDOW + ["integrator.rtol=1e-3",
                                                                        "integrator.method=dopri5"])
    parts = assemble(deck, schema.spec, SerialComm())
    fields = list(parts.system.locally_constant)
    assert fields
    explicit = run(deck, schema, write=False)
    steps = explicit.stats["accepted"]
    start, end = parts.y[fields], explicit.state[fields]
    drift = np.abs(end.sum(axis=(1, 2)) - start.sum(axis=(1, 2)))
    scale = np.maximum(np.abs(start).sum(axis=(1, 2)), np.abs(end).sum(axis=(1, 2)))
    assert np.all(scale > 0) and np.all(drift <= steps * 8 * np.finfo(float).eps * scale)
