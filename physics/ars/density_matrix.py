"""The density-matrix equations `qke run` integrates for the ARS model (docs/models/ars.md §2.2).

The state is ρ̃ = ρ e^{k/T} (1 in equilibrium) of the singlets of one momentum k = c_k T, for
particles and antiparticles, in the mass basis, as its CP-even and CP-odd halves

    ρ⁺ = (ρ̃ + ρ̃̄)/2,   ρ⁻ = (ρ̃ − ρ̃̄)/2,

where ρ̃̄ is the antiparticles' matrix in their own mass basis (U → U*). Each Hermitian half is
9 real fields (physics.ars.mixing.HERMITIAN_LAYOUT): 18 fields per site, ρ⁺ first. With Ĥ =
H_r + i H_i and Γ = G_r + i G_i (real symmetric and real antisymmetric parts in the mass basis;
the antiparticles have Ĥ*, Γ*), the Boltzmann-form equation dρ̃/dt = −i[Ĥ, ρ̃] − ½{Γ, ρ̃} + Γ
of each becomes

    dρ⁺/dt = −i[H_r, ρ⁺] + [H_i, ρ⁻] − ½{G_r, ρ⁺} − (i/2){G_i, ρ⁻} + G_r,
    dρ⁻/dt = −i[H_r, ρ⁻] + [H_i, ρ⁺] − ½{G_r, ρ⁻} − (i/2){G_i, ρ⁺} + i G_i,

and the lepton asymmetry (9) is Δ_L = −½(ρ̃_33 − ρ̃̄_33) = −ρ⁻_33 directly, never a difference
of two evolved numbers. The equations are linear: f = (T L₁ + L₋₁/T) y + T b₁, with Ĥ = D/T +
W T and Γ = G T (physics.ars.parameters). Time t [MeV⁻¹], T [MeV], rates [MeV];
H = T²/M*, t = M*/(2T²).
"""

from __future__ import annotations

import numpy as np

from lattice.model import Cosmology, FieldwiseNorm, System
from physics.ars.mixing import FIELD_SUFFIXES, pack, unpack
from physics.ars.parameters import ARSParameters

N_HALF = 9
"""Real fields of one Hermitian 3×3 matrix."""


class RadiationEra(Cosmology):
    """H = T²/M* with t = M*/(2T²) (t = 0 at T = ∞), the paper's expansion.

    Args:
        M_star_MeV: M*_Pl [MeV].
    """

    def __init__(self, M_star_MeV):
        self.M_star = float(M_star_MeV)

    def hubble(self, T):
        """H [MeV] at T [MeV]."""
        return T * T / self.M_star

    def time(self, T):
        """t [MeV⁻¹] at T [MeV]."""
        return 0.5 * self.M_star / (T * T)

    def temperature(self, t):
        """T [MeV] at t [MeV⁻¹]."""
        return np.sqrt(0.5 * self.M_star / t)


def cp_split_rhs(Hr, Hi, Gr, Gi, plus, minus):
    """(dρ⁺/dt, dρ⁻/dt) of the module docstring for complex 3×3 Hr, Hi, Gr, Gi (already the
    real symmetric / real antisymmetric parts, as complex arrays) and Hermitian ρ⁺, ρ⁻."""
    def comm(A, B):
        return A @ B - B @ A

    def anti(A, B):
        return A @ B + B @ A

    d_plus = -1j * comm(Hr, plus) + comm(Hi, minus) - 0.5 * anti(Gr, plus) - 0.5j * anti(Gi, minus) + Gr
    d_minus = -1j * comm(Hr, minus) + comm(Hi, plus) - 0.5 * anti(Gr, minus) - 0.5j * anti(Gi, plus) + 1j * Gi
    return d_plus, d_minus


def _split(M):
    """(real part, imaginary part) of a complex matrix, each as a complex array."""
    return M.real.astype(complex), M.imag.astype(complex)


def linear_operator(Hr, Hi, Gr, Gi):
    """(L [18×18], b [18]) with f = L y + b for the fields y of the module docstring."""
    def f(y):
        dp, dm = cp_split_rhs(Hr, Hi, Gr, Gi, unpack(y[:N_HALF]), unpack(y[N_HALF:]))
        return np.concatenate([pack(dp), pack(dm)])

    b = f(np.zeros(2 * N_HALF))
    L = np.empty((2 * N_HALF, 2 * N_HALF))
    for j in range(2 * N_HALF):
        e = np.zeros(2 * N_HALF)
        e[j] = 1.0
        L[:, j] = f(e) - b
    return L, b


class ARSSystem(System):
    """The ARS density matrix on one site, in the stepper's System protocol.

    Args:
        params: the parameter point (physics.ars.parameters.ARSParameters).
        initial: "zero" (ρ̃ = 0: no singlets, the paper's start) or "equilibrium" (ρ̃ = 1).
    """

    n_fields = 2 * N_HALF
    field_names = tuple(f"plus_{s}" for s in FIELD_SUFFIXES) + tuple(f"minus_{s}" for s in FIELD_SUFFIXES)
    field_units = "dimensionless (ρ̃ = n/n_eq per helicity, mass basis)"
    observable_units = {
        "Delta_L": "per photon, Δ_L = −½(ρ̃_33 − ρ̃̄_33), eq. (9)",
        "rho_11": "dimensionless, (ρ̃_11 + ρ̃̄_11)/2 = n_1/n_eq",
        "rho_22": "dimensionless, (ρ̃_22 + ρ̃̄_22)/2 = n_2/n_eq",
        "rho_33": "dimensionless, (ρ̃_33 + ρ̃̄_33)/2 = n_3/n_eq",
        "L_singlets": "per photon, ½ Σ_i (ρ̃_ii − ρ̃̄_ii) (the singlets' total, = −Δ_L − L of N_1, N_2)",
    }
    headline = "Delta_L"

    def __init__(self, params: ARSParameters, initial="zero"):
        self.params = params
        self.initial = initial
        self.cosmology = RadiationEra(params.M_star_MeV)
        D, W, G = params.mass_basis_matrices()
        Dr, _ = _split(D)
        Wr, Wi = _split(W)
        Gr, Gi = _split(G)
        zero = np.zeros((3, 3), dtype=complex)
        self.L_T, self.b_T = linear_operator(Wr, Wi, Gr, Gi)        # the parts ∝ T
        self.L_inv, _ = linear_operator(Dr, zero, zero, zero)        # the part ∝ 1/T
        self.b_T = self.b_T.reshape(-1, 1)

    def initial_state(self, grid_shape=(1,)):
        """ρ⁺ = 0 (or 1), ρ⁻ = 0, shape (18, *grid_shape)."""
        y = np.zeros((self.n_fields,) + tuple(grid_shape))
        if self.initial == "equilibrium":
            y[:3] = 1.0
        return y

    def temperature(self, t):
        """T [MeV] at t [MeV⁻¹]."""
        return self.cosmology.temperature(t)

    def operator(self, T):
        """(L [MeV], b [MeV]) with f = L y + b at temperature T [MeV]."""
        return T * self.L_T + self.L_inv / T, T * self.b_T

    def f(self, t, y):
        """dy/dt [MeV]."""
        L, b = self.operator(self.temperature(t))
        return np.einsum("ij,j...->i...", L, y) + b.reshape((-1,) + (1,) * (y.ndim - 1))

    def jac(self, t, y):
        """∂f/∂y [MeV]: one (18, 18) block per site."""
        L, _ = self.operator(self.temperature(t))
        return np.broadcast_to(L, y.shape[1:] + L.shape).copy()

    def dfdt(self, t, y):
        """∂f/∂t at fixed y [MeV²]: dT/dt (L₁ − L₋₁/T²) y + dT/dt b₁ with dT/dt = −T³/M*."""
        T = self.temperature(t)
        dTdt = -T ** 3 / self.cosmology.M_star
        dL = dTdt * (self.L_T - self.L_inv / (T * T))
        return np.einsum("ij,j...->i...", dL, y) + dTdt * self.b_T.reshape((-1,) + (1,) * (y.ndim - 1))

    # -- observables ------------------------------------------------------------------------------
    def observable_sums(self, y):
        """Δ_L, ρ⁺_11, ρ⁺_22, ρ⁺_33, Tr ρ⁻ summed over the sites."""
        y = y.reshape(self.n_fields, -1)
        m = y[N_HALF:]
        return np.array([-m[2].sum(), y[0].sum(), y[1].sum(), y[2].sum(), m[:3].sum()])

    def observables_from_sums(self, sums):
        return dict(zip(self.observable_units, (float(s) for s in sums)))

    def final_arrays(self, y):
        """The final ρ̃ and ρ̃̄ (each in its mass basis), (3, 3), as real and imaginary parts."""
        y = y.reshape(self.n_fields, -1)[:, 0]
        plus, minus = unpack(y[:N_HALF]), unpack(y[N_HALF:])
        return {"rho_re": (plus + minus).real, "rho_im": (plus + minus).imag,
                "rhobar_re": (plus - minus).real, "rhobar_im": (plus - minus).imag}

    def error_norm(self, rtol, tolerances):
        """FieldwiseNorm: integrator.atol_plus on the ρ⁺ fields, atol_minus on the ρ⁻ fields."""
        atol = np.repeat([tolerances.atol_plus, tolerances.atol_minus], N_HALF).reshape(-1, 1)
        return FieldwiseNorm(rtol, atol)
