"""`qke scan DECK --map`: the paper's Fig. 1 from one batched run (the classified mixing plane).

    qke scan input/homogeneous_B.yaml --map [--n-dm2 64] [--n-s2 64] [--dm2-range 1e-2 1e3]
             [--s2-range 1e-12 1e-2] [--T-end 3] [--epsilon 1e-3] [--samples N] [--threads K]
             [--chunk-sites M] [--out out/fig1/map.h5] [--overwrite] [--set section.key=value ...]

A log-spaced grid of points over |δm²| [eV²] (δm² < 0, the growth region) and sin²2θ. Every point
is a single-site (homogeneous) run of the deck, from 2 T_res, through lattice.batched_sites
(`run_decks`): all sites of a chunk in one compiled batch, each with its own step control, so
that every site's series are bit for bit those of `qke run DECK --set ...` with the overrides
of site_overrides (tests/physics/test_fig1_map.py). Two stages (physics.regions for the criteria):

1. probe: one run per point (L0) from 2 T_res to regions.PROBE_T_OVER_T_RES·T_res. A point
   thermalised at T_res without growth is classified from it (regions.settled_by_probe) and
   not run further (its precession would cost up to ~1e8 step attempts per run to 3 MeV).
2. full: the other points, three runs each (L0, L0(1 + ε), L0(1 − ε)) from 2 T_res to T_end.

The sites run in chunks of whole points (--chunk-sites sites at most: states are stored at
every sample, (sites × samples × 8) floats). Progress over each stage goes to stdout (sites done
/ total, elapsed, ETA), and at the end the run time and the site-steps per second (step
attempts, accepted + rejected, over the wall time). One row per point goes to an HDF5 table
(write_map; the columns in COLUMNS, each a dataset with its units); the file is written at the
end, through a temporary file, and an existing file is replaced only with --overwrite.

T_end (default 3 MeV): where the momentum-averaged description is taken to stop holding. At
3 MeV the repopulation rate that keeps the active neutrinos thermal is Γ_ττ = 2.6 H, and it
falls to H at 2.2 MeV (regions.repopulation_freeze_out_T), below which the actives decouple;
the paper stops its runs at 3 MeV too (docs/models/diffusion-qke.md §5). T_end must lie between
that temperature and regions.LASTING_BELOW_MEV, so that the lasting-oscillation criterion can
be met.
"""

from __future__ import annotations

import math
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from physics import regions

DEFAULT_OUT = "out/fig1/map.h5"
DEFAULT_CHUNK_SITES = 600
"""Sites per compiled batch [count]: 600 sites × 2001 samples × 8 fields of float64 store 77 MB."""
PROGRESS_EVERY_S = 30.0
"""Seconds between progress lines inside a chunk [s] (a line also ends every chunk)."""
MAX_POINTS_PER_AXIS = 1024
SAMPLES_RANGE = (100, 100_000)
"""Allowed output samples per run [count]: sign changes are counted between samples."""
EPSILON_MAX = 0.1
DM2_MAX_EV2 = 1e6
"""Largest |δm²| a deck accepts (physics.delta_m2_eV2) [eV²]."""


class MapOptionError(ValueError):
    """A --map option value is not allowed; the message names the option, the value and what is."""


@dataclass(frozen=True)
class MapSpec:
    """What a map runs.

    Attributes:
        deck: path of the base deck (a single-site qke deck).
        overrides: its --set overrides (applied to every site before the site's own).
        n_dm2, n_s2: grid points along |δm²| and sin²2θ.
        dm2_range: (low, high) |δm²| [eV²], log-spaced; every δm² is negative.
        s2_range: (low, high) sin²2θ [dimensionless], log-spaced.
        T_end: end temperature of the full runs [MeV].
        epsilon: relative change of L0 in the sensitivity runs [dimensionless].
        samples: output samples per run (None: the deck's output.samples).
        threads: Numba threads (None: numba.get_num_threads()).
        chunk_sites: sites per compiled batch, at most (whole points).
        backend: "numpy" (the host batch, Numba threads) or "cupy" (the GPU batch, numba.cuda,
            one thread per site: lattice.device_batch; it agrees with the host to the tolerance,
            not bit for bit); "auto" on the command line picks cupy where a device answers.
    """

    deck: str
    overrides: tuple = ()
    n_dm2: int = 64
    n_s2: int = 64
    dm2_range: tuple = (1e-2, 1e3)
    s2_range: tuple = (1e-12, 1e-2)
    T_end: float = 3.0
    epsilon: float = regions.EPSILON
    samples: int | None = None
    threads: int | None = None
    chunk_sites: int = DEFAULT_CHUNK_SITES
    backend: str = "numpy"


@dataclass(frozen=True)
class Point:
    """One grid point: index (row of the table), |δm²| [eV²], sin²2θ, T_res [MeV]."""

    index: int
    dm2_abs: float
    s2: float
    T_res: float


# -- the sites --------------------------------------------------------------------------------------
class Sites:
    """The base deck and the site decks of a map.

    Args:
        spec: the MapSpec (samples None is resolved from the deck).
    """

    def __init__(self, spec: MapSpec):
        from lattice.deck import read_mapping
        from physics.qke_model import mixing_parameters
        from scripts.models import load_deck

        self.base, self.schema = load_deck(spec.deck, list(spec.overrides))
        self.raw = self.schema.apply_overrides(read_mapping(spec.deck), list(spec.overrides))
        self.spec = replace(spec, samples=spec.samples or int(self.base.output.samples))
        self.mixing = mixing_parameters(self.base)
        self.L0 = float(self.base.physics.L0)

    def factors(self):
        """L0 factors of a full point's runs: central, then (1 + ε), (1 − ε)."""
        return (1.0, 1.0 + self.spec.epsilon, 1.0 - self.spec.epsilon)

    def T_res(self, dm2_abs: float, s2: float) -> float:
        """Resonance temperature [MeV] at δm² = −dm2_abs [eV²], sin²2θ = s2 (with the deck's g*, ⟨p⟩/T)."""
        return replace(self.mixing, delta_m2_eV2=-dm2_abs, sin2_2theta=s2).resonance_temperature()

    def grid(self) -> list:
        """The points, |δm²| outer (rows of the image), sin²2θ inner."""
        s = self.spec
        dm2 = np.geomspace(*s.dm2_range, s.n_dm2)
        s2 = np.geomspace(*s.s2_range, s.n_s2)
        return [Point(i * s.n_s2 + j, float(d), float(x), self.T_res(float(d), float(x)))
                for i, d in enumerate(dm2) for j, x in enumerate(s2)]

    def points_at(self, pairs) -> list:
        """Points at given [(|δm²| [eV²], sin²2θ), ...] instead of the grid (tests, single points)."""
        return [Point(k, float(d), float(x), self.T_res(float(d), float(x))) for k, (d, x) in enumerate(pairs)]

    def site_values(self, point: Point, factor: float, T_end: float) -> dict:
        """The values a site sets: {"section.key": value}."""
        return {"physics.delta_m2_eV2": -point.dm2_abs, "physics.sin2_2theta": point.s2,
                "physics.L0": self.L0 * factor, "time.T_start_MeV": 2.0 * point.T_res,
                "time.T_end_MeV": T_end, "output.samples": self.spec.samples, "output.progress": "none"}

    def site_overrides(self, point: Point, factor: float, T_end: float) -> list:
        """The --set overrides (after the map's own) that make `qke run DECK` this site's run."""
        return [f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}"
                for k, v in self.site_values(point, factor, T_end).items()]

    def deck(self, point: Point, factor: float, T_end: float):
        """The validated site deck: the base deck's mapping with the site's values (as load_deck with
        site_overrides gives it, without parsing the file again)."""
        raw = {k: dict(v) if isinstance(v, dict) else v for k, v in self.raw.items()}
        for key, value in self.site_values(point, factor, T_end).items():
            section, name = key.split(".")
            raw.setdefault(section, {})
            raw[section] = dict(raw[section] or {}, **{name: value})
        return self.schema.build(raw, source=str(self.spec.deck))

    def probe_T_end(self, point: Point) -> float:
        """End of the point's probe run [MeV]."""
        return regions.PROBE_T_OVER_T_RES * point.T_res


# -- options --------------------------------------------------------------------------------------
def add_map_arguments(sc):
    """The --map options of `qke scan` (on the scan subparser)."""
    sc.add_argument("--map", action="store_true",
                    help="batched mode: the paper's Fig. 1, a log grid of |dm2| (dm2 < 0) x sin^2(2 theta), "
                    "each point a single site from 2 T_res, classified (physics/regions.py); writes an "
                    "HDF5 table (no --param/--values)")
    sc.add_argument("--n-dm2", type=int, default=64, help="--map: points along |dm2| (default 64)")
    sc.add_argument("--n-s2", type=int, default=64, help="--map: points along sin^2(2 theta) (default 64)")
    sc.add_argument("--dm2-range", type=float, nargs=2, default=(1e-2, 1e3), metavar=("LO", "HI"),
                    help="--map: |dm2| range [eV^2], log-spaced (default 1e-2 1e3)")
    sc.add_argument("--s2-range", type=float, nargs=2, default=(1e-12, 1e-2), metavar=("LO", "HI"),
                    help="--map: sin^2(2 theta) range, log-spaced (default 1e-12 1e-2)")
    sc.add_argument("--T-end", type=float, default=3.0,
                    help="--map: end temperature of the runs [MeV] (default 3)")
    sc.add_argument("--epsilon", type=float, default=regions.EPSILON,
                    help="--map: each point also runs with L0(1 +- epsilon) (default 1e-3)")
    sc.add_argument("--samples", type=int, default=None,
                    help="--map: output samples per run (default: the deck's output.samples)")
    sc.add_argument("--threads", type=int, default=None, help="--map: Numba threads (default: all)")
    sc.add_argument("--chunk-sites", type=int, default=DEFAULT_CHUNK_SITES,
                    help=f"--map: sites per compiled batch, at most (default {DEFAULT_CHUNK_SITES})")
    sc.add_argument("--backend", choices=("numpy", "cupy", "auto"), default="numpy",
                    help="--map: numpy runs the batches on the CPU (Numba threads), cupy on the GPU (numba.cuda, "
                    "one thread per site; raise --chunk-sites to fill it), auto on the GPU where one answers")
    sc.add_argument("--out", default=None, help=f"--map: output HDF5 file (default {DEFAULT_OUT})")
    sc.add_argument("--overwrite", action="store_true", help="--map: replace an existing output file")


def _allowed(option, value, allowed):
    return MapOptionError(f"{option} {value}: {allowed}")


def _check_range(option, lo, hi, n, top, top_rule):
    """MapOptionError unless 0 < lo < hi (lo = hi with n = 1) and hi `top_rule` top ("<" or "<=")."""
    below_top = hi <= top if top_rule == "<=" else hi < top
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi and below_top and (lo < hi or n == 1)):
        raise _allowed(option, f"{lo:g} {hi:g}", f"needs 0 < LO < HI {top_rule} {top:g} (LO = HI only with one point)")


def spec_from_args(args) -> MapSpec:
    """The MapSpec of the command line; MapOptionError for a value out of range (grid checks
    against the deck: check_sites)."""
    import numba

    if args.param or args.values:
        raise MapOptionError("--param/--values: not used with --map (it builds its own grid); give one or the other")
    for option, n in (("--n-dm2", args.n_dm2), ("--n-s2", args.n_s2)):
        if not 1 <= n <= MAX_POINTS_PER_AXIS:
            raise _allowed(option, n, f"must be an integer from 1 to {MAX_POINTS_PER_AXIS}")
    _check_range("--dm2-range", *args.dm2_range, args.n_dm2, DM2_MAX_EV2, "<=")
    _check_range("--s2-range", *args.s2_range, args.n_s2, 1.0, "<")
    lowest, highest = regions.repopulation_freeze_out_T(), regions.LASTING_BELOW_MEV
    if not lowest <= args.T_end < highest:
        raise _allowed("--T-end", f"{args.T_end:g}", f"must lie in [{lowest:.3g}, {highest:g}) MeV: from {highest:g} MeV "
                       f"up, the lasting-oscillation criterion (L still changing sign below {highest:g} MeV) cannot "
                       f"be met; below {lowest:.3g} MeV the actives decouple (Gamma_tautau < H)")
    if not 0 < args.epsilon <= EPSILON_MAX:
        raise _allowed("--epsilon", f"{args.epsilon:g}", f"must be in (0, {EPSILON_MAX:g}]")
    if args.samples is not None and not SAMPLES_RANGE[0] <= args.samples <= SAMPLES_RANGE[1]:
        raise _allowed("--samples", args.samples, f"must be an integer from {SAMPLES_RANGE[0]} to {SAMPLES_RANGE[1]}")
    most = numba.config.NUMBA_NUM_THREADS
    if args.threads is not None and not 1 <= args.threads <= most:
        raise _allowed("--threads", args.threads, f"must be from 1 to {most} (Numba's NUMBA_NUM_THREADS here)")
    if args.chunk_sites < 3:
        raise _allowed("--chunk-sites", args.chunk_sites, "must be at least 3 (one point's three runs)")
    backend = getattr(args, "backend", "numpy")
    if backend != "numpy":
        from lattice.device_batch import cuda_or_none
        if cuda_or_none() is not None:
            backend = "cupy"
        elif backend == "cupy":
            raise _allowed("--backend", backend, "no CUDA device answers here (numba.cuda.is_available() is False); "
                           "use numpy or auto")
        else:
            backend = "numpy"
    return MapSpec(args.deck, tuple(args.overrides), args.n_dm2, args.n_s2, tuple(args.dm2_range),
                   tuple(args.s2_range), float(args.T_end), float(args.epsilon), args.samples, args.threads,
                   args.chunk_sites, backend)


def check_sites(sites: Sites):
    """MapOptionError unless the deck is a single-site qke deck with L0 ≠ 0 and every point's
    probe end lies above T_end (the smallest T_res is at the smallest |δm²| and largest sin²2θ)."""
    from lattice.runconfig import is_single_site

    base, spec = sites.base, sites.spec
    if base.model != "qke" or not is_single_site(base):
        raise MapOptionError(f"{spec.deck}: --map needs a single-site qke deck (model qke, grid.shape [1]); "
                             f"this one is model {base.model!r}, grid.shape {list(getattr(base.grid, 'shape', []))}")
    if sites.L0 == 0:
        raise MapOptionError("physics.L0 = 0: --map needs L0 != 0 (growth is measured against |L0|)")
    lo, hi = spec.dm2_range
    T_min = sites.T_res(lo, spec.s2_range[1])
    if regions.PROBE_T_OVER_T_RES * T_min <= spec.T_end:
        raise _allowed("--dm2-range", f"{lo:g} {hi:g}", f"the smallest |dm2| has T_res = {T_min:.4g} MeV; every "
                       f"point needs {regions.PROBE_T_OVER_T_RES:g} T_res above --T-end {spec.T_end:g} MeV")


def output_file(out, overwrite: bool) -> Path:
    """The output path; MapOptionError if it exists (and not --overwrite) or is a directory."""
    path = Path(out or DEFAULT_OUT)
    if path.is_dir():
        raise MapOptionError(f"--out {path}: is a directory; give a file name (e.g. {path / 'map.h5'})")
    if path.exists() and not overwrite:
        raise MapOptionError(f"--out {path}: exists; pass --overwrite to replace it")
    return path


# -- running --------------------------------------------------------------------------------------
class BatchClock:
    """Progress of a stage: sites done / total, the share of site-samples done, elapsed, and the
    time left estimated from that share (rough: sites differ in cost by orders of magnitude, and
    the samples just below T_res cost most)."""

    def __init__(self, say, every_s: float = PROGRESS_EVERY_S):
        self.say, self.every_s = say, every_s
        self.t0 = time.perf_counter()
        self.label, self.total, self.stage_t0, self.last = "", 0, self.t0, self.t0

    def stage(self, label: str, total: int):
        """Start a stage of `total` sites."""
        self.label, self.total = label, total
        self.stage_t0 = self.last = time.perf_counter()

    def update(self, sites_done: int, share: float, force: bool = False):
        """Report `sites_done` finished sites and the share (0..1) of the stage's site-samples done;
        printed at most every every_s seconds unless forced."""
        now = time.perf_counter()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.stage_t0
        eta = f"{elapsed * (1 - share) / share:.0f} s" if share > 0 else "?"
        self.say(f"{self.label}: {sites_done}/{self.total} sites ({100 * share:.0f} % of site-samples), "
                 f"{elapsed:.0f} s ({now - self.t0:.0f} s in all), ETA {eta}", flush=True)


@dataclass
class StageStats:
    """Totals of the batches run: sites, step attempts, compiled-loop wall time [s]."""

    sites: int = 0
    attempts: int = 0
    loop_wall_s: float = 0.0


def run_points(sites: Sites, jobs, clock: BatchClock, stats: StageStats):
    """Run jobs [(point, [(factor, T_end), ...]), ...] in chunks of whole points; yields
    (point, [BatchSiteResult per run]) in job order."""
    from lattice.batched_sites import run_decks

    spec = sites.spec
    done = 0
    total = max(1, sum(len(runs) for _, runs in jobs))
    chunk_samples = max(1, spec.samples // 20)
    i = 0
    while i < len(jobs):
        chunk, n = [], 0
        while i < len(jobs) and (not chunk or n + len(jobs[i][1]) <= spec.chunk_sites):
            chunk.append(jobs[i])
            n += len(jobs[i][1])
            i += 1
        decks = [sites.deck(point, factor, T_end) for point, runs in chunk for factor, T_end in runs]
        report = (lambda p, base=done, n=n: clock.update(base + p.sites_done,
                                                    (base + n * p.samples_done / max(1, p.samples_total)) / total))
        results = run_decks(decks, sites.schema, chunk_samples, report, spec.threads, gpu=spec.backend == "cupy")
        done += n
        clock.update(done, done / total, force=True)
        stats.sites += n
        stats.attempts += sum(r.stats["accepted"] + r.stats["rejected"] for r in results)
        stats.loop_wall_s += results[0].stats["batch_wall_s"]
        k = 0
        for point, runs in chunk:
            yield point, results[k:k + len(runs)]
            k += len(runs)


COLUMNS = (
    ("dm2_abs_eV2", "eV^2", "|dm2| (dm2 = -|dm2| < 0)"),
    ("sin2_2theta", "1", "vacuum mixing sin^2(2 theta)"),
    ("T_res_MeV", "MeV", "resonance temperature 15.97 (|dm2| cos 2theta / eV^2)^(1/6) MeV"),
    ("T_end_MeV", "MeV", "end of the point's runs: T_end, or 0.9 T_res for a point settled by its probe run"),
    ("runs", "count", "runs of the point: 3 (L0, L0(1+eps), L0(1-eps)) or 1 (settled by the probe run)"),
    ("L_final", "per photon", "final L of the central run (L0)"),
    ("L_final_plus", "per photon", "final L of the run with L0(1+eps) (NaN with one run)"),
    ("L_final_minus", "per photon", "final L of the run with L0(1-eps) (NaN with one run)"),
    ("L_max_over_L0", "1", "max |L| / |L0| over the central run's samples"),
    ("sterile_over_active_final", "1", "sterile/active number ratio at the central run's end"),
    ("sterile_over_active_at_T_res", "1", "sterile/active of the central run at T_res (linear in ln T between "
     "the two samples around it)"),
    ("onset_T_MeV", "MeV", "growth onset of the central run, |L| > 1e3 |L0| (NaN: none)"),
    ("sign_changes", "count", "sign changes of L after the onset, central run, between samples (a lower bound)"),
    ("sign_changes_T_high_MeV", "MeV", "sample just before the first of them (NaN: none)"),
    ("sign_changes_T_low_MeV", "MeV", "sample just after the last of them (NaN: none)"),
    ("final_signs_differ", "bool", "1 if the final sign of L differs between the point's runs"),
    ("attempts", "count", "step attempts (accepted + rejected) of the point's runs, its probe run included"),
    ("failed_runs", "count", "runs of the point that failed (region unresolved)"),
    ("region", "code", "region code (physics/regions.py); names in the attribute `names`"),
)
"""The table: (column, units, description); one row per point."""


def measures(point: Point, runs, L0: float) -> regions.PointMeasures:
    """regions.measure of a point's runs (central first)."""
    central = runs[0]
    return regions.measure(central.T, central.series["L"], central.series["sterile_over_active"], L0, point.T_res,
                           [float(r.series["L"][-1]) for r in runs], any(r.error is not None for r in runs))


def point_row(point: Point, runs, L0: float, T_end: float, extra_attempts: int = 0) -> dict:
    """One table row from a point's runs (central first) [units as COLUMNS]."""
    from physics.analysis import growth_onset

    central = runs[0]
    T, L, ratio = central.T, central.series["L"], central.series["sterile_over_active"]
    finals = [float(r.series["L"][-1]) for r in runs]
    failed = sum(r.error is not None for r in runs)
    m = measures(point, runs, L0)
    onset = growth_onset(T, L, L0)
    pad = finals + [math.nan] * (3 - len(finals))
    return {"dm2_abs_eV2": point.dm2_abs, "sin2_2theta": point.s2, "T_res_MeV": point.T_res, "T_end_MeV": T_end,
            "runs": len(runs), "L_final": pad[0], "L_final_plus": pad[1], "L_final_minus": pad[2],
            "L_max_over_L0": float(np.nanmax(np.abs(L), initial=0.0) / abs(L0)),
            "sterile_over_active_final": float(ratio[-1]), "sterile_over_active_at_T_res": m.ratio_at_T_res,
            "onset_T_MeV": math.nan if onset is None else onset, "sign_changes": m.sign_changes.count,
            "sign_changes_T_high_MeV": m.sign_changes.T_high, "sign_changes_T_low_MeV": m.sign_changes.T_low,
            "final_signs_differ": int(m.final_signs_differ),
            "attempts": extra_attempts + sum(r.stats["accepted"] + r.stats["rejected"] for r in runs),
            "failed_runs": failed, "region": regions.classify(m)}


@dataclass
class MapResult:
    """A finished map: rows (one dict per point, in grid order), totals, and (with keep_runs) the
    runs of every point (point index -> [BatchSiteResult, ...], central first)."""

    sites: Sites
    points: list
    rows: list
    probe: StageStats
    full: StageStats
    wall_s: float
    threads: int
    runs: dict = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        """Step attempts (accepted + rejected) of all sites."""
        return self.probe.attempts + self.full.attempts

    @property
    def sites_run(self) -> int:
        """Sites of both stages."""
        return self.probe.sites + self.full.sites

    @property
    def loop_wall_s(self) -> float:
        """Wall time in the compiled batch loops [s]."""
        return self.probe.loop_wall_s + self.full.loop_wall_s

    @property
    def site_steps_per_s(self) -> float:
        """Step attempts of all sites over the whole wall time [1/s]."""
        return self.attempts / self.wall_s if self.wall_s > 0 else math.nan


def run_map(spec: MapSpec, say=print, keep_runs: bool = False, sites: Sites | None = None, pairs=None) -> MapResult:
    """Run the two stages (module docstring) and return the rows; the grid of `spec`, or the
    points `pairs` [(|δm²| [eV²], sin²2θ), ...] when given."""
    import numba

    wall0 = time.perf_counter()
    sites = sites or Sites(spec)
    spec = sites.spec
    check_sites(sites)
    threads = spec.threads or numba.get_num_threads()
    points = sites.grid() if pairs is None else sites.points_at(pairs)
    clock = BatchClock(say)
    probe, full = StageStats(), StageStats()
    rows, kept, probe_attempts = {}, {}, {}
    clock.stage(f"probe runs (2 T_res -> {regions.PROBE_T_OVER_T_RES:g} T_res)", len(points))
    pending = []
    for point, runs in run_points(sites, [(p, [(1.0, sites.probe_T_end(p))]) for p in points], clock, probe):
        if regions.settled_by_probe(measures(point, runs, sites.L0)):
            rows[point.index] = point_row(point, runs, sites.L0, sites.probe_T_end(point))
            if keep_runs:
                kept[point.index] = runs
        else:
            pending.append(point)
            probe_attempts[point.index] = sum(r.stats["accepted"] + r.stats["rejected"] for r in runs)
    say(f"probe: {len(points) - len(pending)} of {len(points)} points thermalised at T_res without growth "
        f"(settled); {len(pending)} run on as {3 * len(pending)} sites to {spec.T_end:g} MeV", flush=True)
    clock.stage(f"full runs (2 T_res -> {spec.T_end:g} MeV, 3 per point)", 3 * len(pending))
    jobs = [(p, [(f, spec.T_end) for f in sites.factors()]) for p in pending]
    for point, runs in run_points(sites, jobs, clock, full):
        rows[point.index] = point_row(point, runs, sites.L0, spec.T_end, probe_attempts[point.index])
        if keep_runs:
            kept[point.index] = runs
    return MapResult(sites, points, [rows[p.index] for p in points], probe, full,
                     time.perf_counter() - wall0, threads, kept)


# -- the table ------------------------------------------------------------------------------------
def command_line(spec: MapSpec, out) -> str:
    """The `qke scan --map` command that reproduces the map (every option spelled out)."""
    words = ["qke", "scan", str(spec.deck), "--map", "--n-dm2", str(spec.n_dm2), "--n-s2", str(spec.n_s2),
             "--dm2-range", *map(repr, spec.dm2_range), "--s2-range", *map(repr, spec.s2_range),
             "--T-end", repr(spec.T_end), "--epsilon", repr(spec.epsilon), "--samples", str(spec.samples),
             "--chunk-sites", str(spec.chunk_sites)]
    if spec.threads:
        words += ["--threads", str(spec.threads)]
    if spec.backend != "numpy":
        words += ["--backend", spec.backend]
    for override in spec.overrides:
        words += ["--set", override]
    return shlex.join(words + ["--out", str(out)])


def write_map(path, result: MapResult) -> Path:
    """Write the table (one dataset per column, units and description as attributes; the region
    names; the resolved base deck, the command, the criteria and the totals as file attributes)
    through a temporary file in the same folder, replaced into `path` at the end."""
    import h5py
    import numba

    from lattice.timeseries import VERSION

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    spec = result.sites.spec
    with h5py.File(tmp, "w") as f:
        for name, units, description in COLUMNS:
            values = np.array([row[name] for row in result.rows])
            ds = f.create_dataset(name, data=values)
            ds.attrs["units"] = units
            ds.attrs["description"] = description
        f["region"].attrs["names"] = list(regions.REGION_NAMES)
        a = f.attrs
        a["command"] = command_line(spec, path)
        a["deck"] = result.sites.schema.to_yaml(result.sites.base)
        a["deck_path"] = str(spec.deck)
        a["L0"] = result.sites.L0
        a["n_dm2"], a["n_s2"] = spec.n_dm2, spec.n_s2
        a["dm2_range_eV2"], a["s2_range"] = spec.dm2_range, spec.s2_range
        a["T_end_MeV"], a["epsilon"], a["samples"] = spec.T_end, spec.epsilon, spec.samples
        for name in ("GROWTH_FACTOR", "THERMALISED_RATIO", "CHAOTIC_SIGN_CHANGES", "LASTING_BELOW_MEV",
                     "PROBE_T_OVER_T_RES"):
            a[f"regions.{name}"] = getattr(regions, name)
        a["threads"] = result.threads
        a["backend"] = spec.backend
        if spec.backend == "cupy":
            from lattice.device_batch import gpu_name
            a["gpu"] = gpu_name()
        a["wall_s"] = result.wall_s
        a["loop_wall_s"] = result.loop_wall_s
        a["sites"] = result.sites_run
        a["attempts"] = result.attempts
        a["site_steps_per_s"] = result.site_steps_per_s
        a["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs visible"
        a["numba"] = numba.__version__
        a["version"] = VERSION
    os.replace(tmp, path)
    return path


def region_counts(rows) -> str:
    """'name: count, ...' over the regions present."""
    codes = np.array([row["region"] for row in rows])
    return ", ".join(f"{name}: {int((codes == k).sum())}" for k, name in enumerate(regions.REGION_NAMES)
                     if (codes == k).any())


def scan_map(args, comm, say) -> int:
    """`qke scan DECK --map`: check the options, run, write; returns the exit status."""
    from lattice.deck import DeckError

    try:
        if comm.size > 1:
            raise MapOptionError(f"--map: runs in one process (threads: --threads); launched on {comm.size} "
                                 f"MPI ranks (run without mpiexec)")
        spec = spec_from_args(args)
        out = output_file(args.out, args.overwrite)
        sites = Sites(spec)
        check_sites(sites)
    except (MapOptionError, DeckError) as exc:
        say(f"qke scan: {exc}", file=sys.stderr)
        return 2
    spec = sites.spec
    say(f"# {spec.deck}: {spec.n_dm2} x {spec.n_s2} points, |dm2| {spec.dm2_range[0]:g}..{spec.dm2_range[1]:g} eV^2 "
        f"(dm2 < 0) x sin^2 2theta {spec.s2_range[0]:g}..{spec.s2_range[1]:g}, L0 {sites.L0:g}, eps {spec.epsilon:g}, "
        f"{spec.samples} samples per run, T_end {spec.T_end:g} MeV", flush=True)
    result = run_map(spec, say, sites=sites)
    path = write_map(out, result)
    say(f"regions: {region_counts(result.rows)}")
    where = "the GPU" if spec.backend == "cupy" else f"{result.threads} Numba thread(s)"
    say(f"run time {result.wall_s:.1f} s on {where} ({result.sites_run} sites, "
        f"{result.attempts:.4e} step attempts; compiled loops {result.loop_wall_s:.1f} s): "
        f"{result.site_steps_per_s:.4e} site-steps/s (attempts / wall)")
    say(f"wrote {path}")
    return 0
