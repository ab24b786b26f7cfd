"""Wire a validated deck of a model into what a run steps: the system, the lattice (if any),
the stepper and the advancer, chosen once here.

One site, or a model's own grid on one rank: the compiled site loop when the model offers
per-site kernels (lattice.compiled_rodas), else the Python Rodas4. A decomposed lattice: the
implicit coupling (diffusion inside the Rosenbrock stages; the compiled line for 1D with the
direct stage solver, lattice.compiled_line; with method dopri5 and GMRES stages, the explicit
lattice.dopri5 throughout) or a split coupling (lattice.splitting).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lattice.advancers import LocalOnly, Split
from lattice.compiled_line import compiled_line_stepper
from lattice.compiled_rodas import compiled_site_stepper
from lattice.devices import check_memory
from lattice.dopri5 import Dopri5
from lattice.grid import Lattice
from lattice.implicit import ImplicitLattice
from lattice.model import System
from lattice.rosenbrock import Rodas4
from lattice.splitting import MidpointSourceCoupling, StrangSplitting
from lattice.switching import SwitchingLattice


@dataclass
class RunParts:
    """What a run is made of.

    Attributes:
        system: the model's System (lattice.model).
        y: the initial state (this rank's block).
        lattice: the decomposed lattice, or None.
        diffusion: the model's Diffusion on a lattice, or None.
        length_unit: unit of the lattice's lengths in the output [MeV^-1] (1 without a lattice).
        stepper: the adaptive stepper.
        advancer: LocalOnly or Split (lattice.advancers).
    """

    system: object
    y: object
    lattice: object
    diffusion: object
    length_unit: float
    stepper: object
    advancer: object


def build_lattice(deck, spec, comm, xp=np):
    """(lattice, system, diffusion, length unit [MeV^-1]) of a lattice deck of model `spec`:
    the grid decomposed over comm's ranks and the model's per-rank system. Raises ValueError
    or OSError (one line) if the grid or the model's set-up cannot be made."""
    g, ls = deck.grid, spec.lattice
    unit = ls.length_unit(deck)
    lattice = Lattice(g.shape, (g.box_hubble * unit,) * len(g.shape), (g.bc,) * len(g.shape), ls.n_fields, comm,
                      process_grid=g.process_grid, odd_fields=ls.odd_fields, xp=xp,
                      cuda_aware=deck.device.cuda_aware_mpi)
    system, diffusion = ls.build(deck, lattice)
    return lattice, system, diffusion, unit


def assemble(deck, spec, comm, xp=np) -> RunParts:
    """The RunParts of a validated deck of model `spec` (a lattice.model.ModelSpec)."""
    integ = deck.integrator
    if spec.on_lattice(deck):
        lattice, system, diffusion, unit = build_lattice(deck, spec, comm, xp)
        check_memory(lattice, spec.lattice.n_fields, integ, stored_blocks=type(system).jac_terms is System.jac_terms)
        y = xp.asarray(system.initial_state(lattice.local_shape))
    else:
        lattice, diffusion, unit = None, None, 1.0
        system = spec.build_system(deck)
        y = system.initial_state((1,))
    t0 = system.cosmology.time(deck.time.T_start_MeV)   # the first sample's time (np.geomspace keeps start)
    error_norm = system.error_norm(integ.rtol, integ)
    stepper, krylov = _stepper(deck, system, error_norm, lattice, diffusion, comm, np.shape(y),
                               spec.explicit_branch)
    dt0 = integ.dt_initial * t0
    if lattice is None or integ.coupling == "implicit":
        advancer = LocalOnly(stepper, dt0, krylov)
    else:
        advancer = Split(_splitting(integ.coupling, stepper, system, lattice, diffusion, comm), dt0,
                         lambda t: integ.max_dt_hubble / system.cosmology.hubble(system.temperature(t)))
    return RunParts(system, y, lattice, diffusion, unit, stepper, advancer)


def _stepper(deck, system, error_norm, lattice, diffusion, comm, shape, explicit_branch):
    """(stepper, GMRES statistics or None) for the run; `explicit_branch`: whether the model
    allows the explicit branch (method auto otherwise means Rodas4)."""
    integ = deck.integrator
    switching = dict(explicit_rtol_factor=integ.explicit_rtol_factor, probe_steps=integ.probe_steps,
                     max_attempts=integ.max_steps)
    if lattice is None:
        if int(np.prod(shape[1:])) == 1:
            compiled = compiled_site_stepper(system, error_norm, method=integ.method, **switching)
            if compiled is not None:
                return compiled, None
        return Rodas4(system, error_norm, reduce_max=comm.allreduce_max), None
    if integ.coupling != "implicit":
        return Rodas4(system, error_norm, reduce_max=comm.allreduce_max, backend=lattice.backend), None
    stepped = ImplicitLattice(system, diffusion, lattice, error_norm.field_weights, integ.krylov_tolerance,
                              integ.krylov_restart, integ.krylov_max_iterations, integ.stage_solver)
    if integ.method != "rodas4" and explicit_branch and integ.stage_solver == "gmres":   # any backend
        explicit_norm = system.error_norm(integ.rtol * integ.explicit_rtol_factor, integ)
        explicit = Dopri5(stepped, explicit_norm, reduce_max=comm.allreduce_max, backend=lattice.backend)
        if integ.method == "dopri5":
            return explicit, None
        implicit = Rodas4(stepped, error_norm, reduce_max=comm.allreduce_max, backend=lattice.backend)
        return SwitchingLattice(implicit, explicit, integ.method, probe_steps=integ.probe_steps,
                                max_attempts=integ.max_steps), stepped.stats
    if integ.stage_solver == "direct":
        compiled = compiled_line_stepper(system, error_norm, diffusion, stepped, lattice, integ.rtol,
                                         integ.explicit_rtol_factor, integ.method,
                                         probe_steps=integ.probe_steps, max_attempts=integ.max_steps)
        if compiled is not None:
            return compiled, stepped.stats
    return Rodas4(stepped, error_norm, reduce_max=comm.allreduce_max, backend=lattice.backend), stepped.stats


def _splitting(coupling, stepper, system, lattice, diffusion, comm):
    """The split coupling of a lattice run (lattice.splitting)."""
    def tendency(v, t):
        return diffusion.tendency(lattice.laplacian(v), system.temperature(t))

    def limit(t):
        return lattice.explicit_limit(diffusion.max_rate_coefficient(system.temperature(t)))

    if coupling == "strang":
        return StrangSplitting(stepper, tendency, limit)
    return MidpointSourceCoupling(stepper, tendency, limit, stepper.error_norm, comm.allreduce_max)
