"""LU factorisation with partial pivoting of one small dense matrix, and its solve (Numba).

Called inside compiled loops (the single-site Rodas4 loop, lattice.compiled_rodas; the
per-site preconditioner blocks of the implicit lattice, kernels.cpu_kernels), where a LAPACK
call per 8×8 matrix would cost more in overhead than in arithmetic. Plain IEEE arithmetic in a
fixed order: a matrix's factors do not depend on where it sits in an array. `register_jitable`:
compiled into each caller, on the host (`njit`) and on a GPU (`numba.cuda`) alike.
"""

from numba.extending import register_jitable


@register_jitable
def lu_factor(G, piv):
    """In-place LU factorisation of the square G with partial pivoting (row swaps in piv)."""
    n = G.shape[0]
    for k in range(n):
        best, p = abs(G[k, k]), k
        for i in range(k + 1, n):
            v = abs(G[i, k])
            if v > best:
                best, p = v, i
        piv[k] = p
        if p != k:
            for j in range(n):
                G[k, j], G[p, j] = G[p, j], G[k, j]
        inv = 1.0 / G[k, k]
        for i in range(k + 1, n):
            G[i, k] *= inv
            l_ik = G[i, k]
            if l_ik != 0.0:
                for j in range(k + 1, n):
                    G[i, j] -= l_ik * G[k, j]


@register_jitable
def lu_solve(LU, piv, b):
    """Solve LU x = P b in place in b (factors from lu_factor)."""
    n = LU.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            b[k], b[p] = b[p], b[k]
    for i in range(1, n):
        s = b[i]
        for j in range(i):
            s -= LU[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= LU[i, j] * b[j]
        b[i] = s / LU[i, i]
