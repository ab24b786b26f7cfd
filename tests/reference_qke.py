"""Independent reference solver for the HOMOGENEOUS momentum-averaged QKE.

Written directly from the equations (docs/models/diffusion-qke.md §1–§3) and paper eq. 18
("mastereqs") with all diffusion terms dropped (single site).  numpy + scipy only;
it deliberately imports nothing from the project packages.

Units: natural units, everything in MeV; time t in MeV^-1; delta_m2 in eV^2 at the
API (multiplied by 1e-12 to get MeV^2).  State vector (8 fields, this order):
    P0p, P0m, Pxp, Pxm, Pyp, Pym, Pzp, Pzm      with  P_mu^(+-) = P_mu +- Pbar_mu.
Initial state: P0p = Pzp = 2, every other field 0 (all active, no sterile, no coherence).
Radiation domination with constant g*:  H = 1.66 sqrt(g*) T^2 / M_Pl,  t(T) = 1/(2 H(T)).
"""
import math
import time

import numpy as np
from scipy.integrate import solve_ivp

G_F = 1.1663787e-11           # MeV^-2
M_Z = 91187.6                 # MeV
M_PL = 1.22091e22             # MeV
ZETA3 = 1.2020569031595942
EV2_TO_MEV2 = 1e-12

FIELDS = ("P0p", "P0m", "Pxp", "Pxm", "Pyp", "Pym", "Pzp", "Pzm")
I0P, I0M, IXP, IXM, IYP, IYM, IZP, IZM = range(8)
PLUS = (I0P, IXP, IYP, IZP)
MINUS = (I0M, IXM, IYM, IZM)

# Absolute tolerances (per component; rtol defaults to 1e-10).
#  plus fields: P0p, Pzp ~ 2, coherences Pxp, Pyp ~ 1e-4..1e-1; atol 1e-14 sits well below
#    rtol*|P| and below any sterile fraction of interest.
#  minus fields: carry the asymmetry.  L ~ 1e-10 at the start and is driven down to ~2e-18
#    just above T_res (deck B); L = L0 + (3/8) Pzm with |Pzm| ~ 2.7e-10, so rtol*|Pzm|
#    ~ 3e-20 already bounds the local error of Pzm, and Pym (the source of Pzm) is ~1e-18
#    there.  atol 1e-20 resolves both.  Measured (deck B, 31.94 -> 15.95 MeV): 1e-22 changes
#    L by < 3e-6 relative but is ~10x slower (Newton thrashes at the round-off floor of
#    Pym); 1e-14 / 1e-18 / 1e-20 give the same L to ~1e-5 relative.
ATOL_PLUS = 1e-14
ATOL_MINUS = 1e-20


def hubble(T, g_star=10.75):
    """Hubble rate H [MeV] at temperature T [MeV]."""
    return 1.66 * np.sqrt(g_star) * T ** 2 / M_PL


def t_of_T(T, g_star=10.75):
    """Cosmic time t [MeV^-1] = 1/(2 H(T)) (radiation domination, constant g*)."""
    return 1.0 / (2.0 * hubble(T, g_star))


def T_of_t(t, g_star=10.75):
    """Inverse of t_of_T: T [MeV] at time t [MeV^-1]."""
    return np.sqrt(M_PL / (2.0 * 1.66 * np.sqrt(g_star) * t))


def T_res(delta_m2_eV2, sin2_2theta):
    """Resonance temperature [MeV], paper eq. 21: 15.97 (|dm2| cos 2theta / eV^2)^(1/6)."""
    cos2t = np.sqrt(1.0 - sin2_2theta)
    return 15.97 * (abs(delta_m2_eV2) * cos2t) ** (1.0 / 6.0)


def initial_state():
    """Initial 8-vector: P0p = Pzp = 2, the rest 0."""
    y = np.zeros(8)
    y[I0P] = y[IZP] = 2.0
    return y


def make_rhs(delta_m2_eV2, sin2_2theta, L0, g_star=10.75, mean_p_over_T=3.15):
    """Return (rhs(t, y), jac(t, y)) for the homogeneous QKE, t in MeV^-1.

    Scalar arithmetic is done on Python floats (math) for speed; same formulas as the spec.
    """
    dm2 = delta_m2_eV2 * EV2_TO_MEV2                      # MeV^2
    s2t = math.sqrt(sin2_2theta)
    c2t = math.sqrt(1.0 - sin2_2theta)                    # theta < pi/4
    L0 = float(L0)
    t_coef = M_PL / (2.0 * 1.66 * math.sqrt(g_star))      # T^2 = t_coef / t

    def coeffs(t):
        T = math.sqrt(t_coef / t)                         # MeV
        p = mean_p_over_T * T                             # <p> [MeV]
        n_gamma = 2.0 * ZETA3 * T ** 3 / math.pi ** 2     # MeV^3
        vx = dm2 / (2.0 * p) * s2t
        v0 = -dm2 / (2.0 * p) * c2t - 17.8 * G_F * n_gamma * p * T / (2.0 * M_Z ** 2)
        kl = math.sqrt(2.0) * G_F * n_gamma               # V_L = kl * L
        d = 1.4 * G_F ** 2 * T ** 5                       # damping D
        gam = 0.32 * G_F ** 2 * T ** 5                    # Gamma_tautau
        return vx, v0, kl, d, gam

    def rhs(t, y):
        vx, v0, kl, d, gam = coeffs(t)
        p0p, p0m, pxp, pxm, pyp, pym, pzp, pzm = y.tolist()
        vl = kl * (L0 + 0.375 * (p0m + pzm))              # L = L0 + 2 L_nutau
        sp, sm = p0p + pzp, p0m + pzm
        c2 = 2.0 * gam * (1.0 - (sp * sp - sm * sm) / 16.0)   # 2C
        return np.array([
            c2,                                           # dP0p
            0.0,                                          # dP0m
            -v0 * pyp - vl * pym - d * pxp,               # dPxp
            -v0 * pym - vl * pyp - d * pxm,               # dPxm
            v0 * pxp + vl * pxm - d * pyp - vx * pzp,     # dPyp
            v0 * pxm + vl * pxp - d * pym - vx * pzm,     # dPym
            vx * pyp + c2,                                # dPzp
            vx * pym])                                    # dPzm

    def jac(t, y):
        vx, v0, kl, d, gam = coeffs(t)
        p0p, p0m, pxp, pxm, pyp, pym, pzp, pzm = y.tolist()
        vl = kl * (L0 + 0.375 * (p0m + pzm))
        dvl = 0.375 * kl                                  # dV_L/dP0m = dV_L/dPzm
        a = -gam * (p0p + pzp) / 4.0                      # d(2C)/dP0p = d(2C)/dPzp
        b = gam * (p0m + pzm) / 4.0                       # d(2C)/dP0m = d(2C)/dPzm
        #     P0p P0m        Pxp  Pxm  Pyp  Pym  Pzp  Pzm
        return np.array([
            [a, b, 0.0, 0.0, 0.0, 0.0, a, b],
            [0.0] * 8,
            [0.0, -dvl * pym, -d, 0.0, -v0, -vl, 0.0, -dvl * pym],
            [0.0, -dvl * pyp, 0.0, -d, -vl, -v0, 0.0, -dvl * pyp],
            [0.0, dvl * pxm, v0, vl, -d, 0.0, -vx, dvl * pxm],
            [0.0, dvl * pxp, vl, v0, 0.0, -d, 0.0, dvl * pxp - vx],
            [a, b, 0.0, 0.0, vx, 0.0, a, b],
            [0.0, 0.0, 0.0, 0.0, 0.0, vx, 0.0, 0.0]])

    return rhs, jac


def default_atol():
    """Per-component atol array (see ATOL_PLUS / ATOL_MINUS)."""
    a = np.empty(8)
    a[list(PLUS)] = ATOL_PLUS
    a[list(MINUS)] = ATOL_MINUS
    return a


def solve_reference(delta_m2_eV2, sin2_2theta, L0, T_start, T_end, T_eval,
                    rtol=1e-10, atol=None, g_star=10.75, mean_p_over_T=3.15,
                    max_wall_s=None):
    """Integrate the homogeneous QKE from T_start down to T_end [MeV] with Radau.

    T_eval: temperatures [MeV], descending, inside [T_end, T_start].  atol: scalar or
    8-array; default default_atol().  max_wall_s: if given, stop once this many wall
    seconds have passed and return only the T_eval points reached.

    Returns dict: T [MeV], t [MeV^-1], L, L_nutau, sterile_over_active
    (= (P0p-Pzp)/(P0p+Pzp)), fields (8, n) in FIELDS order, plus T_reached (lowest T
    integrated to [MeV]), completed (bool), wall_s, nfev, njev, nlu, message.
    Note: rtol much below 1e-10 with these atol makes Radau thrash at the round-off floor
    (deck A at rtol=1e-11 is ~40x slower than at 1e-10, whose result matches 1e-9 to 1e-14).
    """
    T_eval = np.asarray(T_eval, dtype=float)
    if np.any(np.diff(T_eval) > 0):
        raise ValueError("T_eval must be descending")
    if T_eval.size and (T_eval[0] > T_start or T_eval[-1] < T_end):
        raise ValueError("T_eval must lie inside [T_end, T_start]")
    atol = default_atol() if atol is None else atol
    rhs, jac = make_rhs(delta_m2_eV2, sin2_2theta, L0, g_star, mean_p_over_T)
    t0, t1 = t_of_T(T_start, g_star), t_of_T(T_end, g_star)
    t_eval = np.clip(t_of_T(T_eval, g_star), t0, t1)
    wall0 = time.monotonic()
    events = None
    if max_wall_s is not None:
        # Wall-clock stop as a terminal event.  The event must be a function of t for
        # scipy's root finder, so when the time is up we latch a stopping time halfway
        # into the step just taken and return (t_latch - t) from then on.  The trajectory
        # is therefore identical to a run without max_wall_s up to the stop.
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
    sol = solve_ivp(rhs, (t0, t1), initial_state(), method="Radau", t_eval=t_eval,
                    rtol=rtol, atol=atol, jac=jac, events=events)
    wall = time.monotonic() - wall0
    y = sol.y
    if sol.status == 1:                                   # stopped by the wall clock
        t_reached = sol.t_events[0][0]
    elif sol.status == 0:
        t_reached = t1
    else:                                                 # solver failure: last output
        t_reached = sol.t[-1] if sol.t.size else t0
    L_nutau = 0.1875 * (y[I0M] + y[IZM])
    return dict(T=T_eval[:sol.t.size].copy(), t=sol.t, L=L0 + 2.0 * L_nutau, L_nutau=L_nutau,
                sterile_over_active=(y[I0P] - y[IZP]) / (y[I0P] + y[IZP]), fields=y,
                T_reached=float(T_of_t(t_reached, g_star)),
                completed=(sol.status == 0), wall_s=wall, nfev=sol.nfev,
                njev=sol.njev, nlu=sol.nlu, message=sol.message)
