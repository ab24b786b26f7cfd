"""The paper's figures from run output (`qke plot fig1|fig2|fig3|domains`).

Enqvist, Kainulainen & Sorri (2000): Fig. 1 is the mixing-parameter plane classified by what the
homogeneous equations do (from the table `qke scan DECK --map` writes, scripts/fig1_map.py);
Fig. 2 is L_ντ(x) at five temperatures, Fig. 3 the sterile/active number ratio against T
(lattice runs and single-site, homogeneous runs on one axes); `domains` measures the leptonic
domains the paper describes in words (count, sizes in active diffusion lengths ℓ_D,
⟨L⟩/⟨|L|⟩).

Run folders: a folder's run record (run.json, `lattice.runfolder`) and the `run_id` attributes
of its timeseries.h5 and snapshots must name one run (else PlotError: a plot never mixes files of
two runs); files without a run id (older runs) are accepted. A run whose record says it did not
finish is still drawn, with one note on stderr and "(incomplete)" in its legend entry or title.

Units used throughout:
    T                     MeV
    lattice coordinates   comoving, in Hubble lengths at T_ref, 1/H(T_ref) (as the snapshots)
    Fig. 2 abscissa       ℓ_18 (18 MeV / T), ℓ_18 = 1/H(18 MeV): a comoving unit equal to ℓ_18 at
                          18 MeV, so x = coordinate × 18 MeV / T_ref
    domain sizes          active diffusion lengths ℓ_D(T) = √(𝒟_ττ/H), both as comoving lengths
    asymmetries           per photon

The functions that compute numbers (reading, snapshot selection, unit conversions, domain runs)
are separate from the drawing functions (`draw_*`), which use matplotlib's Agg canvas (no
display). Bad input raises `PlotError`, which the CLI reports in one line with exit status 2.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import yaml

L18_T_MEV = 18.0
"""Temperature [MeV] whose Hubble length ℓ_18 = 1/H(18 MeV) is the paper's Fig. 2 length unit."""
MAX_FIG2_PANELS = 5
FORMATS = (".png", ".pdf")


class PlotError(ValueError):
    """A plot command cannot run on its input (missing or unsuitable run directory, bad option)."""


# -- reading ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One QKE run's output folder (a lattice, or for `fig3` also a single site).

    Attributes:
        path: the run directory.
        deck: the validated deck the run used (rebuilt from the `deck` attribute).
        series: time-series dataset name -> 1D array (T in MeV, descending; see docs/user-guide/output.md).
        record: the folder's run record (RUN_DIR/run.json, `lattice.runfolder`) as a dict, or
            None for a run written before run records existed.
    """

    path: Path
    deck: object
    series: dict
    record: dict | None = None

    @property
    def T_ref(self) -> float:
        """grid.T_ref_MeV [MeV]: where comoving and physical lengths coincide."""
        return float(self.deck.grid.T_ref_MeV)

    @property
    def periodic(self) -> bool:
        """Whether L wraps around along the lattice axes (grid.bc periodic or offdiag_zero)."""
        from lattice.boundary import axis_is_periodic

        return axis_is_periodic(self.deck.grid.bc)

    @property
    def single_site(self) -> bool:
        """Whether the run is the homogeneous model (grid.shape [1]: one cell, no space)."""
        from lattice.runconfig import is_single_site

        return is_single_site(self.deck)

    @property
    def complete(self) -> bool:
        """False only when the run record says the run did not finish (status other than
        `complete`); a run without a record (older runs) counts as complete."""
        return self.record is None or self.record.get("status") == "complete"

    def label(self) -> str:
        """Legend text: the deck title with grid.bc, or grid.bc alone (a lattice); the deck title,
        or "single site" (a single site)."""
        if self.single_site:
            return self.deck.title or "single site"
        bc = f"bc {self.deck.grid.bc}"
        return f"{self.deck.title} ({bc})" if self.deck.title else bc


def deck_from_text(text: str, source: str):
    """The validated deck stored as YAML text in an output file; PlotError if it does not parse."""
    from lattice.deck import DeckError
    from scripts.models import schema_for

    try:
        raw = yaml.safe_load(text)
        model = raw.get("model") if isinstance(raw, dict) else None
        return schema_for(model).build(raw, source=source)
    except (yaml.YAMLError, DeckError) as exc:
        raise PlotError(f"{source}: the stored deck is not readable: {exc}") from None


def load_run(run_dir, single_site_ok: bool = False) -> Run:
    """Read RUN_DIR/timeseries.h5 of a QKE run and its run record; PlotError if it is missing, not
    a lattice run (a single site is accepted when ``single_site_ok``), or if the folder holds
    files of more than one run (check_run_ids)."""
    from lattice.runfolder import read_record
    from lattice.runconfig import is_single_site

    path = Path(run_dir)
    ts = path / "timeseries.h5"
    if not path.is_dir():
        raise PlotError(f"{run_dir}: no such run directory")
    if not ts.is_file():
        raise PlotError(f"{run_dir}: no timeseries.h5 (not the output folder of `qke run`)")
    try:
        with h5py.File(ts, "r") as f:
            text = f.attrs.get("deck")
            ts_id = attr_text(f.attrs.get("run_id"))
            series = {name: f[name][()] for name in f if isinstance(f[name], h5py.Dataset)}
    except OSError as exc:
        raise PlotError(f"{ts}: not readable as HDF5: {exc}") from None
    if text is None:
        raise PlotError(f"{ts}: no `deck` attribute")
    deck = deck_from_text(text, str(ts))
    shape = getattr(getattr(deck, "grid", None), "shape", None)
    if deck.model != "qke" and single_site_ok:
        raise PlotError(f"{run_dir}: not a qke run (model {deck.model!r}); the plot needs the output "
                        f"of a qke deck (a lattice or a single site)")
    if deck.model != "qke" or (is_single_site(deck) and not single_site_ok):
        raise PlotError(f"{run_dir}: not a lattice run (model {deck.model!r}, grid.shape "
                        f"{list(shape) if shape else 'n/a'}); the plots need a qke deck with more than one cell")
    record = read_record(path)
    check_run_ids(path, record, ts_id)
    return Run(path, deck, series, record)


def attr_text(value):
    """An HDF5 string attribute as str (h5py gives str or bytes), or None when absent or empty."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value) if value not in (None, "") else None


def check_run_ids(path: Path, record, ts_id) -> None:
    """PlotError unless all run ids present in the folder agree: the run record's, the time
    series' and every snapshot's (``run_id`` attributes). Files without one (runs written before
    run ids existed) are not compared; a folder with none at all passes."""
    sources = [("run.json", record.get("run_id") if isinstance(record, dict) else None),
               ("timeseries.h5", ts_id)]
    for snap in sorted((path / "snapshots").glob("snap_*.h5")):
        try:
            with h5py.File(snap, "r") as f:
                sources.append((f"snapshots/{snap.name}", attr_text(f.attrs.get("run_id"))))
        except OSError as exc:
            raise PlotError(f"{snap}: not readable as HDF5: {exc}") from None
    present = [(name, str(rid)) for name, rid in sources if rid]
    for name, rid in present[1:]:
        if rid != present[0][1]:
            first, ref = present[0]
            raise PlotError(f"{path}: files of two runs in one folder: {name} has run_id {rid}, "
                            f"{first} has {ref}; a plot reads one run's files only")


def snapshot_paths(run: Run) -> list:
    """RUN_DIR/snapshots/snap_*.h5 in index order; PlotError if there are none."""
    paths = sorted((run.path / "snapshots").glob("snap_*.h5"))
    if not paths:
        raise PlotError(f"{run.path}: no snapshots (snapshots/snap_*.h5); run the deck with "
                        f"output.snapshots > 0")
    return paths


def snapshot_temperatures(paths) -> np.ndarray:
    """Temperature attribute T [MeV] of each snapshot file (attributes only, no fields read)."""
    temps = []
    for p in paths:
        with h5py.File(p, "r") as f:
            temps.append(float(f.attrs["T"]))
    return np.array(temps)


def read_fields(path):
    """(fields, attrs) of one snapshot with L_nutau [per photon] added (3/16 (P0⁻ + Pz⁻))."""
    from lattice.snapshots import read_snapshot
    from physics.qke import FIELDS, QKELocal

    fields, attrs = read_snapshot(path)
    fields["L_nutau"] = QKELocal.L_nutau(np.stack([fields[name] for name in FIELDS]))
    return fields, attrs


def coordinates(attrs, axis: int, n: int) -> np.ndarray:
    """Cell centres along ``axis`` [1/H(T_ref), comoving] from a snapshot's dx and origin."""
    from lattice.snapshots import cell_centres

    return cell_centres(n, float(attrs["dx"][axis]), float(attrs["origin"][axis]))


# -- selection and units ------------------------------------------------------------------------
def spread_indices(n: int, k: int) -> list:
    """Up to ``k`` distinct indices spread evenly over 0..n-1, first and last included."""
    return sorted(set(np.round(np.linspace(0, n - 1, min(k, n))).astype(int).tolist()))


def nearest_indices(available, wanted) -> list:
    """Index into ``available`` nearest to each of ``wanted`` (same units), duplicates dropped,
    in the order of ``available``."""
    available = np.asarray(available, dtype=float)
    return sorted({int(np.argmin(np.abs(available - w))) for w in wanted})


def x_in_l18(coord, T_ref: float):
    """Comoving coordinate [1/H(T_ref)] -> the paper's unit ℓ_18 (18 MeV/T), ℓ_18 = 1/H(18 MeV).

    With H ∝ T² and physical lengths ∝ 1/T, the comoving unit ℓ_18 (18 MeV/T) is (T_ref/18 MeV)
    Hubble lengths 1/H(T_ref) at T_ref, so x = coordinate × 18 MeV / T_ref.
    """
    return np.asarray(coord) * (L18_T_MEV / T_ref)


def diffusion_length(deck, T):
    """Active diffusion length ℓ_D = √(𝒟_ττ/H(T)) at T [MeV], as a comoving length in 1/H(T_ref)."""
    from physics.cosmology import Cosmology
    from physics.qke_model import mixing_parameters
    from physics.qke import QKEDiffusion

    params = mixing_parameters(deck)
    cosmology, T_ref = Cosmology(params.g_star), deck.grid.T_ref_MeV
    comoving = QKEDiffusion(params, T_ref).comoving_diffusion_length(T, cosmology.hubble(T))  # MeV^-1
    return comoving * cosmology.hubble(T_ref)


def mean_free_path(deck, T):
    """Active elastic mean free path 1/Γ^el_ττ at T [MeV], as a comoving length in 1/H(T_ref)."""
    from physics.cosmology import Cosmology
    from physics.qke_model import mixing_parameters
    from physics.qke import QKEDiffusion

    params = mixing_parameters(deck)
    T_ref = deck.grid.T_ref_MeV
    return QKEDiffusion(params, T_ref).comoving_mean_free_path(T) * Cosmology(params.g_star).hubble(T_ref)


def window_mask(x, window):
    """Boolean mask of x inside [x0, x1] (same units as x); all True when window is None."""
    if window is None:
        return np.ones(np.shape(x), dtype=bool)
    return (x >= window[0]) & (x <= window[1])


# -- domains ------------------------------------------------------------------------------------
def sign_runs(line, periodic: bool) -> np.ndarray:
    """Lengths [cells] of the maximal runs of constant sign of a 1D array.

    The sign is that of `np.signbit` (0 counts as positive), as in the time series' sign_changes.
    On a periodic axis a run crossing the end joins the one at the start: the number of runs is
    then the number of sign changes around the ring (1 if there are none).
    """
    neg = np.signbit(np.asarray(line))
    changes = np.flatnonzero(neg[1:] != neg[:-1]) + 1   # first cell of every run but the first
    if periodic and changes.size and neg[0] == neg[-1]:  # start the ring at a real boundary
        neg = np.roll(neg, -changes[0])
        changes = np.flatnonzero(neg[1:] != neg[:-1]) + 1
    return np.diff(np.concatenate(([0], changes, [neg.size])))


def domain_runs(L, periodic: bool):
    """Domains of sign along axis 0 of an nD array, on every line through the grid.

    Returns:
        (counts, sizes): number of domains on each line (array, one entry per line) and every
        domain's length [cells], all lines pooled.
    """
    lines = np.moveaxis(np.asarray(L), 0, -1).reshape(-1, np.shape(L)[0])
    runs = [sign_runs(line, periodic) for line in lines]
    return np.array([r.size for r in runs]), np.concatenate(runs)


@dataclass(frozen=True)
class DomainRow:
    """Domain statistics of one snapshot.

    Attributes:
        T: temperature [MeV].
        domains: domains per line along axis 0, averaged over lines.
        sizes_lD: every domain's length [ℓ_D(T)].
        l_D: ℓ_D(T) [1/H(T_ref), comoving].
        L_ratio: ⟨L⟩/⟨|L|⟩ from the time-series sample nearest T.
        sterile_over_active: from the same sample.
        dx_lD: grid spacing [ℓ_D(T)].
        dx_mfp: grid spacing in active mean free paths 1/Γ^el_ττ(T).
        L_abs: ⟨|L|⟩ [per photon] from the same sample.
    """

    T: float
    domains: float
    sizes_lD: np.ndarray
    l_D: float
    L_ratio: float
    sterile_over_active: float
    dx_lD: float
    dx_mfp: float
    L_abs: float


def asymmetry_ratio(series) -> np.ndarray:
    """⟨L⟩/⟨|L|⟩ of a time series (nan where ⟨|L|⟩ = 0)."""
    L, L_abs = np.asarray(series["L"], float), np.asarray(series["L_abs"], float)
    return np.divide(L, L_abs, out=np.full_like(L, np.nan), where=L_abs != 0)


def domain_row(run: Run, path) -> DomainRow:
    """Domain statistics of the snapshot at ``path`` (sizes from its own dx: grid doubling allowed)."""
    fields, attrs = read_fields(path)
    T = float(attrs["T"])
    counts, cells = domain_runs(fields["L"], run.periodic)
    l_D = diffusion_length(run.deck, T)
    k = nearest_indices(run.series["T"], [T])[0]
    dx = float(attrs["dx"][0])
    return DomainRow(T, float(counts.mean()), cells * dx / l_D, l_D,
                     float(asymmetry_ratio(run.series)[k]), float(run.series["sterile_over_active"][k]),
                     dx / l_D, dx / mean_free_path(run.deck, T), float(run.series["L_abs"][k]))


TABLE_COLUMNS = ("T_MeV", "domains", "smallest_lD", "median_lD", "largest_lD", "L/|L|", "sterile/active",
                 "mean|L|", "dx_lD", "dx_mfp")


def format_table(rows, periodic: bool, ndim: int) -> str:
    """The domain table: a '#' header, then one line per snapshot (columns TABLE_COLUMNS)."""
    where = "per line along axis 0, averaged over lines" if ndim > 1 else "over the axis"
    head = [f"# domains: maximal runs of one sign of L {where} ({'periodic' if periodic else 'non-periodic'}); "
            f"sizes in active diffusion lengths l_D = sqrt(D_tautau/H), comoving; dx_lD, dx_mfp: "
            f"grid spacing in l_D and in active mean free paths 1/Gamma^el_tautau",
            "# " + " ".join(f"{c:>14s}" for c in TABLE_COLUMNS)]
    body = [f"  {r.T:14.6g} {r.domains:14.4g} {r.sizes_lD.min():14.4g} {np.median(r.sizes_lD):14.4g} "
            f"{r.sizes_lD.max():14.4g} {r.L_ratio:14.4g} {r.sterile_over_active:14.4e} {r.L_abs:14.4e} "
            f"{r.dx_lD:14.4g} {r.dx_mfp:14.4g}" for r in rows]
    return "\n".join(head + body)


# -- Fig. 2 -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Panel:
    """One Fig. 2 panel: T [MeV], x [ℓ_18 (18 MeV/T)], L_ντ(x) [per photon]."""

    T: float
    x: np.ndarray
    L_nutau: np.ndarray

    @property
    def extent(self) -> float:
        """max |L_ντ| in the panel [per photon]: the y half-range, bottom to the zero line."""
        return float(np.max(np.abs(self.L_nutau)))


def fig2_snapshots(paths, temperatures=None) -> list:
    """The snapshot files for Fig. 2: nearest to ``temperatures`` [MeV], else five spread evenly."""
    if temperatures:
        return [paths[i] for i in nearest_indices(snapshot_temperatures(paths), temperatures)]
    return [paths[i] for i in spread_indices(len(paths), MAX_FIG2_PANELS)]


def fig2_panel(path, T_ref: float, window=None) -> Panel:
    """L_ντ along axis 0 (line through index 0 of the other axes) of one snapshot, x in ℓ_18 units.

    ``window`` = (x0, x1) in ℓ_18 (18 MeV/T) keeps the cells inside it; PlotError if none are.
    """
    fields, attrs = read_fields(path)
    line = fields["L_nutau"][(slice(None),) + (0,) * (fields["L_nutau"].ndim - 1)]
    x = x_in_l18(coordinates(attrs, 0, line.size), T_ref)
    keep = window_mask(x, window)
    if not keep.any():
        raise PlotError(f"--window {window[0]:g} {window[1]:g}: no cell inside at T = {float(attrs['T']):.4g} "
                        f"MeV (the grid spans {x[0]:.4g}..{x[-1]:.4g} l_18 (18 MeV/T))")
    return Panel(float(attrs["T"]), x[keep], line[keep])


def fig2_title(run: Run) -> str:
    """Fig. 2 title: the run's label, and on an nD grid which line is drawn."""
    ndim = len(run.deck.grid.shape)
    label = run.label() + ("" if run.complete else INCOMPLETE)
    if ndim == 1:
        return label
    others = "axis 1" if ndim == 2 else "axes 1 and 2"
    return f"{label}\n{ndim}D grid: the line along axis 0 through cell 0 of {others}"


# -- drawing ------------------------------------------------------------------------------------
def new_figure(width_in: float, height_in: float):
    """A matplotlib Figure on the Agg canvas (no display, no pyplot state); sizes in inches."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotError("matplotlib is not installed (pip install -e '.[plot]')") from None
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig, out) -> Path:
    """Write ``fig`` to ``out`` (.png at 150 dpi, or .pdf), creating the folder; returns the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    return out


def decreasing_T_axis(ax):
    """Label the x axis as T [MeV] and make it decrease to the right (time runs to the right)."""
    ax.set_xlabel("T [MeV]")
    if not ax.xaxis_inverted():
        ax.invert_xaxis()


FIG2_MARGIN = 0.05
"""Fig. 2 y margin beyond the data, as a fraction of the data's range."""
FIG2_NEAR_ZERO = 0.25
"""A one-signed Fig. 2 curve has 0 inside its y range when the gap between 0 and the curve is at
most this fraction of the curve's own range."""


def fig2_limits(values, margin: float = FIG2_MARGIN, near: float = FIG2_NEAR_ZERO):
    """y limits (lo, hi) [the values' units] that fit a Fig. 2 curve.

    From the data's minimum and maximum with ``margin`` × their range added on each side; a
    one-signed curve takes in 0 only when 0 is near (the gap to it at most ``near`` × the range),
    so a curve far from 0 fills its panel. A constant curve gets ±``margin`` × its value (±1 if 0).
    """
    values = np.asarray(values, dtype=float)
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo
    if span > 0 and lo > 0 and lo <= near * span:
        lo = 0.0
    elif span > 0 and hi < 0 and -hi <= near * span:
        hi = 0.0
    span = (hi - lo) or abs(hi) or 1.0 / margin
    return lo - margin * span, hi + margin * span


def fig2_exponent(lo: float, hi: float) -> int:
    """Power of ten k of the larger limit, floor(log10 max(|lo|, |hi|)): in units of 10^k the
    panel's tick values are below 10 in magnitude (0 for limits of 0)."""
    top = max(abs(lo), abs(hi))
    return int(np.floor(np.log10(top))) if top > 0 else 0


def draw_fig2(panels, title: str):
    """Fig. 2: one panel per temperature, stacked (highest T on top), each with y limits that fit
    its curve (fig2_limits) and labelled y ticks in units of 10^k per photon (k per panel, written
    beside the ticks); the dotted line is L_ντ = 0 where it is in range, T [MeV] on the right."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    fig = new_figure(6.4, 1.4 * len(panels) + 0.8)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, p in zip(axes, sorted(panels, key=lambda p: -p.T)):
        lo, hi = fig2_limits(p.L_nutau)
        k = fig2_exponent(lo, hi)
        scale = 10.0 ** k
        ax.plot(p.x, p.L_nutau / scale, lw=1.0, color="k")
        if lo <= 0.0 <= hi:
            ax.axhline(0.0, ls=":", lw=0.8, color="k")
        ax.set_ylim(lo / scale, hi / scale)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))
        ax.tick_params(axis="y", labelsize="small")
        ax.set_ylabel(rf"$\times 10^{{{k}}}$", fontsize="small")
        ax.text(1.02, 0.5, f"{p.T:.4g} MeV", transform=ax.transAxes, ha="left", va="center")
    axes[0].set_title(title, fontsize="medium")
    axes[-1].set_xlabel(r"$x$ [$\ell_{18}\,(18\,\mathrm{MeV}/T)$]")
    fig.supylabel(r"$L_{\nu_\tau}(x)$ [per photon; tick values $\times 10^k$ as marked per panel]",
                  fontsize="small")
    return fig


FIG3_KINDS = ("solid: lattice runs, the ratio of the lattice averages "
              r"$\langle P_0^+ - P_z^+\rangle / \langle P_0^+ + P_z^+\rangle$" "\n"
              "dashed: single-site (homogeneous) runs, "
              r"$(P_0^+ - P_z^+) / (P_0^+ + P_z^+)$ of the one site")
"""Fig. 3 legend title when single-site runs are drawn: which curve is which quantity."""


def draw_fig3(runs, labels):
    """Fig. 3: sterile/active number ratio against T [MeV] (decreasing), log y, one line per run:
    solid for a lattice (the ratio of the lattice averages), dashed for a single site; with a
    single site among the runs the legend's title says which is which."""
    fig = new_figure(6.4, 4.4)
    ax = fig.subplots()
    for run, label in zip(runs, labels):
        T, ratio = run.series["T"], run.series["sterile_over_active"]
        positive = ratio > 0
        ax.plot(T[positive], ratio[positive], ls="--" if run.single_site else "-", label=label)
    ax.set_yscale("log")
    decreasing_T_axis(ax)
    ax.set_ylabel(r"sterile / active number ratio ($\nu + \bar\nu$)")
    any_single = any(r.single_site for r in runs)
    ax.legend(fontsize="small", title=FIG3_KINDS if any_single else None, title_fontsize="x-small")
    return fig


def draw_domains(run: Run, rows):
    """Domains against T [MeV]: count, smallest/median/largest size [ℓ_D], ⟨L⟩/⟨|L|⟩ (time
    series), and the histogram of sizes [ℓ_D] at the last snapshot."""
    fig = new_figure(9.0, 6.5)
    (count, size), (ratio, hist) = fig.subplots(2, 2)
    T = np.array([r.T for r in rows])
    count.plot(T, [r.domains for r in rows], "o-")
    count.set_ylabel("domains" + (" per line (axis 0)" if len(run.deck.grid.shape) > 1 else ""))
    for stat, name in ((np.min, "smallest"), (np.median, "median"), (np.max, "largest")):
        size.plot(T, [stat(r.sizes_lD) for r in rows], "o-", label=name)
    size.set_yscale("log")
    size.set_ylabel(r"domain size [$\ell_D$]")
    size.legend(fontsize="small")
    ratio.plot(run.series["T"], asymmetry_ratio(run.series))
    ratio.set_ylabel(r"$\langle L\rangle / \langle |L|\rangle$")
    for ax in (count, size, ratio):
        decreasing_T_axis(ax)
    last = rows[-1]
    hist.hist(last.sizes_lD, bins=min(30, max(5, last.sizes_lD.size // 2)))
    hist.set_title(rf"last snapshot: T = {last.T:.4g} MeV, $\ell_D$ = {last.l_D:.3g}/H(T_ref) comoving",
                   fontsize="small")
    hist.set_xlabel(r"domain size [$\ell_D$]")
    hist.set_ylabel("domains")
    fig.suptitle(run.label() + ("" if run.complete else INCOMPLETE), fontsize="medium")
    return fig


# -- legends and run status ---------------------------------------------------------------------
INCOMPLETE = " (incomplete)"
"""Appended to the legend entry (or title) of a run whose record says it did not finish."""


def distinct_names(paths) -> list:
    """For each path the shortest tail (folder name, then parent/name, ...) that no other path in
    ``paths`` shares; the whole path when none does (the same folder given twice)."""
    parts = [Path(p).resolve().parts for p in paths]
    names = []
    for i, own in enumerate(parts):
        tail = own
        for k in range(1, len(own) + 1):
            if all(other[-k:] != own[-k:] for j, other in enumerate(parts) if j != i):
                tail = own[-k:]
                break
        names.append(str(Path(*tail)))
    return names


def legend_labels(runs, given=None) -> list:
    """Legend entries for Fig. 3.

    ``given`` (--labels), else each run's label (deck title and grid.bc); runs whose labels
    coincide (e.g. two runs of one deck) get their folder names instead (distinct_names). With a
    single site among the runs every entry says which kind it is ("[lattice]", "[single site]");
    a run whose record says it did not finish gets INCOMPLETE.
    """
    if given:
        labels = list(given)
    else:
        labels = [r.label() for r in runs]
        names = distinct_names([r.path for r in runs])
        labels = [name if labels.count(label) > 1 else label for label, name in zip(labels, names)]
    if any(r.single_site for r in runs):
        labels = [label + (" [single site]" if r.single_site else " [lattice]") for r, label in zip(runs, labels)]
    return [label + ("" if r.complete else INCOMPLETE) for r, label in zip(runs, labels)]


def note_incomplete(runs, figure: str, say) -> None:
    """One line on stderr for each run whose record says it did not finish (running, stopped,
    failed): the plot draws what its files hold."""
    from lattice.runfolder import describe

    for run in runs:
        if not run.complete:
            say(f"qke plot {figure}: note: {run.path} holds {describe(run.path)}; it is drawn as far "
                f"as its files go", file=sys.stderr)


# -- commands -----------------------------------------------------------------------------------
def add_parser(sub):
    """Register `qke plot fig1|fig2|fig3|domains` on the CLI's subparsers."""
    plot = sub.add_parser("plot", help="draw the paper's figures from run output (lattices; fig3 also "
                          "single sites)")
    which = plot.add_subparsers(dest="figure", required=True)
    f2 = which.add_parser("fig2", help="L_nutau(x) at up to five temperatures (paper Fig. 2)")
    f2.add_argument("run_dir", help="output folder of a lattice run (with snapshots)")
    f2.add_argument("--temperatures", nargs="+", type=float, metavar="T",
                    help="temperatures [MeV]; the nearest snapshots are drawn (default: five spread over the run)")
    f2.add_argument("--window", nargs=2, type=float, metavar=("X0", "X1"),
                    help="x range in l_18 (18 MeV/T), l_18 = 1/H(18 MeV)")
    f2.add_argument("--out", help="output .png or .pdf (default RUN_DIR/fig2.png)")
    f3 = which.add_parser("fig3", help="sterile/active ratio against T for several runs, lattices and "
                          "single sites (paper Fig. 3)")
    f3.add_argument("run_dirs", nargs="+", metavar="run_dir",
                    help="output folders of qke runs: lattices and single sites (homogeneous, "
                    "grid.shape [1]) in any mix")
    f3.add_argument("--labels", nargs="+", help="legend entries, one per run (default: deck title and grid.bc, "
                    "or the folder names of runs whose titles coincide)")
    f3.add_argument("--out", help="output .png or .pdf (default: first RUN_DIR/fig3.png)")
    f1 = which.add_parser("fig1", help="the mixing-parameter plane classified by what the equations do "
                          "(paper Fig. 1) from the table `qke scan DECK --map` wrote")
    f1.add_argument("map", metavar="MAP.h5", help="output file of `qke scan --map`")
    f1.add_argument("--out", help="output .png or .pdf (default: MAP.png beside MAP.h5)")
    dom = which.add_parser("domains", help="domain count, sizes in l_D and <L>/<|L|> against T; prints a table")
    dom.add_argument("run_dir", help="output folder of a lattice run (with snapshots)")
    dom.add_argument("--out", help="output .png or .pdf (default RUN_DIR/domains.png)")
    return plot


def output_path(out, run_dir, default_name: str) -> Path:
    """--out, or RUN_DIR/default_name; PlotError unless it ends in .png or .pdf."""
    path = Path(out) if out else Path(run_dir) / default_name
    if path.suffix.lower() not in FORMATS:
        raise PlotError(f"--out {path}: the file name must end in {' or '.join(FORMATS)}")
    return path


def plot_fig2(args, say):
    """`qke plot fig2`: validate, select snapshots, draw; returns 0."""
    out = output_path(args.out, args.run_dir, "fig2.png")
    if args.temperatures and len(args.temperatures) > MAX_FIG2_PANELS:
        raise PlotError(f"--temperatures: at most {MAX_FIG2_PANELS} values, got {len(args.temperatures)}")
    if args.window and not args.window[0] < args.window[1]:
        raise PlotError(f"--window {args.window[0]:g} {args.window[1]:g}: needs X0 < X1")
    run = load_run(args.run_dir)
    note_incomplete([run], "fig2", say)
    panels = [fig2_panel(p, run.T_ref, args.window)
              for p in fig2_snapshots(snapshot_paths(run), args.temperatures)]
    say(f"wrote {save(draw_fig2(panels, fig2_title(run)), out)}")
    return 0


FINITE_SIZE_BLOCKS = 8


def period_cells(n0: int, attrs, periodic: bool) -> int:
    """Cells along axis 0 of one period of the box: with periodic boundaries a grid doubled k
    times holds 2^k identical images of one period (doubling copies the coarsened grid, and the
    evolution keeps the copies equal); otherwise the whole box, n0."""
    level = int(attrs.get("doubling_level", 0)) if periodic else 0
    return n0 // 2 ** level


def block_ratios(fields, attrs, periodic: bool, blocks: int = FINITE_SIZE_BLOCKS) -> np.ndarray:
    """Sterile/active ratio in each of `blocks` equal slabs along axis 0 of one snapshot.

    The slabs are cut from one period of the box (period_cells: the first image of a doubled
    periodic grid). Cells that do not fill a slab evenly are left out.
    """
    n = period_cells(fields["P0p"].shape[0], attrs, periodic)
    size = n // blocks
    if size == 0:
        raise PlotError(f"{n} cells per period cannot be cut into {blocks} slabs")
    cut = slice(0, size * blocks)
    sterile = (fields["P0p"] - fields["Pzp"])[cut].reshape(blocks, -1).sum(axis=1)
    active = (fields["P0p"] + fields["Pzp"])[cut].reshape(blocks, -1).sum(axis=1)
    return sterile / active


def wall_count(L, attrs, periodic: bool) -> int:
    """Sign changes of L between neighbours along axis 0, summed over all lines: the domain walls
    of one period of the box (as block_ratios: the first image of a doubled periodic grid), with
    the wrap-around pair counted when `periodic`. The sign is that of np.signbit, as in sign_runs."""
    neg = np.signbit(np.asarray(L)[:period_cells(np.shape(L)[0], attrs, periodic)])
    inner = int(np.count_nonzero(neg[1:] != neg[:-1]))
    return inner + (int(np.count_nonzero(neg[-1] != neg[0])) if periodic else 0)


def single_site_ratio(run: Run, T: float) -> float:
    """Sterile/active of a single-site run at T [MeV] from its time series: the sample at T when
    there is one (within 1e-9 relative), else interpolated between the two samples around T,
    linearly in log(ratio) (linearly in the ratio where one of them is not positive); nan outside
    the series' T range."""
    temps = np.asarray(run.series["T"], dtype=float)
    ratio = np.asarray(run.series["sterile_over_active"], dtype=float)
    k = int(np.argmin(np.abs(temps - T)))
    if abs(temps[k] - T) <= 1e-9 * abs(T):
        return float(ratio[k])
    order = np.argsort(temps)
    temps, ratio = temps[order], ratio[order]
    if not temps[0] <= T <= temps[-1]:
        return float("nan")
    j = int(np.searchsorted(temps, T))
    w = (T - temps[j - 1]) / (temps[j] - temps[j - 1])
    r0, r1 = ratio[j - 1], ratio[j]
    if r0 > 0 and r1 > 0:
        return float(np.exp(np.log(r0) + w * (np.log(r1) - np.log(r0))))
    return float(r0 + w * (r1 - r0))


def finite_size_rows(runs, labels, singles=(), single_labels=()):
    """At each snapshot temperature shared by all (lattice) runs: per run the box's sterile/active
    ratio, its finite-size error (the standard error of the slab ratios, std/√blocks,
    block_ratios) and its number of domain walls (wall_count), and the largest difference between
    the runs in units of the largest of those errors (0 for one run).

    Returns (rows, text): rows are (T, ratios, errors, walls, max diff/error) per temperature; the
    text is the printed table, which with single-site runs (``singles``) also has, per single
    site, its ratio at that T (single_site_ratio) and the lattice ratio over it (the range over
    the lattice runs when there are several)."""
    paths = [snapshot_paths(r) for r in runs]
    temps = [snapshot_temperatures(p) for p in paths]
    rows = []
    for i, T in enumerate(temps[0]):
        picks = [int(np.argmin(np.abs(t - T))) for t in temps]
        if any(abs(t[k] - T) > 1e-9 * T for t, k in zip(temps, picks)):
            continue
        ratio, error, walls = [], [], []
        for run, p, k in zip(runs, paths, picks):
            fields, attrs = read_fields(p[k])
            ratio.append(float((fields["P0p"] - fields["Pzp"]).sum() / (fields["P0p"] + fields["Pzp"]).sum()))
            slabs = block_ratios(fields, attrs, run.periodic)
            error.append(float(slabs.std(ddof=1) / np.sqrt(len(slabs))))
            walls.append(wall_count(fields["L"], attrs, run.periodic))
        spread = max(ratio) - min(ratio)
        rows.append((float(T), ratio, error, walls, spread / max(max(error), 1e-300)))
    several = len(runs) > 1
    header = (f"{'T [MeV]':>9}  " + "  ".join(f"{label[:32]:>32}" for label in list(labels) + list(single_labels))
              + ("  max diff/error" if several else "")
              + "".join(f"  {'lattice/' + (label[:12] if len(singles) > 1 else 'single site'):>22}"
                        for label in single_labels))
    lines = [header]
    for T, ratio, error, walls, z in rows:
        line = f"{T:9.4f}  " + "  ".join(f"{r:11.5e} ± {e:9.2e} [{w:6d}]" for r, e, w in zip(ratio, error, walls))
        single = [single_site_ratio(s, T) for s in singles]
        line += "".join(f"  {v:32.5e}" for v in single) + (f"  {z:14.2f}" if several else "")
        for v in single:
            q = [r / v for r in ratio] if v > 0 else [float("nan")]
            line += f"  {min(q):#22.4g}" if len(q) == 1 else f"  {f'{min(q):#.4g}..{max(q):#.4g}':>22}"
        lines.append(line)
    return rows, "\n".join(lines)


def plot_fig3(args, say):
    """`qke plot fig3`: read every run (lattices and single sites), draw, and print the
    finite-size comparison table when there are several lattice runs with snapshots at the same
    temperatures, or one with a single site beside it; then each single site's last ratio.
    Returns 0."""
    out = output_path(args.out, args.run_dirs[0], "fig3.png")
    if args.labels and len(args.labels) != len(args.run_dirs):
        raise PlotError(f"--labels: {len(args.labels)} given for {len(args.run_dirs)} runs; give one per run")
    runs = [load_run(d, single_site_ok=True) for d in args.run_dirs]
    labels = legend_labels(runs, args.labels)
    note_incomplete(runs, "fig3", say)
    lattice = [(r, label) for r, label in zip(runs, labels) if not r.single_site]
    singles = [(r, label) for r, label in zip(runs, labels) if r.single_site]
    if (lattice and (len(lattice) > 1 or singles)
            and all((r.path / "snapshots").is_dir() for r, _ in lattice)):
        say("sterile/active at the snapshots ± its finite-size error (standard error over "
            f"{FINITE_SIZE_BLOCKS} slabs of one period of the box) [domain walls in that period]"
            + ("; single site: its time series' ratio at that T (no slab error, no walls), and "
               "the lattice's ratio over it" if singles else "") + ":")
        say(finite_size_rows([r for r, _ in lattice], [label for _, label in lattice],
                             [r for r, _ in singles], [label for _, label in singles])[1])
    for run, label in singles:
        T, ratio = run.series["T"], run.series["sterile_over_active"]
        if len(T):
            say(f"{label}: sterile/active = {ratio[-1]:.6e} at T = {T[-1]:.6g} MeV (its last sample; "
                f"a single site has no slab error and no domain walls)")
    say(f"wrote {save(draw_fig3(runs, labels), out)}")
    return 0


def plot_domains(args, say):
    """`qke plot domains`: domain statistics of every snapshot, table to stdout, figure; returns 0."""
    out = output_path(args.out, args.run_dir, "domains.png")
    run = load_run(args.run_dir)
    note_incomplete([run], "domains", say)
    rows = [domain_row(run, p) for p in snapshot_paths(run)]
    say(format_table(rows, run.periodic, len(run.deck.grid.shape)))
    say(f"wrote {save(draw_domains(run, rows), out)}")
    return 0


# -- Fig. 1: the classified mixing plane (`qke scan --map` output) ----------------------------------
FIG1_COLOURS = ("#bdbdbd", "#fdae61", "#2c7bb6", "#d7191c", "#7b3294", "#000000")
"""One colour per region code of physics.regions (no growth, thermalised, stable, chaotic,
lasting, unresolved)."""


@dataclass(frozen=True)
class Fig1Map:
    """A `qke scan --map` table: |δm²| [eV²] (n_dm2,) and sin²2θ (n_s2,) axes, region codes
    (n_dm2, n_s2), region names, the command that wrote it and its attributes."""

    dm2: np.ndarray
    s2: np.ndarray
    region: np.ndarray
    names: tuple
    attrs: dict


def load_map(path) -> Fig1Map:
    """Read MAP.h5 written by `qke scan --map`; PlotError if missing or not such a table."""
    path = Path(path)
    if not path.is_file():
        raise PlotError(f"{path}: no such file (the output of `qke scan DECK --map --out FILE`)")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("dm2_abs_eV2", "sin2_2theta", "region") if k not in f]
            if missing or "n_dm2" not in f.attrs:
                raise PlotError(f"{path}: not a `qke scan --map` table (no {', '.join(missing) or 'n_dm2 attribute'})")
            n1, n2 = int(f.attrs["n_dm2"]), int(f.attrs["n_s2"])
            dm2, s2, region = f["dm2_abs_eV2"][()], f["sin2_2theta"][()], f["region"][()]
            names = tuple(attr_text(n) for n in f["region"].attrs["names"])
            attrs = {k: f.attrs[k] for k in f.attrs}
    except OSError as exc:
        raise PlotError(f"{path}: not readable as HDF5: {exc}") from None
    if len(region) != n1 * n2:
        raise PlotError(f"{path}: {len(region)} rows for a {n1} x {n2} grid")
    return Fig1Map(dm2.reshape(n1, n2)[:, 0], s2.reshape(n1, n2)[0], region.reshape(n1, n2), names, attrs)


def log_edges(centres) -> np.ndarray:
    """Cell edges of log-spaced centres: geometric midpoints, the ends half a step out (one
    centre: a factor √10 either side)."""
    x = np.log10(np.asarray(centres, dtype=float))
    if len(x) == 1:
        return 10.0 ** np.array([x[0] - 0.5, x[0] + 0.5])
    mid = 0.5 * (x[1:] + x[:-1])
    return 10.0 ** np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])


def draw_fig1(m: Fig1Map):
    """The classified plane: sin²2θ horizontal, |δm²| [eV²] vertical, both log, one colour per
    region present; the paper's no-growth estimate sin²2θ |δm²|^{1/6} = 1e-10 and the
    Di Bari–Foot band (momentum-dependent QKE) overlaid."""
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from physics import regions

    fig = new_figure(6.6, 6.2)
    ax = fig.subplots()
    n = len(m.names)
    ax.pcolormesh(log_edges(m.s2), log_edges(m.dm2), m.region, cmap=ListedColormap(FIG1_COLOURS[:n]),
                  norm=BoundaryNorm(np.arange(n + 1) - 0.5, n), shading="flat")
    ax.set_xscale("log")
    ax.set_yscale("log")
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    dm2 = np.geomspace(y0, y1, 200)
    ax.plot(regions.no_growth_line_s2(dm2), dm2, "k-", lw=2.5,
            label=r"paper's no-growth estimate $\sin^2 2\theta\,|\delta m^2|^{1/6} = 10^{-10}$")
    band = np.geomspace(*regions.DI_BARI_FOOT_DM2_EV2, 200)
    low, high = regions.di_bari_foot_band(band)
    inside = high > low
    ax.fill_betweenx(band[inside], low[inside], high[inside], facecolor="none", edgecolor="k", hatch="//",
                     lw=1.0, ls="--", label=r"Di Bari–Foot rapid sign oscillations: $10^{-6} \lesssim "
                     r"\sin^2 2\theta \lesssim 3\times10^{-4}\,\mathrm{eV^2}/|\delta m^2|$")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel(r"$\sin^2 2\theta$")
    ax.set_ylabel(r"$|\delta m^2|$ [eV$^2$]  ($\delta m^2 < 0$)")
    present = [k for k in range(n) if (m.region == k).any()]
    handles = [Patch(facecolor=FIG1_COLOURS[k], label=m.names[k]) for k in present]
    line_handles, _ = ax.get_legend_handles_labels()
    fig.legend(handles=handles + line_handles, fontsize="x-small", loc="outside lower center", ncols=2)
    T_end = m.attrs.get("T_end_MeV")
    ax.set_title(f"{m.region.shape[0]} x {m.region.shape[1]} points, single sites from 2 $T_{{res}}$ to "
                 f"{float(T_end):g} MeV (momentum-averaged QKE)" if T_end is not None else "", fontsize="small")
    return fig


def plot_fig1(args, say):
    """`qke plot fig1 MAP.h5`: draw the classified plane; returns 0."""
    out = output_path(args.out, Path(args.map).parent, Path(args.map).stem + ".png")
    m = load_map(args.map)
    counts = ", ".join(f"{name}: {int((m.region == k).sum())}" for k, name in enumerate(m.names)
                       if (m.region == k).any())
    say(f"{args.map}: {counts}")
    say(f"wrote {save(draw_fig1(m), out)}")
    return 0


COMMANDS = {"fig1": plot_fig1, "fig2": plot_fig2, "fig3": plot_fig3, "domains": plot_domains}


def plot(args, say) -> int:
    """Run `qke plot <figure>`; raises PlotError for bad input (nothing written then)."""
    return COMMANDS[args.figure](args, say)
