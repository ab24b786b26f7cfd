"""Deck sections the machinery owns (time span, integrator, output, checkpoint, the lattice's
grid) and the assembly of a model's deck schema from them and its ModelSpec (lattice.model)."""

from __future__ import annotations

import numpy as np

from lattice.boundary import BC_KINDS
from lattice.deck import DeckError, Field, Schema


def time_fields(T_max_MeV: float) -> tuple:
    """The time section for a model whose runs start at most at T_max_MeV [MeV]."""
    return (
        Field("T_start_MeV", float, "MeV", "initial temperature", minimum=0.0, exclusive_minimum=True,
              maximum=T_max_MeV),
        Field("T_end_MeV", float, "MeV", "final temperature (below T_start_MeV)", minimum=0.0,
              exclusive_minimum=True, maximum=T_max_MeV),
    )


RTOL = Field("rtol", float, "", "relative local-error tolerance per step", default=1e-6,
             minimum=1e-14, maximum=1e-2)

INTEGRATOR = (
    Field("dt_initial", float, "t", "first trial step as a fraction of the cosmic time t at T_start",
          default=1e-6, minimum=0.0, exclusive_minimum=True, maximum=1.0),
    Field("max_steps", int, "", "abort after this many step attempts", default=100_000_000,
          minimum=1),
    Field("max_dt_hubble", float, "1/H", "largest split (local + diffusion) step, in Hubble "
          "times (lattice runs)", default=1e-2, minimum=0.0, exclusive_minimum=True, maximum=1.0),
    Field("coupling", str, "", "how the local equations and diffusion are combined on a lattice: "
          "implicit (one stiff system: diffusion inside the Rosenbrock stages, solved by GMRES; "
          "see lattice/implicit.py), midpoint_source (RKL2 diffusion as a source of the local "
          "step) or strang (textbook Strang splitting; see lattice/splitting.py)",
          default="implicit", choices=("implicit", "midpoint_source", "strang")),
    Field("stage_solver", str, "", "implicit coupling: how the stage systems are solved: gmres "
          "(any dimension; lattice/krylov.py) or direct (1D grids only: an exact cyclic "
          "block-tridiagonal solve of the whole line on every rank; lattice/line_solver.py)",
          default="gmres", choices=("gmres", "direct")),
    Field("method", str, "", "auto (Rodas4 where the problem is stiff, the explicit Dormand-Prince "
          "5(4) where the step is set by accuracy, switching automatically: lattice/explicit_rk.py "
          "for single sites with compiled kernels and 1D lattices with stage_solver = direct, "
          "lattice/switching.py for lattices with stage_solver = gmres, any dimension, CPU or GPU) "
          "or rodas4 (implicit throughout) or dopri5 (explicit throughout); split couplings step "
          "with Rodas4 (dopri5 is refused there)",
          default="auto",
          choices=("auto", "rodas4", "dopri5")),
    Field("explicit_rtol_factor", float, "", "method auto: the explicit branch runs at rtol times "
          "this (its local error is not damped as Rodas4's is)", default=0.01, minimum=1e-6,
          maximum=1.0),
    Field("probe_steps", int, "", "method auto: explicit steps in a row after which Rodas4 is "
          "tried again (it keeps the run where its step grows past the explicit one's)",
          default=8192, minimum=1, maximum=1 << 40),
    Field("krylov_tolerance", float, "error allowances", "implicit coupling: GMRES stops when the "
          "stage-solve error is about this fraction of the local-error tolerance", default=1e-3,
          minimum=1e-12, maximum=0.5),
    Field("krylov_restart", int, "", "implicit coupling: GMRES basis vectors before a restart (each "
          "costs one state vector of memory)", default=10, minimum=2, maximum=500),
    Field("krylov_max_iterations", int, "", "implicit coupling: GMRES iterations per stage solve "
          "before the step is rejected and retried smaller", default=400, minimum=1,
          maximum=100_000),
)

OUTPUT = (
    Field("dir", str, "path", "output directory ('' means out/<deck name>)", default=""),
    Field("samples", int, "", "number of output temperatures, log-spaced from T_start to T_end",
          default=2001, minimum=2, maximum=10_000_000),
    Field("snapshots", int, "", "number of field snapshots, spread evenly over the output "
          "samples (lattice runs)", default=0, minimum=0, maximum=100_000),
    Field("progress", str, "", "progress display", default="auto",
          choices=("auto", "bar", "log", "none")),
    Field("log_interval_s", float, "s", "seconds between progress log lines (non-terminal)",
          default=10.0, minimum=0.0, exclusive_minimum=True),
)


def check_time_order(deck):
    """T_end must lie below T_start (the universe cools)."""
    if deck.time.T_end_MeV >= deck.time.T_start_MeV:
        raise DeckError(f"time.T_end_MeV = {deck.time.T_end_MeV!r}: must be below "
                        f"time.T_start_MeV = {deck.time.T_start_MeV!r} [MeV]")

CHECKPOINT = (
    Field("file", str, "path", "checkpoint file ('' means DIR/checkpoint.h5)", default=""),
    Field("every_s", float, "s", "wall seconds between checkpoints (0: only when stopping)",
          default=0.0, minimum=0.0),
    Field("walltime_s", float, "s", "stop with a checkpoint after this wall time (0: no limit)",
          default=0.0, minimum=0.0),
)

GRID = (
    Field("shape", list, "cells", "cells per axis; [1] is a single site (no lattice)",
          default=(1,), minimum=1, maximum=1 << 24),
    Field("box_hubble", float, "1/H(T_ref)", "comoving box length per axis, in Hubble lengths at "
          "T_ref", default=0.05, minimum=0.0, exclusive_minimum=True, maximum=1e3),
    Field("T_ref_MeV", float, "MeV", "temperature where comoving = physical length", default=18.0,
          minimum=0.0, exclusive_minimum=True, maximum=1000.0),
    Field("bc", str, "", "boundary condition on every axis", default="periodic", choices=BC_KINDS),
    Field("process_grid", list, "ranks", "MPI ranks per axis (default: chosen automatically)",
          default=None, minimum=1),
    Field("doubling_cells_per_lD", float, "cells", "periodic grid doubling: double the box (every "
          "second cell dropped, two images of the coarsened grid) whenever the model's diffusion "
          "length l_D (the QKE: the active one, sqrt(D_tautau/H)) spans at least twice this many "
          "cells, so that this many remain after it; checked at every output sample; 0 = never",
          default=0.0, minimum=0.0, maximum=1e6),
    Field("max_doublings", int, "", "largest number of grid doublings in a run", default=30,
          minimum=0, maximum=60),
    Field("doubling_coarsening", str, "", "how a doubled cell is made from the two (per axis) it "
          "covers: drop (keep the first, the paper's method) or average (their mean: conserves "
          "every total and stays centred)", default="drop", choices=("drop", "average")),
    Field("doubling_below_T_MeV", float, "MeV", "grid doubling only below this temperature (keep "
          "the structure made early resolved until then)", default=1e3, minimum=0.0,
          exclusive_minimum=True, maximum=1e4),
)
"""The grid section of a model that runs on a decomposed lattice (ModelSpec.lattice)."""


def is_single_site(deck) -> bool:
    """Whether a deck with a grid section has one cell."""
    return int(np.prod(deck.grid.shape)) == 1


def line_engine(deck) -> bool:
    """Whether a lattice deck runs the compiled line (1D, implicit coupling, direct solve)."""
    return (len(deck.grid.shape) == 1 and deck.grid.shape[0] > 1 and deck.integrator.coupling == "implicit"
            and deck.integrator.stage_solver == "direct")


def check_method(spec):
    """The rule for integrator.method dopri5 of a model (ModelSpec.explicit_branch)."""
    def check(deck):
        if deck.integrator.method != "dopri5":
            return
        if not spec.explicit_branch:
            raise DeckError(f"integrator.method = 'dopri5': the {spec.name} model has no explicit branch; "
                            f"allowed: 'auto', 'rodas4' (both Rodas4)")
        if spec.lattice is not None and deck.integrator.coupling != "implicit" and not is_single_site(deck):
            raise DeckError(f"integrator.method = 'dopri5': the explicit branch takes the whole right-hand side "
                            f"(integrator.coupling = 'implicit'), not a split coupling (coupling = "
                            f"{deck.integrator.coupling!r}); allowed here: 'auto', 'rodas4' (both Rodas4)")
    return check


def check_grid(deck):
    """Cross-field rules of the grid and integrator sections."""
    if deck.grid.doubling_cells_per_lD and any(n % 2 for n in deck.grid.shape):
        raise DeckError(f"grid.shape = {list(deck.grid.shape)}: grid doubling "
                        f"(grid.doubling_cells_per_lD = {deck.grid.doubling_cells_per_lD!r}) needs an "
                        f"even number of cells on every axis")
    if deck.integrator.stage_solver == "direct" and (len(deck.grid.shape) != 1
                                                     or deck.integrator.coupling != "implicit"):
        raise DeckError(f"integrator.stage_solver = 'direct': needs a 1D grid (grid.shape = "
                        f"{list(deck.grid.shape)}) and integrator.coupling = 'implicit' (is "
                        f"{deck.integrator.coupling!r}); allowed otherwise: 'gmres'")
    if deck.grid.process_grid is not None and len(deck.grid.process_grid) != len(deck.grid.shape):
        raise DeckError(f"grid.process_grid = {list(deck.grid.process_grid)}: needs one entry per "
                        f"axis of grid.shape = {list(deck.grid.shape)}")


DEVICE = (
    Field("backend", str, "", "array library of a decomposed lattice's fields: numpy (CPU), cupy "
          "(one CUDA GPU per rank; a deck error if a rank finds none) or auto (CuPy where every rank "
          "finds a device, else NumPy); runs without a lattice stay on the host. Results do not "
          "depend on it, so a restart may change it (lattice/devices.py)", default="numpy",
          choices=("numpy", "cupy", "auto")),
    Field("cuda_aware_mpi", bool, "", "with CuPy, hand device buffers to MPI directly (needs an MPI "
          "built CUDA-aware; the mpich wheel is not); false stages the halos through host buffers",
          default=False),
)

TITLE_FIELD = Field("title", str, "", "free-text description", default="")


def schema_for(spec, model_field: Field) -> Schema:
    """The deck schema of a model (a lattice.model.ModelSpec); `model_field` is the top-level
    key naming it. The schema keeps the spec (`schema.spec`)."""
    grid = {"grid": GRID} if spec.lattice is not None else {}
    schema = Schema(
        top=(model_field, TITLE_FIELD),
        sections={"physics": spec.physics, **grid, **spec.sections, "time": time_fields(spec.T_max_MeV),
                  "integrator": (RTOL, *spec.integrator, *INTEGRATOR), "output": OUTPUT,
                  "checkpoint": CHECKPOINT, "device": DEVICE},
        checks=(check_time_order, *((check_grid,) if grid else ()), check_method(spec), *spec.checks),
    )
    schema.spec = spec
    return schema
