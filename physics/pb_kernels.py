"""Compiled loops of the Pauli–Boltzmann model (physics.pb), one pass over the momentum grid each.

Why compiled (Numba): the PB state is small (2–3 fields × a few thousand momentum points) and
Rodas4 evaluates the right-hand side six times per step, so with NumPy the cost was the
hundreds of array calls per step (each a few µs on arrays this short), not the arithmetic. One
loop per operation does the same arithmetic in a fraction of that (timings:
docs/results/pauli-boltzmann.md, "Cost of a run"). The loops are plain IEEE double arithmetic
(no fastmath), compiled on first use and cached on disk.

Notation (pb_rates.ChannelRates): per channel a and point j, the rate of ν (row 0) and ν̄ (row 1)
is ½Γ = half_factor · amp/D with D = u² + d2 + s2/T¹², u = ∓vt·L^(a)/T² + xt + c/T⁶ (− for ν),
half_factor = 1/(2T⁷), or with cell-averaged rates (`cell`) 1/D replaced by its mean over the
point's cell in ln y of half width hc (`_cell_mean_inv`); the gaps are (z_a − z_s, z̄_a − z̄_s) =
(1 − z⁺) ± (ξ_a h − z⁻) with z⁻ = Σ_b z⁻_b and ξ_a h = h·L_νa (ξ = 0 with constant L).
Arrays: y (1 + r, n_y) field-major; per-channel parameters stacked as (r, n_y) arrays and (r,)
scalars.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _z_minus(y):
    """z⁻ = Σ_b z⁻_b per point, (n_y,)."""
    z_minus = y[1].copy()
    for b in range(2, y.shape[0]):
        z_minus += y[b]
    return z_minus


@njit(cache=True, error_model="numpy")
def asymmetries(y, L_in, Q, eta, M, dynamic):
    """(L_νa, L^(a)) per channel [per photon]: L_νa = L_νa(T_start) − Σ_j Q_j z⁻_a(y_j) and
    L^(a) = η + Σ_b M_ab L_νb (with L_νb frozen at L_in when not dynamic)."""
    r = L_in.shape[0]
    L_nu = L_in.copy()
    for a in range(r):
        L_nu[a] -= np.dot(y[1 + a], Q)
    L_pot = np.full(r, eta)
    for a in range(r):
        for b in range(r):
            L_pot[a] += M[a, b] * (L_nu[b] if dynamic else L_in[b])
    return L_nu, L_pot


@njit(cache=True, error_model="numpy")
def _scaled(y, c, s2, L_in, Q, eta, M, dynamic, T):
    """What both loops need at (T, y): half_factor = 1/(2T⁷), per channel c/T⁶, L^(a)/T², s²/T¹²
    and ξ_a (L_νa, or 0 with constant L), and z⁻ per point."""
    T2 = T * T
    T6 = T2 * T2 * T2
    L_nu, L_pot = asymmetries(y, L_in, Q, eta, M, dynamic)
    xi = L_nu if dynamic else np.zeros_like(L_nu)
    return 0.5 / (T6 * T), c / T6, L_pot / T2, s2 / (T6 * T6), xi, _z_minus(y)


@njit(cache=True, error_model="numpy", inline="always")
def _cell_mean_inv(u, p, W2):
    """g = mean of 1/((u + v)² + W²) over v ∈ [−p, p]: the Lorentzian 1/D averaged over a momentum
    cell across which u changes linearly by ±p (p = 0: the point value 1/(u² + W²)).

    g = atan2(2pW, X)/(2pW), X = W² + u² − p² (the difference of the two arctangents at the cell
    edges, on the right branch when the resonance lies inside the cell, X < 0). Away from the
    resonance, t² = (2pW/X)² < 1e-3, the series atan(t)/(tX) = (1 − t²/3 + t⁴/5 − t⁶/7 + t⁸/9)/X
    (truncation < t¹⁰/11 ≈ 1e-16) needs neither the square root nor the arctangent."""
    g = _cell_mean_series(u, p, W2)
    if g == g:
        return g
    num = 2.0 * p * np.sqrt(W2)
    return np.arctan2(num, W2 + u * u - p * p) / num


@njit(cache=True, error_model="numpy", inline="always")
def _cell_mean_series(u, p, W2):
    """`_cell_mean_inv` by its series where X > 0 and t² < 1e-3, else NaN: no call and no
    branch, so a loop of it vectorises (`_cell_means`)."""
    X = W2 + u * u - p * p
    t2 = 4.0 * p * p * W2 / (X * X)
    g = (1.0 - t2 * (1.0 / 3.0 - t2 * (0.2 - t2 * (1.0 / 7.0 - t2 / 9.0)))) / X
    return g if (X > 0.0) & (t2 < 1e-3) else np.nan


@njit(cache=True, error_model="numpy", inline="always")
def _resonance(xt, vt, hc, c_T6, L_T2):
    """(u, ū, p, p̄) at one point: the resonance variable of ν and ν̄ and its change across the
    point's cell (`_point`)."""
    base = xt + c_T6
    return (base - vt * L_T2, base + vt * L_T2, hc * (2.0 * xt - vt * L_T2),
            hc * (2.0 * xt + vt * L_T2))


@njit(cache=True, error_model="numpy")
def _cell_means(d2, xt, vt, hc, c_T6, L_T2, s2_T12):
    """(g, ḡ) = `_cell_mean_inv` at every point of one channel in two passes: the series
    everywhere (a loop the compiler vectorises), then the arctangent at the few points near the
    resonance where the series does not hold."""
    ny = d2.shape[0]
    g, gb = np.empty(ny), np.empty(ny)
    for j in range(ny):
        u, ub, p, pb = _resonance(xt[j], vt[j], hc[j], c_T6, L_T2)
        W2 = d2[j] + s2_T12
        g[j] = _cell_mean_series(u, p, W2)
        gb[j] = _cell_mean_series(ub, pb, W2)
    for j in range(ny):
        if g[j] != g[j] or gb[j] != gb[j]:
            u, ub, p, pb = _resonance(xt[j], vt[j], hc[j], c_T6, L_T2)
            W2 = d2[j] + s2_T12
            g[j] = _cell_mean_inv(u, p, W2)
            gb[j] = _cell_mean_inv(ub, pb, W2)
    return g, gb


@njit(cache=True, error_model="numpy", inline="always")
def _cell_mean_inv_derivs(u, p, W2, g):
    """(∂g/∂u, ∂g/∂p, ∂g/∂W²) of g = `_cell_mean_inv`(u, p, W2), in forms without cancellation:
    ∂g/∂u = −2u/(D₊D₋), ∂g/∂W² = −[(W² − u² + p²)/(D₊D₋) + g]/(2W²) and ∂g/∂p = [(1/D₊ +
    1/D₋)/2 − g]/p (its series (p/3)(6u² − 2W²)/D₀³ for small p), D± = (u ± p)² + W²."""
    Dp = (u + p) * (u + p) + W2
    Dm = (u - p) * (u - p) + W2
    DpDm = Dp * Dm
    g_u = -2.0 * u / DpDm
    g_W = -((W2 - u * u + p * p) / DpDm + g) / (2.0 * W2)
    D0 = u * u + W2
    if p * p < 1e-4 * D0:
        g_p = p / 3.0 * (6.0 * u * u - 2.0 * W2) / (D0 * D0 * D0)
    else:
        g_p = (0.5 * (1.0 / Dp + 1.0 / Dm) - g) / p
    return g_u, g_p, g_W


@njit(cache=True, error_model="numpy", inline="always")
def _point(amp, d2, xt, vt, hc, h, z_plus, z_minus, c_T6, L_T2, s2_T12, xi, half_factor, cell, g_cell,
           gb_cell):
    """At one point of one channel, from its values there: (u, ū, p, p̄, W², g, ḡ, ½Γ, ½Γ̄,
    z_a − z_s, z̄_a − z̄_s), with g = 1/D at the point, or with `cell` its mean over the point's
    cell, g_cell and ḡ_cell from `_cell_means`, across which u changes by ±p, p = hc·du/d ln y =
    hc·(2 xt ∓ vt·L/T²).
    `cell` is the same for every point, so the compiler keeps a branch-free (vectorised) loop for
    point rates, whose arithmetic is that of the code before cell rates existed (bit for bit)."""
    u, ub, p, pb = _resonance(xt, vt, hc, c_T6, L_T2)
    W2 = d2 + s2_T12
    if cell:
        g, gb = g_cell, gb_cell
        R, Rb = half_factor * amp * g, half_factor * amp * gb
    else:
        D = u * u + d2 + s2_T12
        Db = ub * ub + d2 + s2_T12
        g, gb = 1.0 / D, 1.0 / Db
        R, Rb = half_factor * amp / D, half_factor * amp / Db
    B = h * xi - z_minus
    one_minus = 1.0 - z_plus
    return u, ub, p, pb, W2, g, gb, R, Rb, one_minus + B, one_minus - B


@njit(cache=True, error_model="numpy", inline="always")
def _rhs_at(j, first, amp, d2, xt, vt, hc, h, z_plus, z_minus, c_T6, L_T2, s2_T12, xi, half_factor, cell,
            g, gb, minus, plus):
    """Point j of one channel's loop in `rhs` (first: the first channel, which sets dz⁺/dt)."""
    R, Rb, gap, gapb = _point(amp[j], d2[j], xt[j], vt[j], hc[j], h[j], z_plus[j], z_minus[j],
                              c_T6, L_T2, s2_T12, xi, half_factor, cell, g, gb)[7:]
    F, Fb = R * gap, Rb * gapb
    minus[j] = F - Fb
    if first:
        plus[j] = F + Fb
    else:
        plus[j] += F + Fb


@njit(cache=True, error_model="numpy")
def rhs(y, amp, d2, xt, vt, hc, c, s2, h, L_in, Q, eta, M, dynamic, cell, T, out):
    """dy/dt [MeV] into out: per channel F = Γ(z_a − z_s), F̄ = Γ̄(z̄_a − z̄_s);
    dz⁺/dt = Σ_a ½(F + F̄), dz⁻_a/dt = ½(F − F̄). T [MeV]; L_in, Q, eta, M, dynamic: see
    `asymmetries`; cell: cell-averaged rates (`_point`).

    Channels in the outer loop, points in the inner one (which the compiler vectorises; with
    cell rates after the cell means, `_cell_means`)."""
    r, ny = amp.shape
    half_factor, c_T6, L_T2, s2_T12, xi, z_minus = _scaled(y, c, s2, L_in, Q, eta, M, dynamic, T)
    z_plus, plus = y[0], out[0]
    for a in range(r):
        amp_a, d2_a, xt_a, vt_a, hc_a, minus_a = amp[a], d2[a], xt[a], vt[a], hc[a], out[1 + a]
        c_T6_a, L_T2_a, s2_T12_a, xi_a, first = c_T6[a], L_T2[a], s2_T12[a], xi[a], a == 0
        if cell:    # two loops, so that the point-rate one stays free of the cell means (vectorised)
            g, gb = _cell_means(d2_a, xt_a, vt_a, hc_a, c_T6_a, L_T2_a, s2_T12_a)
            for j in range(ny):
                _rhs_at(j, first, amp_a, d2_a, xt_a, vt_a, hc_a, h, z_plus, z_minus, c_T6_a, L_T2_a,
                        s2_T12_a, xi_a, half_factor, True, g[j], gb[j], minus_a, plus)
        else:
            for j in range(ny):
                _rhs_at(j, first, amp_a, d2_a, xt_a, vt_a, hc_a, h, z_plus, z_minus, c_T6_a, L_T2_a,
                        s2_T12_a, xi_a, half_factor, False, 0.0, 0.0, minus_a, plus)
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _rate_derivs(u, p, W2, g, R, scale, v, L_T2, xt, hc, d2, s2_T12, minus_two_T2, cell):
    """(T ∂(½Γ)/∂T, ∂(½Γ)/∂L^(a)) at one point (v = ∓vt for ν, ν̄; minus_two_T2 = −2/T²).

    Point rates, ½Γ = scale/D: (½Γ)[5 − (12 d2 + 2u(4 v L/T² + 6 xt))/D] and −2(½Γ) u v/(T² D).
    Cell rates, ½Γ = scale·g (scale = amp/(2T⁷), T ∂scale/∂T = −7 scale): g depends on T through
    u (T ∂u/∂T = −6u + 6 xt + 4 v L/T²), p (T ∂p/∂T = −2 hc v L/T²) and W² (T ∂W²/∂T =
    −12 s²/T¹²), and on L through u and p (∂u/∂L = v/T², ∂p/∂L = hc v/T²)."""
    if not cell:
        D = u * u + d2 + s2_T12
        dT = (5.0 - (12.0 * d2 + 2.0 * u * (v * (4.0 * L_T2) + 6.0 * xt)) / D) * R
        return dT, minus_two_T2 * R * v * u / D
    g_u, g_p, g_W = _cell_mean_inv_derivs(u, p, W2, g)
    vL = v * L_T2
    dT = -7.0 * R + scale * (g_u * (6.0 * (xt - u) + 4.0 * vL) - 2.0 * hc * vL * g_p - 12.0 * s2_T12 * g_W)
    return dT, -0.5 * minus_two_T2 * scale * (g_u + hc * g_p) * v


@njit(cache=True, error_model="numpy")
def linearisation(y, amp, d2, xt, vt, hc, c, s2, h, L_in, Q, eta, M, dynamic, cell, T, minus_H, G, Gb, U, dfdt):
    """The Jacobian's parts and ∂f/∂t at (T, y).

    Into G, Gb (r, n_y): Γ_as, Γ̄_as [MeV]. Into U (r, 1 + r, n_y) when dynamic: U_b = ∂f/∂L_νb
    = Σ_a M_ab ∂f/∂L^(a) + ∂f/∂ξ_b κ, with ∂(½Γ)/∂L^(a) from `_rate_derivs` (point rates:
    −2(½Γ) u v/(T² D), v = ∓vt) and ∂f/∂ξ_b κ = ½h(Γ_b − Γ̄_b) on z⁺, ½h(Γ_b + Γ̄_b) on
    z⁻_b. Into dfdt (1 + r, n_y): ∂f/∂t = −H T ∂f/∂T [MeV²] (for point rates T ∂(½Γ)/∂T =
    (½Γ)[5 − (12 d2 + 2u(6 xt + 4 v L/T²))/D]); minus_H = −H(T) [MeV]. L_in, Q, eta, M,
    dynamic: see `asymmetries`.
    """
    r, ny = amp.shape
    half_factor, c_T6, L_T2, s2_T12, xi, z_minus = _scaled(y, c, s2, L_in, Q, eta, M, dynamic, T)
    minus_two_T2 = -2.0 / (T * T)
    dL_plus = np.empty((r, ny))     # ∂(dz⁺/dt)/∂L^(a) and ∂(dz⁻_a/dt)/∂L^(a) per channel
    dL_minus = np.empty((r, ny))
    for a in range(r):
        amp_a, d2_a, xt_a, vt_a, hc_a, z_plus = amp[a], d2[a], xt[a], vt[a], hc[a], y[0]
        c_T6_a, L_T2_a, s2_T12_a, xi_a = c_T6[a], L_T2[a], s2_T12[a], xi[a]
        # the cell means; point rates do not read them (d2_a only stands in for their type)
        g_a, gb_a = _cell_means(d2_a, xt_a, vt_a, hc_a, c_T6_a, L_T2_a, s2_T12_a) if cell else (d2_a, d2_a)
        for j in range(ny):
            u, ub, p, pb, W2, g, gb, R, Rb, gap, gapb = _point(
                amp_a[j], d2_a[j], xt_a[j], vt_a[j], hc_a[j], h[j], z_plus[j], z_minus[j],
                c_T6_a, L_T2_a, s2_T12_a, xi_a, half_factor, cell, g_a[j], gb_a[j])
            G[a, j], Gb[a, j] = 2.0 * R, 2.0 * Rb
            scale = half_factor * amp_a[j]
            dT, dR = _rate_derivs(u, p, W2, g, R, scale, -vt_a[j], L_T2_a, xt_a[j], hc_a[j], d2_a[j],
                                  s2_T12_a, minus_two_T2, cell)
            dTb, dRb = _rate_derivs(ub, pb, W2, gb, Rb, scale, vt_a[j], L_T2_a, xt_a[j], hc_a[j], d2_a[j],
                                    s2_T12_a, minus_two_T2, cell)
            dfdt[1 + a, j] = minus_H * (dT * gap - dTb * gapb)
            if a == 0:
                dfdt[0, j] = minus_H * (dT * gap + dTb * gapb)
            else:
                dfdt[0, j] += minus_H * (dT * gap + dTb * gapb)
            dL_plus[a, j] = dR * gap + dRb * gapb
            dL_minus[a, j] = dR * gap - dRb * gapb
    if not dynamic:
        return
    for b in range(r):
        for j in range(ny):
            U[b, 0, j] = h[j] * 0.5 * (G[b, j] - Gb[b, j])
            U[b, 1 + b, j] = h[j] * 0.5 * (G[b, j] + Gb[b, j])
        for a in range(r):
            for j in range(ny):
                U[b, 0, j] += M[a, b] * dL_plus[a, j]
                if a == b:
                    U[b, 1 + a, j] += M[a, b] * dL_minus[a, j]
                else:
                    U[b, 1 + a, j] = M[a, b] * dL_minus[a, j]


@njit(cache=True, error_model="numpy")
def block_solve(G, Gb, sigma, v, out):
    """x = (σ − blocks)⁻¹ v per momentum point into out (1 + r, n_y), r = 1 or 2 (PBJacobian).

    The 2×2 system of (x⁺, x⁻ = Σ x⁻_b) has determinant (σ + ΣΓ)(σ + ΣΓ̄); with two channels the
    undamped difference mode m/σ, m = S_τ v_μ − S_μ v_τ + x⁺(S_μ D_τ − D_μ S_τ), is formed
    without the cancellation of (v_a − S_a x⁻)/σ when Γ ≫ σ (S = ½(Γ + Γ̄), D = ½(Γ − Γ̄)).
    """
    r, ny = G.shape
    for j in range(ny):
        sG, sGb = 0.0, 0.0
        for a in range(r):
            sG += G[a, j]
            sGb += Gb[a, j]
        a_ = sigma + sG
        b_ = sigma + sGb
        rdet = 1.0 / (a_ * b_)
        P = 0.5 * (a_ + b_) * rdet          # (σ + ΣS)/det
        Q = 0.5 * (sG - sGb) * rdet         # ΣD/det
        if r == 1:
            out[0, j] = P * v[0, j] - Q * v[1, j]
            out[1, j] = P * v[1, j] - Q * v[0, j]
        else:
            x0 = P * v[0, j] - Q * (v[1, j] + v[2, j])
            S0, S1 = 0.5 * (G[0, j] + Gb[0, j]), 0.5 * (G[1, j] + Gb[1, j])
            D0, D1 = 0.5 * (G[0, j] - Gb[0, j]), 0.5 * (G[1, j] - Gb[1, j])
            inv_sum = 1.0 / (sigma + S0 + S1)
            m = (S1 * v[1, j] - S0 * v[2, j] + (S0 * D1 - D0 * S1) * x0) / sigma
            out[0, j] = x0
            out[1, j] = (v[1, j] - D0 * x0 + m) * inv_sum
            out[2, j] = (v[2, j] - D1 * x0 - m) * inv_sum
    return out


@njit(cache=True, error_model="numpy")
def woodbury_factors(G, Gb, sigma, U, Q):
    """For (σ − J)⁻¹ with J = blocks + Σ_k U_k V_kᵀ, V_k = −Q on field z⁻_k: Z_k = (σ − blocks)⁻¹ U_k
    (r, 1 + r, n_y) and the inverse of the capacitance matrix S = 1 − VᵀZ (r × r, r ≤ 2)."""
    r = G.shape[0]
    Z = np.empty_like(U)
    for k in range(r):
        block_solve(G, Gb, sigma, U[k], Z[k])
    S = np.eye(r)
    for k in range(r):
        for l in range(r):
            S[k, l] += np.dot(Q, Z[l, 1 + k])
    S_inv = np.empty((r, r))
    if r == 1:
        S_inv[0, 0] = 1.0 / S[0, 0]
    else:
        det = S[0, 0] * S[1, 1] - S[0, 1] * S[1, 0]
        S_inv[0, 0], S_inv[1, 1] = S[1, 1] / det, S[0, 0] / det
        S_inv[0, 1], S_inv[1, 0] = -S[0, 1] / det, -S[1, 0] / det
    return Z, S_inv


@njit(cache=True, error_model="numpy")
def coupled_solve(G, Gb, sigma, v, Q, Z, S_inv, out):
    """x = (σ − J)⁻¹ v into out by the Woodbury identity: x = B⁻¹v + Z S⁻¹ (−Vᵀ B⁻¹v), B the blocks
    (Z, S_inv from `woodbury_factors`)."""
    r = G.shape[0]
    block_solve(G, Gb, sigma, v, out)
    w = np.empty(r)
    for k in range(r):
        w[k] = -np.dot(Q, out[1 + k])
    for l in range(r):
        coef = 0.0
        for k in range(r):
            coef += S_inv[l, k] * w[k]
        out += coef * Z[l]
    return out


@njit(cache=True, error_model="numpy")
def error_parts(err, y, y_new, weight_plus, weight, Q):
    """For PBErrorNorm: per field the largest weighted |err| (weight_plus on z⁺, weight on z⁻_a)
    and the largest max(|y|, |y_new|), and per channel the error of L_νa, Σ_j err[1+a, j] Q_j.
    A NaN in err gives a NaN (the step is then rejected)."""
    n, ny = err.shape
    worst = np.zeros(n)
    big = np.zeros(n)
    dL = np.zeros(n - 1)
    for f in range(n):
        w = weight_plus if f == 0 else weight
        e_f, big_f, dL_f, nan = 0.0, 0.0, 0.0, False
        for j in range(ny):
            e_f = max(e_f, abs(err[f, j]) * w[j])
            big_f = max(big_f, max(abs(y[f, j]), abs(y_new[f, j])))
            dL_f += err[f, j] * Q[j]
            nan |= err[f, j] != err[f, j]
        worst[f] = np.nan if nan else e_f
        big[f] = big_f
        if f > 0:
            dL[f - 1] = dL_f
    return worst, big, dL
