"""The model interface: everything the machinery (lattice/) needs from a model, written once.

A model is two things:

- a **ModelSpec**, what the deck layer and the run wiring need: the model's deck sections and
  checks, its own integrator tolerances and time range, whether it has the explicit branch,
  how to build its System for one site (or its own grid) and, if it runs on a decomposed
  lattice, a LatticeSpec; and how a finished run is summarised.
- a **System**, the equations the steppers integrate, on any number of sites: fields and their
  units, the initial state, f, ∂f/∂y, ∂f/∂t, the temperature at a time, the observables (sums
  per rank, reduced over ranks, then turned into values), the error norm, and optionally its
  compiled per-site kernels (SiteKernels, LineKernels) and its cell function for the fused
  explicit stage on a device (FusedCell).

Every optional capability has a default here; the machinery reads the attribute or calls the
method and never asks whether it exists. Units: time t [MeV^-1], temperature T [MeV], rates
[MeV], lengths comoving [MeV^-1]. docs/model-interface.md shows a toy model in one file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from kernels.jacobian_terms import JacobianTerms  # noqa: F401  (part of the model interface)


@dataclass(frozen=True)
class SiteKernels:
    """A model's compiled per-site kernels and their parameters (lattice.compiled_rodas).

    Attributes:
        rhs, jac, dfdt, err: the kernels (numba-compiled, signatures in lattice.compiled_rodas).
        params: float64 parameter vector passed to every kernel.
        n_fields: fields per site.
        constant_fields: indices of the locally constant fields (their stages are zeroed).
        params_rtol_times: factor -> the parameter vector with the relative tolerance multiplied
            by factor (the explicit branch's); None when the model cannot say (only Rodas4 runs).
    """

    rhs: Callable
    jac: Callable
    dfdt: Callable
    err: Callable
    params: np.ndarray
    n_fields: int
    constant_fields: np.ndarray
    params_rtol_times: Callable | None = None


@dataclass(frozen=True)
class LineKernels:
    """A model's compiled kernels for a line of cells (lattice.compiled_line).

    Attributes:
        coefficients, rhs, jac, dfdt, err, diffusion, apply_diffusion: the kernels.
        n_coefficients: length of the coefficient vector `coefficients` fills.
        n_fields: fields per cell.
        conserved_fields: fields whose total only diffusion changes (reset after each step).
        cell_params: (the system's cell_field over every cell of the line, rtol) -> per-cell
            parameter rows (cells, n_params).
    """

    coefficients: Callable
    rhs: Callable
    jac: Callable
    dfdt: Callable
    err: Callable
    diffusion: Callable
    apply_diffusion: Callable
    n_coefficients: int
    n_fields: int
    conserved_fields: np.ndarray
    cell_params: Callable


@dataclass(frozen=True)
class FusedCell:
    """A model's right-hand side of one lattice cell, local terms plus diffusion, for the fused
    explicit stage on a device (lattice.stages.FusedStages: one kernel per stage evaluates it at
    every cell together with the Laplacian and the next stage combination).

    Attributes:
        function: f(c, y, lap, q, out), scalar Python in the subset kernels.cuda_source translates
            to CUDA C (the model's per-site code, e.g. Numba register_jitable functions): writes
            out (n_fields,), the cell's dy/dt [state/MeV^-1], from the coefficients c of the time,
            the cell's state y and comoving Laplacian lap [MeV² · state] (n_fields,) and its values
            q. It must do the operations of the NumPy path (the system's f plus the Diffusion's
            tendency, added after) in their order, so that the device stage is bitwise equal.
        coefficients: t [MeV^-1] -> the n_coefficients floats c of that time, computed on the host
            as the NumPy path computes them (they reach the kernel as arguments: no copy).
        values: () -> the per-cell values q, an array (n_values, *grid) where the state is, fixed
            in time (e.g. a view of the system's cell_field: read at each stage, so that grid
            doubling's in-place coarsening is seen). Nothing per cell is copied for the kernel.
        n_coefficients, n_values: the lengths of c and q.
        error: None, or the cell's weighted error error(c, e, y, y_new, q) -> a number
            [dimensionless], scalar Python in the same subset: the error estimate e and the states
            y (the step's start) and y_new (its result) (n_fields,), the cell's values q and the
            norm's constants c. Its maximum over the cells must be bitwise what the error norm's
            `local` gives (the same operations in their order; NaN anywhere gives NaN, as
            np.max does): the fused stage that forms the estimate then measures it at each cell
            instead of storing it, and one reduction gives this rank's norm.
        error_constants: None, or norm -> the n_error_constants floats c of `error` for that
            error norm (e.g. its tolerances), or None where `error` does not compute that norm
            (another kind, other values): the device then forms the estimate and calls the
            norm's `local`.
        n_error_constants: the length of error's c.
    """

    function: Callable
    coefficients: Callable
    values: Callable
    n_coefficients: int
    n_values: int
    error: Callable | None = None
    error_constants: Callable | None = None
    n_error_constants: int = 0


class Cosmology(ABC):
    """The background a model evolves on."""

    @abstractmethod
    def hubble(self, T):
        """Expansion rate H [MeV] at temperature T [MeV]."""

    @abstractmethod
    def time(self, T):
        """Cosmic time t [MeV^-1] at temperature T [MeV] (array in, array out)."""


class Equations(ABC):
    """What a stepper (lattice.rosenbrock.Rodas4) integrates: dy/dt = f(t, y) with its Jacobian
    and time derivative, and the exact properties it may use."""

    locally_constant = ()
    """Fields whose local tendency is exactly zero (their Rosenbrock stages are zeroed)."""
    conserve = None
    """None, or (y, y_new) -> y_new restoring invariants the equations keep exactly."""
    stage_sums = "elementwise"
    """How Rodas4 forms its stage sums: "elementwise" (rounding independent of the rank count)
    or "blas" (one BLAS call each; for one-rank models)."""

    def conserve_and_measure(self, y, y_new, err, error_norm):
        """(y_new with the invariants restored by `conserve`, this rank's error norm
        error_norm(err, y, y_new) as a host float): what Rodas4 does at the end of an attempt.
        A decomposed lattice overrides it to bring both to the host in one copy."""
        y_new = self.conserve(y, y_new)
        return y_new, error_norm(err, y, y_new)

    @abstractmethod
    def f(self, t, y):
        """dy/dt [MeV] at time t."""

    @abstractmethod
    def jac(self, t, y):
        """∂f/∂y [MeV]: (*sites, n, n) blocks, or an object lattice.linsolve.factorise accepts."""

    @abstractmethod
    def dfdt(self, t, y):
        """∂f/∂t at fixed y [MeV²]."""

    def jac_terms(self, t, y):
        """∂f/∂y as JacobianTerms (what `jac` returns, as few numbers per site), or None when the
        model has only `jac`."""
        return None

    def fused_stages(self):
        """None, or the explicit stages of one attempt with f fused into the stage combinations
        (lattice.stages.FusedStages: the coupled lattice on a device, for a model with a
        FusedCell); a stepper otherwise evaluates f and combines (lattice.stages.PlainStages)."""
        return None


class System(Equations):
    """The equations of a model on any number of sites; the state y has shape (n_fields, *sites).

    Attributes every model sets: n_fields, field_names, observable_units (observable name ->
    unit text, in the order the time series stores them), cosmology (a Cosmology).
    """

    n_fields: int
    field_names: tuple
    observable_units: dict
    cosmology: Cosmology

    field_units = "dimensionless"
    """Unit text of the state's fields (time series and snapshot attributes)."""
    wall_field = None
    """None, or the name of a derived field (see derived_fields) whose sign changes between
    neighbouring cells a lattice run counts as the observable sign_changes."""
    cell_field = None
    """None, or an array of the local grid shape of per-cell parameters fixed in time; grid
    doubling coarsens it in place and the compiled line passes it to LineKernels.cell_params."""
    headline = None
    """The observable the progress line shows (None: the first of observable_units)."""

    @abstractmethod
    def initial_state(self, grid_shape=()):
        """The state at T_start, shape (n_fields, *grid_shape)."""

    @abstractmethod
    def temperature(self, t):
        """T [MeV] at cosmic time t [MeV^-1]."""

    @abstractmethod
    def observable_sums(self, y):
        """1D float array of sums over this rank's sites (added over ranks by the machinery)."""

    @abstractmethod
    def observables_from_sums(self, sums):
        """observable name -> value, from the globally summed observable_sums."""

    def observable_terms(self, y):
        """None, or per-site terms (k, *sites) whose sums over every site of the lattice are the
        observable_sums: then a lattice run sums them reproducibly (lattice.reductions), so the
        time series is bitwise the same for any rank count and backend."""
        return None

    @abstractmethod
    def error_norm(self, rtol, tolerances):
        """The step-error measure: callable (err, y, y_new) -> weighted norm (≤ 1 accepts).

        Args:
            rtol: relative tolerance.
            tolerances: the deck's integrator section (the model's own keys, ModelSpec.integrator).
        """

    def derived_fields(self, y) -> dict:
        """name -> array of the grid shape: extra fields a snapshot stores beside the state."""
        return {}

    def final_arrays(self, y) -> dict:
        """name -> array: what the time series file stores of the final state (units
        dimensionless)."""
        return {}

    def compiled_site_kernels(self, error_norm):
        """SiteKernels for one site measured by this error norm, or None (Python Rodas4 runs)."""
        return None

    def compiled_line_kernels(self, error_norm, diffusion):
        """LineKernels for a 1D lattice coupled by `diffusion`, or None (Python path runs)."""
        return None

    def fused_cell(self, diffusion):
        """FusedCell of this model coupled by `diffusion` (one kernel per explicit stage on a
        device), or None (the device evaluates f with whole-array calls, then combines)."""
        return None


class FieldwiseNorm:
    """A generic error norm a model may return from System.error_norm: max |err| / (atol +
    rtol·max(|y|, |y_new|)) over fields and sites.

    Args:
        rtol: relative tolerance [dimensionless].
        atol: absolute tolerance, broadcastable to the state [state units].
    """

    def __init__(self, rtol, atol):
        self.rtol = float(rtol)
        self.atol = np.asarray(atol, dtype=float)

    def __call__(self, err, y, y_new):
        return float(self.local(err, y, y_new))

    def local(self, err, y, y_new):
        """The norm as a 0-d array where the state is (on the device for a CuPy state: no sync)."""
        scale = self.atol + self.rtol * np.maximum(np.abs(y), np.abs(y_new))
        return np.max(np.abs(err) / scale)

    def field_weights(self, y):
        """Error allowance per field and site at y (same shape), for scaling linear solves."""
        return self.atol.reshape(self.atol.shape + (1,) * (y.ndim - self.atol.ndim)) + self.rtol * np.abs(y)


class Diffusion(ABC):
    """How a model's fields diffuse on the comoving lattice (physical ∇² = (T/T_ref)² ∇²_χ)."""

    temperature_exponent: float
    """Every coefficient scales as T^temperature_exponent (d/dt of the matrix is −n H itself)."""

    @abstractmethod
    def tendency(self, lap, T, out=None):
        """d/dt of the fields from their comoving Laplacians `lap` [MeV^-1 × lap's unit]."""

    @abstractmethod
    def matrix(self, T):
        """(n, n) matrix K with tendency = K · lap [MeV^-1]."""

    @abstractmethod
    def max_rate_coefficient(self, T):
        """Largest eigenvalue of the matrix [MeV^-1] (the explicit stability limit)."""

    @abstractmethod
    def doubling_length(self, T, hubble):
        """The comoving length [MeV^-1] whose resolution triggers grid doubling
        (grid.doubling_cells_per_lD cells)."""


@dataclass(frozen=True)
class LatticeSpec:
    """What a model needs to run on a decomposed lattice (the deck's grid section).

    Attributes:
        n_fields: fields per cell (the size of the halo messages).
        odd_fields: fields held at zero on boundary planes by the offdiag_zero condition.
        length_unit: deck -> the unit of grid.box_hubble [MeV^-1] (1/H at grid.T_ref_MeV).
        build: (deck, lattice) -> (System, Diffusion) for this rank's block of `lattice`
            (its fields and cell_field with lattice.xp's arrays); raises ValueError or OSError
            with one line if the deck's grid cannot be set up.
    """

    n_fields: int
    odd_fields: tuple
    length_unit: Callable
    build: Callable


@dataclass(frozen=True)
class Target:
    """One row of a model's table of validation targets (`qke targets MODEL`).

    Attributes:
        label: the model note's name of the target (e.g. "T1", "A3", "§9 swap").
        quantity: what is compared, with its unit.
        reference: the independent value: the paper's number, a closed form, an exact solution.
        measured: this code's value.
        tolerance: the agreement the target asks for, in words (e.g. "rel 1e-10", "10 %").
        holds: whether measured agrees with reference within tolerance.
    """

    label: str
    quantity: str
    reference: str
    measured: str
    tolerance: str
    holds: bool


@dataclass(frozen=True)
class ModelSpec:
    """What the deck layer and the run wiring need to know about one model.

    Attributes:
        name: the deck's `model` value.
        description: one line for the deck reference.
        physics: Fields of the deck's physics section.
        sections: the model's other deck sections (name -> Fields), after the grid section.
        checks: cross-field rules (deck) -> None raising DeckError.
        integrator: the model's own integrator Fields (its absolute tolerances), placed after
            integrator.rtol; System.error_norm reads them.
        T_max_MeV: the largest time.T_start_MeV the model accepts [MeV].
        explicit_branch: whether integrator.method dopri5/auto may take the explicit branch
            (the model's compiled kernels give the explicit tolerance).
        build_system: deck -> the System of a run that is not a decomposed lattice.
        lattice: a LatticeSpec, or None when the model never runs on a lattice.
        on_lattice: deck -> whether this deck runs on a decomposed lattice.
        summarise: (result, deck) -> dict, the closing summary (merged with the statistics).
        summary_line: summary -> the one closing line `qke run` prints.
        targets: quick -> a sequence of Target, the model's validation table against its paper
            (`qke targets MODEL [--quick]`; quick: the small cases only), or None.
    """

    name: str
    description: str
    physics: tuple
    sections: dict
    checks: tuple
    integrator: tuple
    T_max_MeV: float
    explicit_branch: bool
    build_system: Callable
    lattice: LatticeSpec | None = None
    on_lattice: Callable = field(default=lambda deck: False)
    summarise: Callable = field(default=lambda result, deck: {})
    summary_line: Callable = field(default=lambda summary: "done")
    targets: Callable | None = None
