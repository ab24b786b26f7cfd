"""The background of the BFV model in the neutrino temperature T_ν (∝ 1/a exactly).

Units: T [MeV], t [MeV⁻¹], H [MeV]. T_γ(T_ν) from entropy conservation of γ + e±
((2 + g_s,e(T_γ)) T_γ³ = (11/2) T_ν³, g_s,e → 7/2 for m_e ≪ T), ρ = ρ_γ + ρ_e± + 3 flavours of
ν ν̄ at T_ν (ν_s left out of H, as the paper does: note §6), H = √(8πρ/3)/M_P, dT_ν/dt = −H T_ν
and t = 1/(2H) at the table's top (100 MeV, g* = 10.75). Tables are log-spaced; t ↔ T_ν are
piecewise-linear in (ln T_ν, ln t) both ways, so `temperature` inverts `time` exactly.
"""

from __future__ import annotations

import math

import numpy as np

from lattice.model import Cosmology
from physics import constants as c

M_E = 0.51099895
"""Electron mass [MeV]."""


def electron_thermo(T_gamma):
    """(ρ, P) of e± (4 states, μ = 0) at T_γ [MeV] → [MeV⁴], by quadrature in u = p/T."""
    u = np.linspace(0.0, 40.0, 1601)[None, :]
    x = (M_E / np.atleast_1d(T_gamma))[:, None]
    E = np.sqrt(u * u + x * x)
    f = 1.0 / (np.exp(E) + 1.0)
    T4 = np.atleast_1d(T_gamma) ** 4
    rho = 4.0 / (2 * math.pi ** 2) * np.trapezoid(u * u * E * f, u, axis=1) * T4
    P = 4.0 / (6 * math.pi ** 2) * np.trapezoid(u ** 4 / np.where(E > 0, E, 1.0) * f, u, axis=1) * T4
    return rho, P


class NeutrinoClock(Cosmology):
    """H(T_ν), t(T_ν), T_ν(t) and T_γ(T_ν), tabulated once (T_ν from 5e-3 to 100 MeV)."""

    def __init__(self, n_table: int = 2500):
        T_g = np.geomspace(4e-3, 130.0, n_table)
        rho_e, P_e = electron_thermo(T_g)
        g_s = 2.0 + (rho_e + P_e) / T_g / (2 * math.pi ** 2 / 45 * T_g ** 3)
        T_nu = T_g * (g_s / 5.5) ** (1.0 / 3.0)
        rho = math.pi ** 2 / 15 * T_g ** 4 + rho_e + 5.25 * math.pi ** 2 / 30 * T_nu ** 4
        H = np.sqrt(8 * math.pi * rho / 3.0) / c.M_PL
        self._lnTnu, self._lnTg, self._lnH = np.log(T_nu), np.log(T_g), np.log(H)
        # t(T_ν): dt = −d ln T_ν / H, from t = 1/(2H) at the top (trapezoid in ln T_ν)
        inv = 1.0 / H
        steps = 0.5 * (inv[1:] + inv[:-1]) * np.diff(self._lnTnu)
        t = np.empty_like(H)
        t[-1] = 0.5 * inv[-1]
        t[:-1] = t[-1] + np.cumsum(steps[::-1])[::-1]
        self._lnt = np.log(t)

    def hubble(self, T):
        """H [MeV] at T_ν [MeV]."""
        return np.exp(np.interp(np.log(T), self._lnTnu, self._lnH))

    def time(self, T):
        """t [MeV⁻¹] at T_ν [MeV]."""
        return np.exp(np.interp(np.log(T), self._lnTnu, self._lnt))

    def temperature(self, t):
        """T_ν [MeV] at t [MeV⁻¹] (the exact inverse of `time`)."""
        return np.exp(np.interp(np.log(t), self._lnt[::-1], self._lnTnu[::-1]))

    def T_gamma(self, T):
        """T_γ [MeV] at T_ν [MeV]."""
        return np.exp(np.interp(np.log(T), self._lnTnu, self._lnTg))


_CLOCK = []


def clock() -> NeutrinoClock:
    """The shared NeutrinoClock (built once per process)."""
    if not _CLOCK:
        _CLOCK.append(NeutrinoClock())
    return _CLOCK[0]
