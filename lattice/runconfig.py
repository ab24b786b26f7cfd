"""Deck sections shared by every model: time span, integrator accuracy, output."""

from lattice.deck import Field

TIME = (
    Field("T_start_MeV", float, "MeV", "initial temperature", minimum=0.0, exclusive_minimum=True,
          maximum=1000.0),
    Field("T_end_MeV", float, "MeV", "final temperature (below T_start_MeV)", minimum=0.0,
          exclusive_minimum=True, maximum=1000.0),
)

INTEGRATOR = (
    Field("rtol", float, "", "relative local-error tolerance per step", default=1e-6,
          minimum=1e-14, maximum=1e-2),
    Field("atol_plus", float, "", "absolute tolerance for the P⁺ (particle + antiparticle) fields",
          default=1e-14, minimum=0.0, exclusive_minimum=True, maximum=1.0),
    Field("atol_minus", float, "", "absolute tolerance for the P⁻ (particle − antiparticle) "
          "fields; keep it far below rtol·|L0|", default=1e-24, minimum=0.0,
          exclusive_minimum=True, maximum=1.0),
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
    Field("method", str, "", "single sites with compiled kernels and 1D lattices with stage_solver "
          "= direct (lattice/explicit_rk.py): auto (Rodas4 where the problem is stiff, the explicit "
          "Dormand-Prince 5(4) where the step is set by accuracy, switching automatically) or "
          "rodas4 (implicit throughout) or dopri5 (explicit throughout: validation); every other run "
          "steps with Rodas4 (dopri5 is refused there)", default="auto",
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
    Field("krylov_restart", int, "", "implicit coupling: GMRES basis vectors before a restart",
          default=20, minimum=2, maximum=500),
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
    from lattice.deck import DeckError

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
