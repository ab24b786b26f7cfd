"""The explicit stages of one attempt: evaluate f at a stage argument and form the next combination.

An explicit Runge–Kutta attempt (lattice.dopri5) is a chain of `evaluate` calls: each returns the
stage value k_s = f(t_s, argument) and the combination base + Σ_j w_j k_j (k_s the last term),
which is the next stage's argument (or the step's result, or its error estimate). Two
implementations with the same arithmetic:

- PlainStages, the reference (any backend): the system's f, then the backend's `combine`;
- FusedStages, on a device for a model with a lattice.model.FusedCell: one kernel per stage
  (the backend's `explicit_stage`) forms k_s from the ghosted argument and writes the next
  argument straight into a padded buffer, whose ghosts are filled (halo exchange, boundary
  conditions) only when that argument is evaluated. Where the model's FusedCell has a cell
  error function for the attempt's error norm, the stage that forms the error estimate measures
  it at each cell instead of storing it, and one reduction gives the norm. A DOPRI5 attempt is
  then seven launches, six ghost fills and one reduction, bitwise the plain chain's results
  (tests/lattice/test_explicit_stage.py).

`output` says what the caller does with the combination: "argument" (only evaluate it next: it
may stay an opaque handle), "both" (evaluate it next and keep it: an array), "array" (keep it
only), "none" (no combination: f alone) or "norm" (it is an error estimate: only its norm is wanted, measured against `start` and
the stage's argument (an array) by `norm`; returned in place of the combination is this rank's
norm: a 0-d array where the state is, as the norm's `local` gives it (no sync), or a host float
for a norm without `local`).
"""

from __future__ import annotations


class PlainStages:
    """f, then the backend's combine (the reference order of operations).

    Args:
        system: the Equations (f).
        backend: the array backend (kernels.backend) whose `combine` forms the combinations.
    """

    def __init__(self, system, backend):
        self.system, self.backend = system, backend

    def evaluate(self, t, argument, k, weights, base=None, known=None, output="argument", norm=None, start=None):
        """(k_s, combination): k_s = f(t, argument) [state/MeV^-1] (`known` instead if given) and
        backend.combine(k + [k_s], weights, base) (weights on the host, zeros skipped); for
        output "norm", the combination's norm in its place (see the module docstring)."""
        value = known if known is not None else self.system.f(t, argument)
        combination = self.backend.combine(list(k) + [value], weights, base=base)
        return value, measured(norm, combination, start, argument) if output == "norm" else combination


class FusedStages:
    """The stages of one attempt as one fused kernel each (made per attempt: the second padded
    buffer lives only during the attempt).

    Args:
        system: the coupled lattice (lattice.implicit.ImplicitLattice: its lattice and backend).
        cell: the model's lattice.model.FusedCell.
    """

    def __init__(self, system, cell):
        self.cell, self.lattice, self.backend = cell, system.lattice, system.backend
        self._loaded = None     # (argument, padded buffer holding it in its interior, ghosts not filled)
        self._spare = None      # the second padded buffer, made on first use

    def evaluate(self, t, argument, k, weights, base=None, known=None, output="argument", norm=None, start=None):
        """As PlainStages.evaluate, in one launch of the backend's explicit_stage, after filling
        the ghosts of the argument (its halo exchange) unless `known` is given (where the last
        axis is exchanged with another rank, a launch on the core during that exchange and one
        per shell box after it: lattice.grid.Lattice.stencil_on). The argument is
        y, or a combination an earlier call of this object returned. For output "norm" the
        launch measures the estimate at each cell (the cell's error function, where it computes
        `norm`) and one reduction gives the norm; else the estimate is formed and measured by
        the norm's `local`."""
        lattice, xp = self.lattice, self.backend.xp
        shape = (lattice.padded.shape[0],) + tuple(lattice.local_shape)
        constants = None
        if output == "norm":
            measures = self.cell.error is not None and known is None
            constants = self.cell.error_constants(norm) if measures else None
            if constants is None:
                value, error = self.evaluate(t, argument, k, weights, base, known, "array")
                return value, measured(norm, error, start, argument)
        if known is not None:
            padded, value = None, known
        else:
            loaded = self._loaded is not None and argument is self._loaded[0]
            padded = self._loaded[1] if loaded else lattice.load(argument)      # ghosts filled below
            value = xp.empty(shape)
        if output == "none":
            self._loaded = None
        target = self._other(padded) if output in ("argument", "both") else None
        plain = xp.empty(shape) if output in ("both", "array") else None
        cell_error = xp.empty(shape[1:]) if constants is not None else None
        error = (self.cell.error, self.cell.n_error_constants) if self.cell.error is not None else None
        coefficients, values = self.cell.coefficients(t), self.cell.values()

        def launch(box):
            self.backend.explicit_stage(self.cell.function, coefficients, values, padded, lattice.partition.halo,
                                        lattice.spacing, value, k, weights, base, target, plain, error,
                                        (constants, start, cell_error) if constants is not None else None, box)

        if padded is None:
            launch(None)
        else:
            lattice.stencil_on(padded, launch)     # the halo exchange overlapping the core's launch
        if cell_error is not None:
            self._loaded = None
            return value, xp.max(cell_error)     # exact in any order; NaN anywhere gives NaN
        if output == "none":
            return value, None
        combination = plain if plain is not None else _InPaddedBuffer()
        self._loaded = (combination, target) if target is not None else None
        return value, combination

    def f(self, t, y):
        """f(t, y) [state/MeV^-1] alone, in one launch (two or more where the exchange overlaps):
        bitwise the system's f (lattice.implicit.ImplicitLattice.f on a device)."""
        return self.evaluate(t, y, [], [], output="none")[0]

    def measure(self, norm, error, start, y_new):
        """This rank's `norm` of a given error estimate of the step from start to y_new (the
        implicit step's, lattice.implicit.ImplicitLattice.conserve_and_measure): one launch of the
        cell's error function and one reduction where it computes that norm (the estimate enters
        as the one row of weight 1: the combination is it exactly), else the norm's `local`;
        bitwise the latter either way. A 0-d array where the state is (no sync)."""
        constants = self.cell.error_constants(norm) if self.cell.error is not None else None
        if constants is None:
            return measured(norm, error, start, y_new)
        xp, lattice = self.backend.xp, self.lattice
        cell_error = xp.empty(tuple(lattice.local_shape))
        self.backend.explicit_stage(self.cell.function, [0.0] * self.cell.n_coefficients, self.cell.values(), None,
                                    lattice.partition.halo, lattice.spacing, error, [error], [1.0, 0.0], None, None,
                                    None, (self.cell.error, self.cell.n_error_constants),
                                    (constants, start, cell_error), None, y_new)
        return xp.max(cell_error)

    def _other(self, padded):
        """The padded buffer that does not hold `padded` (the lattice's own, or the spare)."""
        if padded is not self.lattice.padded:
            return self.lattice.padded
        if self._spare is None:
            self._spare = self.backend.xp.empty_like(self.lattice.padded)
        return self._spare


def measured(norm, error, start, y_new):
    """This rank's error norm of the estimate `error` of the step from start to y_new: the
    norm's `local` (a 0-d array where the state is: no sync) where it has one, else the norm
    itself as a host float."""
    local = getattr(norm, "local", None)
    return local(error, start, y_new) if local is not None else float(norm(error, start, y_new))


class _InPaddedBuffer:
    """A stage argument that exists only in the interior of a padded buffer (output="argument")."""
