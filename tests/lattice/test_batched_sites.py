"""N independent single sites in one compiled batch (lattice/batched_sites.py, issue 19).

Each site has its own step-size control and calls the single-site run's own compiled loop with
the same arguments, so every comparison here is exact (np.testing.assert_array_equal): series,
fields, the accepted-step count at every sample and the accepted/rejected totals equal those of
the site's own `run(deck, schema, write=False)`, whatever the number of Numba threads and the
order of the sites in the batch; a site whose single run fails carries that run's error and
stops where it stopped, without touching the others.
"""

import numba
import numpy as np
import pytest

from conftest import INPUT
from lattice.batched_sites import SiteBatch, run_decks
from lattice.compiled_rodas import CompiledSiteStepper
from lattice.driver import Simulation, run
from lattice.rosenbrock import IntegrationError
from physics.qke_model import mixing_parameters
from scripts.models import load_deck

# (δm² [eV²], sin²2θ, L0, T_end / T_res): both signs of δm² and of L0, sin²2θ over 8 decades;
# each site from its own 2 T_res to just past (or short of) its resonance
SITES = [
    (-1.0, 1e-5, 1e-10, 0.97), (-100.0, 1e-8, 1e-10, 0.9), (-0.05, 1e-4, -2e-10, 0.95),
    (-10.0, 1e-6, -1e-10, 0.98), (-300.0, 1e-9, 5e-11, 0.9), (-3.0, 1e-3, -5e-11, 1.05),
    (-30.0, 1e-7, 3e-10, 0.93), (-0.3, 1e-10, -1e-9, 0.9), (1.0, 1e-5, 1e-10, 0.9),
    (100.0, 1e-8, -1e-10, 0.9), (0.05, 1e-4, 2e-10, 0.9), (10.0, 1e-3, -3e-10, 1.1),
    (3.0, 1e-11, 1e-10, 0.9), (1000.0, 1e-6, -5e-11, 1.2), (-1000.0, 1e-4, 1e-10, 1.0),
    (0.3, 1e-2, -1e-10, 0.8),
]


def _deck(dm2, s2, L0, end, *extra):
    deck, schema = load_deck(INPUT / "homogeneous_B.yaml", [f"physics.delta_m2_eV2={dm2!r}",
                                                           f"physics.sin2_2theta={s2!r}"])
    T_res = mixing_parameters(deck).resonance_temperature()
    return load_deck(INPUT / "homogeneous_B.yaml", [
        f"physics.delta_m2_eV2={dm2!r}", f"physics.sin2_2theta={s2!r}", f"physics.L0={L0!r}",
        f"time.T_start_MeV={2 * T_res!r}", f"time.T_end_MeV={end * T_res!r}", "output.progress=none",
        *extra])


def _decks():
    """The 16 sites; output.samples and (for a few) rtol, dt_initial and the method differ per site too."""
    decks = []
    for j, site in enumerate(SITES):
        extra = [f"output.samples={20 + 3 * j}"]
        if j % 5 == 1:
            extra += ["integrator.rtol=1e-7", "integrator.dt_initial=1e-5"]
        if j % 4 == 3:        # the rest switch between Rodas4 and DOPRI5 (method auto, the default)
            extra += ["integrator.method=rodas4"]
        if j == 6:
            extra += ["integrator.method=dopri5"]
        deck, schema = _deck(*site, *extra)
        decks.append(deck)
    return decks, schema


@pytest.fixture(scope="module")
def batch():
    decks, schema = _decks()
    singles = []
    for deck in decks:
        sim = Simulation(deck, schema, write=False)
        assert isinstance(sim.stepper, CompiledSiteStepper)
        sim.run()
        singles.append((run(deck, schema, write=False), sim.samples.steps))
    return decks, schema, singles


def _assert_same(single, steps, site):
    assert site.error is None
    np.testing.assert_array_equal(site.T, single.T)
    np.testing.assert_array_equal(site.t, single.t)
    assert site.series.keys() == single.series.keys()
    for key in single.series:
        np.testing.assert_array_equal(site.series[key], single.series[key], err_msg=key)
    np.testing.assert_array_equal(site.fields, single.fields)
    np.testing.assert_array_equal(site.state, single.state)
    np.testing.assert_array_equal(site.steps, steps)
    assert (site.stats["accepted"], site.stats["rejected"]) == (single.stats["accepted"], single.stats["rejected"])
    for key in ("L_final", "sterile_over_active_final", "onset_T_MeV", "power_law_slope", "accepted", "rejected"):
        assert site.summary[key] == single.summary[key], key


def test_each_site_of_a_batch_is_its_own_single_run_bit_for_bit(batch):
    decks, schema, singles = batch
    assert numba.config.NUMBA_NUM_THREADS >= 1
    results = run_decks(decks, schema, threads=1)
    assert len(results) == len(decks)
    for (single, steps), site in zip(singles, results):
        _assert_same(single, steps, site)
    # the sites really differ: some grew |L| past the resonance, some are still above it
    assert len({float(r.series["L"][-1]) for r in results}) == len(results)
    assert sum(r.stats["switches"] > 0 for r in results) >= 4      # and most of them switched
    assert max(abs(r.series["L"][-1]) / abs(d.physics.L0) for r, d in zip(results, decks)) > 1e3


def test_batch_does_not_depend_on_threads_order_or_chunks(batch):
    decks, schema, singles = batch
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one Numba thread available (NUMBA_NUM_THREADS=1)")
    order = np.random.default_rng(5).permutation(len(decks))
    progress = []
    results = run_decks([decks[j] for j in order], schema, threads=2, chunk_samples=7, report=progress.append)
    for k, j in enumerate(order):
        _assert_same(*singles[j], results[k])
    assert len(progress) > 1 and progress[-1].sites_done == len(decks) == progress[-1].sites
    assert progress[-1].samples_done == progress[-1].samples_total
    assert progress[-1].attempts == sum(s.stats["accepted"] + s.stats["rejected"] for s, _ in singles)


def test_a_failing_site_fails_as_its_single_run_and_the_others_go_on():
    decks, schema = zip(*[_deck(*SITES[0], "output.samples=30"),
                          _deck(*SITES[1], "output.samples=30", "integrator.max_steps=9000"),
                          _deck(*SITES[0], "output.samples=3", "integrator.max_steps=2000"),
                          _deck(*SITES[2], "output.samples=25")])
    schema = schema[0]
    results = run_decks(decks, schema)
    for deck, site in zip(decks, results):
        sim = Simulation(deck, schema, write=False)
        if deck.integrator.max_steps > 100_000:
            single = sim.run()
            _assert_same(single, sim.samples.steps, site)
            continue
        with pytest.raises((IntegrationError, RuntimeError)) as raised:
            sim.run()
        assert type(site.error) is type(raised.value) and str(site.error) == str(raised.value)
        assert site.summary == {}
        for key in sim.samples.series:
            np.testing.assert_array_equal(site.series[key], sim.samples.series[key], err_msg=key)
        np.testing.assert_array_equal(site.fields, sim.samples.fields)
        assert (site.stats["accepted"], site.stats["rejected"]) == (sim.stepper.n_accepted, sim.stepper.n_rejected)
    kinds = {type(r.error) for r in results}
    assert kinds == {type(None), IntegrationError, RuntimeError}


def test_step_floor_stops_one_site_as_the_single_stepper_raises():
    deck, schema = _deck(*SITES[0], "output.samples=4")
    sim = Simulation(deck, schema, write=False)
    k = sim.stepper.kernels
    ts = sim.samples.t
    y0 = np.asarray(sim.y).reshape(-1)
    batch = SiteBatch(k, np.stack([k.params, k.params]), [ts, ts], np.stack([y0, y0]),
                      [1e-10 * ts[0], sim.advancer.h], 10**9, h_min_rel=1e-9).run()
    assert list(batch.status) == [1, 0]        # the first (first step below the floor) stops
    single = CompiledSiteStepper(k, h_min_rel=1e-9)
    with pytest.raises(IntegrationError) as raised:
        single.advance(ts[0], sim.y, ts[1], 1e-10 * ts[0])
    assert str(batch.error(0)) == str(raised.value)
    assert batch.next_sample[1] == 4 and batch.error(1) is None


def test_bench_batch_prints_rates_per_thread_count(capsys):
    """`qke bench batch` on a few sites (figures not asserted): a line per thread count with
    site-steps/s and µs per attempt, and the bitwise check across thread counts."""
    import re

    from scripts.cli import main

    threads = ["1", "2"] if numba.config.NUMBA_NUM_THREADS >= 2 else ["1"]
    rc = main(["bench", "batch", "--sites", "6", "--samples", "12", "--window", "1.5", "--threads", *threads,
               "--singles", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = [line for line in out.splitlines() if "site-steps/s" in line and "sites," in line]
    assert len(lines) == len(threads)
    assert all(float(re.search(r"([0-9.e+]+) site-steps/s", line).group(1)) > 0 for line in lines)
    assert "bit for bit: yes" in out and "sites failed: 0" in out and "one by one through the driver" in out
