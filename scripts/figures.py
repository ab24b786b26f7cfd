"""The paper's figures from lattice run output (`qke plot fig2|fig3|domains`).

Enqvist, Kainulainen & Sorri (2000): Fig. 2 is L_ντ(x) at five temperatures, Fig. 3 the
sterile/active number ratio against T; `domains` measures the leptonic domains the paper
describes in words (count, sizes in active diffusion lengths ℓ_D, ⟨L⟩/⟨|L|⟩).

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
    """One lattice run's output folder.

    Attributes:
        path: the run directory.
        deck: the validated deck the run used (rebuilt from the `deck` attribute).
        series: time-series dataset name -> 1D array (T in MeV, descending; see README).
    """

    path: Path
    deck: object
    series: dict

    @property
    def T_ref(self) -> float:
        """grid.T_ref_MeV [MeV]: where comoving and physical lengths coincide."""
        return float(self.deck.grid.T_ref_MeV)

    @property
    def periodic(self) -> bool:
        """Whether L wraps around along the lattice axes (grid.bc periodic or offdiag_zero)."""
        from lattice.boundary import axis_is_periodic

        return axis_is_periodic(self.deck.grid.bc)

    def label(self) -> str:
        """Legend text: the deck title with grid.bc, or grid.bc alone."""
        bc = f"bc {self.deck.grid.bc}"
        return f"{self.deck.title} ({bc})" if self.deck.title else bc


def deck_from_text(text: str, source: str):
    """The validated deck stored as YAML text in an output file; PlotError if it does not parse."""
    from lattice.deck import DeckError
    from physics.models import MODELS, schema_for

    try:
        raw = yaml.safe_load(text)
        model = raw.get("model") if isinstance(raw, dict) else None
        if model not in MODELS:
            raise DeckError(f"model {model!r} unknown")
        return schema_for(model).build(raw, source=source)
    except (yaml.YAMLError, DeckError) as exc:
        raise PlotError(f"{source}: the stored deck is not readable: {exc}") from None


def load_run(run_dir) -> Run:
    """Read RUN_DIR/timeseries.h5 of a lattice QKE run; PlotError if it is missing or not a lattice run."""
    from physics.models import is_single_site

    path = Path(run_dir)
    ts = path / "timeseries.h5"
    if not path.is_dir():
        raise PlotError(f"{run_dir}: no such run directory")
    if not ts.is_file():
        raise PlotError(f"{run_dir}: no timeseries.h5 (not the output folder of `qke run`)")
    try:
        with h5py.File(ts, "r") as f:
            text = f.attrs.get("deck")
            series = {name: f[name][()] for name in f if isinstance(f[name], h5py.Dataset)}
    except OSError as exc:
        raise PlotError(f"{ts}: not readable as HDF5: {exc}") from None
    if text is None:
        raise PlotError(f"{ts}: no `deck` attribute")
    deck = deck_from_text(text, str(ts))
    if deck.model != "qke" or is_single_site(deck):
        shape = getattr(getattr(deck, "grid", None), "shape", None)
        raise PlotError(f"{run_dir}: not a lattice run (model {deck.model!r}, grid.shape "
                        f"{list(shape) if shape else 'n/a'}); the plots need a qke deck with more than one cell")
    return Run(path, deck, series)


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
    from physics.models import mixing_parameters
    from physics.qke import QKEDiffusion

    params = mixing_parameters(deck)
    cosmology, T_ref = Cosmology(params.g_star), deck.grid.T_ref_MeV
    comoving = QKEDiffusion(params, T_ref).comoving_diffusion_length(T, cosmology.hubble(T))  # MeV^-1
    return comoving * cosmology.hubble(T_ref)


def mean_free_path(deck, T):
    """Active elastic mean free path 1/Γ^el_ττ at T [MeV], as a comoving length in 1/H(T_ref)."""
    from physics.cosmology import Cosmology
    from physics.models import mixing_parameters
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
    if ndim == 1:
        return run.label()
    others = "axis 1" if ndim == 2 else "axes 1 and 2"
    return f"{run.label()}\n{ndim}D grid: the line along axis 0 through cell 0 of {others}"


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


def draw_fig2(panels, title: str):
    """Fig. 2: one panel per temperature, stacked (highest T on top), symmetric y around the
    dotted L_ντ = 0 line; T [MeV] on the left, the y half-range [per photon] on the right."""
    fig = new_figure(6.0, 1.3 * len(panels) + 0.8)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, p in zip(axes, sorted(panels, key=lambda p: -p.T)):
        ax.plot(p.x, p.L_nutau, lw=1.0, color="k")
        ax.axhline(0.0, ls=":", lw=0.8, color="k")
        half = p.extent or 1.0
        ax.set_ylim(-1.05 * half, 1.05 * half)
        ax.set_yticks([])
        ax.text(-0.02, 0.5, f"{p.T:.4g} MeV", transform=ax.transAxes, ha="right", va="center")
        ax.text(1.02, 0.5, f"{p.extent:.2e}", transform=ax.transAxes, ha="left", va="center")
    axes[0].set_title(title, fontsize="medium")
    axes[-1].set_xlabel(r"$x$ [$\ell_{18}\,(18\,\mathrm{MeV}/T)$]")
    fig.supylabel(r"$L_{\nu_\tau}(x)$ (number right: $\max|L_{\nu_\tau}|$ per photon)", fontsize="small")
    return fig


def draw_fig3(runs, labels):
    """Fig. 3: sterile/active number ratio against T [MeV] (decreasing), log y, one line per run."""
    fig = new_figure(6.0, 4.0)
    ax = fig.subplots()
    for run, label in zip(runs, labels):
        T, ratio = run.series["T"], run.series["sterile_over_active"]
        positive = ratio > 0
        ax.plot(T[positive], ratio[positive], label=label)
    ax.set_yscale("log")
    decreasing_T_axis(ax)
    ax.set_ylabel(r"sterile / active number ratio ($\nu + \bar\nu$)")
    ax.legend(fontsize="small")
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
    fig.suptitle(run.label(), fontsize="medium")
    return fig


# -- commands -----------------------------------------------------------------------------------
def add_parser(sub):
    """Register `qke plot fig2|fig3|domains` on the CLI's subparsers."""
    plot = sub.add_parser("plot", help="draw the paper's figures from lattice run output")
    which = plot.add_subparsers(dest="figure", required=True)
    f2 = which.add_parser("fig2", help="L_nutau(x) at up to five temperatures (paper Fig. 2)")
    f2.add_argument("run_dir", help="output folder of a lattice run (with snapshots)")
    f2.add_argument("--temperatures", nargs="+", type=float, metavar="T",
                    help="temperatures [MeV]; the nearest snapshots are drawn (default: five spread over the run)")
    f2.add_argument("--window", nargs=2, type=float, metavar=("X0", "X1"),
                    help="x range in l_18 (18 MeV/T), l_18 = 1/H(18 MeV)")
    f2.add_argument("--out", help="output .png or .pdf (default RUN_DIR/fig2.png)")
    f3 = which.add_parser("fig3", help="sterile/active ratio against T for several runs (paper Fig. 3)")
    f3.add_argument("run_dirs", nargs="+", metavar="run_dir", help="output folders of lattice runs")
    f3.add_argument("--labels", nargs="+", help="legend entries, one per run (default: deck title and grid.bc)")
    f3.add_argument("--out", help="output .png or .pdf (default: first RUN_DIR/fig3.png)")
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


def finite_size_rows(runs, labels):
    """At each snapshot temperature shared by all runs: per run the box's sterile/active ratio, its
    finite-size error (the standard error of the slab ratios, std/√blocks, block_ratios) and its
    number of domain walls (wall_count), and the largest difference between the runs in units of
    the largest of those errors."""
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
    header = f"{'T [MeV]':>9}  " + "  ".join(f"{label[:32]:>32}" for label in labels) + "  max diff/error"
    lines = [header] + [f"{T:9.4f}  " + "  ".join(f"{r:11.5e} ± {e:9.2e} [{w:6d}]" for r, e, w in zip(ratio, error, walls))
                        + f"  {z:14.2f}" for T, ratio, error, walls, z in rows]
    return rows, "\n".join(lines)


def plot_fig3(args, say):
    """`qke plot fig3`: read every run, draw, and (with several runs that have snapshots at the
    same temperatures) print the finite-size comparison table; returns 0."""
    out = output_path(args.out, args.run_dirs[0], "fig3.png")
    if args.labels and len(args.labels) != len(args.run_dirs):
        raise PlotError(f"--labels: {len(args.labels)} given for {len(args.run_dirs)} runs; give one per run")
    runs = [load_run(d) for d in args.run_dirs]
    labels = args.labels or [r.label() for r in runs]
    if len(runs) > 1 and all((r.path / "snapshots").is_dir() for r in runs):
        say("sterile/active at the snapshots ± its finite-size error (standard error over "
            f"{FINITE_SIZE_BLOCKS} slabs of one period of the box) [domain walls in that period]:")
        say(finite_size_rows(runs, labels)[1])
    say(f"wrote {save(draw_fig3(runs, labels), out)}")
    return 0


def plot_domains(args, say):
    """`qke plot domains`: domain statistics of every snapshot, table to stdout, figure; returns 0."""
    out = output_path(args.out, args.run_dir, "domains.png")
    run = load_run(args.run_dir)
    rows = [domain_row(run, p) for p in snapshot_paths(run)]
    say(format_table(rows, run.periodic, len(run.deck.grid.shape)))
    say(f"wrote {save(draw_domains(run, rows), out)}")
    return 0


COMMANDS = {"fig2": plot_fig2, "fig3": plot_fig3, "domains": plot_domains}


def plot(args, say) -> int:
    """Run `qke plot <figure>`; raises PlotError for bad input (nothing written then)."""
    return COMMANDS[args.figure](args, say)
