"""Independent method-of-lines reference for the 1D diffusion QKE on a periodic lattice.

Written directly from the equations (docs/models/diffusion-qke.md §1–§4; paper eq. 18-19); it imports
nothing from the project packages (physics/, lattice/, kernels/), only numpy, scipy and the
independent homogeneous reference tests/reference_qke.py, whose constants and local
right-hand side conventions it reuses (same 8 fields, same potentials, rates and C).

Problem: N cell-centred cells on a periodic comoving box of size box_hubble / H(T_ref)
(MeV^-1), dx = box / N, cell centres x_i = (i + 1/2) dx, seed
    L0(x) = L0_mean + L0_amp sin(2 pi x / box).
Per cell, the 8 fields P0p, P0m, Pxp, Pxm, Pyp, Pym, Pzp, Pzm evolve with the local terms of
reference_qke.make_rhs (L0 now per cell) plus diffusion
    dP0^{+-} += Dp lap P0^{+-} + Dm lap Pz^{+-}
    dPz^{+-} += Dm lap P0^{+-} + Dp lap Pz^{+-}
    dPx^{+-}, dPy^{+-} += Dts lap (same field)
with Dp, Dm = (1/G_tt +- 1/G_ss) / 2, Dts = 2 / (G_tt + G_ss), G_tt = 2.8 G_F^2 T^5,
G_ss = eps G_tt, and lap the physical Laplacian (T / T_ref)^2 (u[i+1] - 2 u[i] + u[i-1]) / dx^2.

The 8N ODEs are integrated in cosmic time t = 1/(2 H(T)) with scipy's BDF and an analytic
sparse (CSC) Jacobian: 8x8 local blocks on the block diagonal plus the diffusion couplings
(block-tridiagonal with periodic corners).  The internal ordering is cell-major
(index 8 i + f) so that the Jacobian has a narrow band; the API returns (n_T, 8, N) arrays.
"""
import math
import time

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp

import reference_qke as rq
from reference_qke import G_F, M_Z, M_PL, ZETA3, EV2_TO_MEV2, FIELDS  # noqa: F401

I0P, I0M, IXP, IXM, IYP, IYM, IZP, IZM = range(8)
PLUS = (I0P, IXP, IYP, IZP)
MINUS = (I0M, IXM, IYM, IZM)

# Absolute tolerances per field, used with rtol ~ 1e-8.
#  plus fields: P0p, Pzp ~ 2; coherences Pxp, Pyp grow from 0 (~1e-6..1e-2 around T_res);
#    1e-14 is far below any sterile fraction of interest (as in reference_qke).
#  minus fields: P0m, Pzm ~ 1e-10 carry the asymmetry, L = L0 + (3/8)(P0m + Pzm) is driven
#    towards 0 above T_res (far from 0 only where diffusion smooths Pzm away from -8/3 L0);
#    Pxm, Pym are much smaller still.  1e-20 as in reference_qke.
# Measured (64 cells, 24 -> 16 MeV, 2 shared cores): rtol 1e-8 vs 1e-9 changes max|dL|/max|L|
# by 1.5e-8 (22 MeV), 1.6e-7 (20), 5.9e-7 (18), 2.7e-5 (16 MeV, where max|L| ~ 2e-18) and
# sterile/active by < 4e-10; atol_minus 1e-22 changes L at 20 MeV by 7e-8 but is ~2x slower.
# Cost at rtol 1e-8: ~20 s to 22 MeV, ~40 s to 20 MeV, ~5 min to 16 MeV.
# Jacobian checked against complex-step derivatives of rhs (agreement to 3e-16 of the row
# scale at 24, 18, 16, 12 MeV) and its local blocks against reference_qke's jac (exact).
ATOL_PLUS = 1e-14
ATOL_MINUS = 1e-20


def default_atol(N):
    """Per-component atol, cell-major layout (length 8 N)."""
    a = np.empty(8)
    a[list(PLUS)] = ATOL_PLUS
    a[list(MINUS)] = ATOL_MINUS
    return np.tile(a, N)


def grid(N, box_hubble=0.05, T_ref=18.0, g_star=10.75):
    """(box, dx, x): comoving box [MeV^-1], spacing, cell centres."""
    box = box_hubble / rq.hubble(T_ref, g_star)
    dx = box / N
    x = (np.arange(N) + 0.5) * dx
    return box, dx, x


def seed_sine(N, L0_mean=0.75e-10, L0_amp=0.25e-10, box_hubble=0.05, T_ref=18.0,
              g_star=10.75, mode=1):
    """L0 at the cell centres: L0_mean + L0_amp sin(2 pi mode x / box)."""
    box, _, x = grid(N, box_hubble, T_ref, g_star)
    return L0_mean + L0_amp * np.sin(2.0 * np.pi * mode * x / box)


def initial_state(N):
    """(8, N) initial fields: P0p = Pzp = 2, the rest 0."""
    y = np.zeros((8, N))
    y[I0P] = y[IZP] = 2.0
    return y


def make_system(L0, dx, delta_m2_eV2=-1.0, sin2_2theta=1e-5, T_ref=18.0, eps=0.1,
                g_star=10.75, mean_p_over_T=3.15):
    """Return (rhs(t, y), jac(t, y), coeffs(t)) for the cell-major 8N system.

    L0: per-cell background asymmetry (length N); dx: comoving spacing [MeV^-1].
    """
    L0 = np.asarray(L0, dtype=float)
    N = L0.size
    if N < 3:
        raise ValueError("need at least 3 cells for the 3-point periodic stencil")
    dm2 = delta_m2_eV2 * EV2_TO_MEV2
    s2t = math.sqrt(sin2_2theta)
    c2t = math.sqrt(1.0 - sin2_2theta)
    t_coef = M_PL / (2.0 * 1.66 * math.sqrt(g_star))      # T^2 = t_coef / t

    def coeffs(t):
        T = math.sqrt(t_coef / t)
        p = mean_p_over_T * T
        n_gamma = 2.0 * ZETA3 * T ** 3 / math.pi ** 2
        vx = dm2 / (2.0 * p) * s2t
        v0 = -dm2 / (2.0 * p) * c2t - 17.8 * G_F * n_gamma * p * T / (2.0 * M_Z ** 2)
        kl = math.sqrt(2.0) * G_F * n_gamma
        d = 1.4 * G_F ** 2 * T ** 5
        gam = 0.32 * G_F ** 2 * T ** 5
        g_tt = 2.8 * G_F ** 2 * T ** 5
        g_ss = eps * g_tt
        Dp = 0.5 * (1.0 / g_tt + 1.0 / g_ss)
        Dm = 0.5 * (1.0 / g_tt - 1.0 / g_ss)
        Dts = 2.0 / (g_tt + g_ss)
        c = (T / T_ref) ** 2 / dx ** 2                    # physical Laplacian prefactor
        return dict(T=T, vx=vx, v0=v0, kl=kl, d=d, gam=gam, Dp=Dp, Dm=Dm, Dts=Dts, c=c)

    def dmat(k):
        """8x8 diffusion coefficient matrix (row: d field / dt, column: lap of field)."""
        M = np.zeros((8, 8))
        for a, b in ((I0P, IZP), (I0M, IZM)):
            M[a, a] = M[b, b] = k["Dp"]
            M[a, b] = M[b, a] = k["Dm"]
        for f in (IXP, IXM, IYP, IYM):
            M[f, f] = k["Dts"]
        return M

    def rhs(t, y):
        k = coeffs(t)
        Y = y.reshape(N, 8)
        p0p, p0m, pxp, pxm, pyp, pym, pzp, pzm = Y.T
        vx, v0, d = k["vx"], k["v0"], k["d"]
        vl = k["kl"] * (L0 + 0.375 * (p0m + pzm))
        sp_, sm_ = p0p + pzp, p0m + pzm
        c2 = 2.0 * k["gam"] * (1.0 - (sp_ * sp_ - sm_ * sm_) / 16.0)
        out = np.empty_like(Y)
        out[:, I0P] = c2
        out[:, I0M] = 0.0
        out[:, IXP] = -v0 * pyp - vl * pym - d * pxp
        out[:, IXM] = -v0 * pym - vl * pyp - d * pxm
        out[:, IYP] = v0 * pxp + vl * pxm - d * pyp - vx * pzp
        out[:, IYM] = v0 * pxm + vl * pxp - d * pym - vx * pzm
        out[:, IZP] = vx * pyp + c2
        out[:, IZM] = vx * pym
        # diffusion: lap along the cell axis (axis 0), periodic
        lap = k["c"] * (np.roll(Y, -1, axis=0) - 2.0 * Y + np.roll(Y, 1, axis=0))
        out += lap @ dmat(k).T
        return out.reshape(-1)

    # BSR pattern: block row i has blocks at columns i-1, i, i+1 (mod N), sorted.
    cols = np.stack([(np.arange(N) - 1) % N, np.arange(N), (np.arange(N) + 1) % N], axis=1)
    order = np.argsort(cols, axis=1)
    cols_sorted = np.take_along_axis(cols, order, axis=1)
    indptr = np.arange(0, 3 * N + 1, 3)
    # position (0: left, 1: diagonal, 2: right) of each stored block
    pos = order

    def jac(t, y):
        k = coeffs(t)
        Y = y.reshape(N, 8)
        p0p, p0m, pxp, pxm, pyp, pym, pzp, pzm = Y.T
        vx, v0, d, kl = k["vx"], k["v0"], k["d"], k["kl"]
        vl = kl * (L0 + 0.375 * (p0m + pzm))
        dvl = 0.375 * kl
        a = -k["gam"] * (p0p + pzp) / 4.0
        b = k["gam"] * (p0m + pzm) / 4.0
        J = np.zeros((N, 8, 8))
        J[:, I0P, I0P] = a; J[:, I0P, I0M] = b; J[:, I0P, IZP] = a; J[:, I0P, IZM] = b
        J[:, IXP, I0M] = -dvl * pym; J[:, IXP, IXP] = -d; J[:, IXP, IYP] = -v0
        J[:, IXP, IYM] = -vl; J[:, IXP, IZM] = -dvl * pym
        J[:, IXM, I0M] = -dvl * pyp; J[:, IXM, IXM] = -d; J[:, IXM, IYP] = -vl
        J[:, IXM, IYM] = -v0; J[:, IXM, IZM] = -dvl * pyp
        J[:, IYP, I0M] = dvl * pxm; J[:, IYP, IXP] = v0; J[:, IYP, IXM] = vl
        J[:, IYP, IYP] = -d; J[:, IYP, IZP] = -vx; J[:, IYP, IZM] = dvl * pxm
        J[:, IYM, I0M] = dvl * pxp; J[:, IYM, IXP] = vl; J[:, IYM, IXM] = v0
        J[:, IYM, IYM] = -d; J[:, IYM, IZM] = dvl * pxp - vx
        J[:, IZP, I0P] = a; J[:, IZP, I0M] = b; J[:, IZP, IYP] = vx
        J[:, IZP, IZP] = a; J[:, IZP, IZM] = b
        J[:, IZM, IYM] = vx
        Dc = k["c"] * dmat(k)
        blocks3 = np.empty((N, 3, 8, 8))
        blocks3[:, 0] = Dc                                 # left neighbour
        blocks3[:, 1] = J - 2.0 * Dc                       # local + diagonal diffusion
        blocks3[:, 2] = Dc                                 # right neighbour
        blocks = np.take_along_axis(blocks3, pos[:, :, None, None], axis=1)
        A = sp.bsr_matrix((blocks.reshape(3 * N, 8, 8), cols_sorted.reshape(-1), indptr),
                          shape=(8 * N, 8 * N))
        return A.tocsc()

    return rhs, jac, coeffs


def solve_mol(N, T_start, T_end, T_eval, rtol=1e-8, atol=None, max_wall_s=None,
              delta_m2_eV2=-1.0, sin2_2theta=1e-5, L0_mean=0.75e-10, L0_amp=0.25e-10,
              box_hubble=0.05, T_ref=18.0, eps=0.1, g_star=10.75, mean_p_over_T=3.15,
              first_step=None):
    """Integrate the 1D periodic diffusion QKE from T_start down to T_end [MeV] with BDF.

    T_eval: temperatures [MeV], descending, inside [T_end, T_start].  atol: None (the
    per-field default ATOL_PLUS / ATOL_MINUS), a scalar, an 8-array (per field) or an
    8N cell-major array.  max_wall_s: stop once this many wall seconds have passed and
    return only the T_eval points reached.

    Returns dict: T (n_T,), t, x (cell centres, comoving MeV^-1), L0 (N,), L (n_T, N) =
    L0 + (3/8)(P0m + Pzm), L_nutau (n_T, N), sterile_over_active (n_T,) =
    <P0p - Pzp> / <P0p + Pzp>, fields (n_T, 8, N) in FIELDS order, T_reached, completed,
    wall_s, nfev, njev, nlu, message.
    """
    T_eval = np.asarray(T_eval, dtype=float)
    if np.any(np.diff(T_eval) > 0):
        raise ValueError("T_eval must be descending")
    if T_eval.size and (T_eval[0] > T_start or T_eval[-1] < T_end):
        raise ValueError("T_eval must lie inside [T_end, T_start]")
    box, dx, x = grid(N, box_hubble, T_ref, g_star)
    L0 = L0_mean + L0_amp * np.sin(2.0 * np.pi * x / box)
    if atol is None:
        atol = default_atol(N)
    else:
        atol = np.asarray(atol, dtype=float)
        if atol.size == 8:
            atol = np.tile(atol, N)
    rhs, jac, _ = make_system(L0, dx, delta_m2_eV2, sin2_2theta, T_ref, eps, g_star,
                              mean_p_over_T)
    t0, t1 = rq.t_of_T(T_start, g_star), rq.t_of_T(T_end, g_star)
    t_eval = np.clip(rq.t_of_T(T_eval, g_star), t0, t1)
    y0 = initial_state(N).T.reshape(-1)                   # cell-major
    wall0 = time.monotonic()
    events = None
    if max_wall_s is not None:
        # same wall-clock latch as reference_qke.solve_reference
        latch = {"t_last": None, "t_stop": None}

        def out_of_time(t, y):
            if latch["t_stop"] is None:
                if time.monotonic() - wall0 < max_wall_s:
                    latch["t_last"] = t
                    return 1.0
                tl = t if latch["t_last"] is None else latch["t_last"]
                latch["t_stop"] = 0.5 * (tl + t)
            return latch["t_stop"] - t
        out_of_time.terminal = True
        out_of_time.direction = -1
        events = out_of_time
    kw = {} if first_step is None else {"first_step": first_step}
    sol = solve_ivp(rhs, (t0, t1), y0, method="BDF", t_eval=t_eval, rtol=rtol, atol=atol,
                    jac=jac, events=events, **kw)
    wall = time.monotonic() - wall0
    if sol.status == -1:   # SciPy's failure (e.g. rtol 1e-10: "Required step size is less than spacing")
        raise RuntimeError(f"SciPy BDF failed at rtol {rtol:g}: {sol.message}")
    if sol.status == 1:
        t_reached = sol.t_events[0][0]
    else:
        t_reached = t1
    n = sol.t.size
    fields = sol.y.T.reshape(n, N, 8).transpose(0, 2, 1).copy()   # (n_T, 8, N)
    L_nutau = 0.1875 * (fields[:, I0M] + fields[:, IZM])
    L = L0[None, :] + 2.0 * L_nutau
    s_over_a = ((fields[:, I0P] - fields[:, IZP]).mean(axis=1)
                / (fields[:, I0P] + fields[:, IZP]).mean(axis=1))
    return dict(T=T_eval[:n].copy(), t=sol.t, x=x, L0=L0, L=L, L_nutau=L_nutau,
                sterile_over_active=s_over_a, fields=fields,
                T_reached=float(rq.T_of_t(t_reached, g_star)), completed=(sol.status == 0),
                wall_s=wall, nfev=sol.nfev, njev=sol.njev, nlu=sol.nlu, message=sol.message)


def sign_changes(L):
    """Number of sign changes of L(x) around the periodic box (last axis)."""
    s = np.sign(L)
    return int(np.count_nonzero(s != np.roll(s, -1, axis=-1)))
