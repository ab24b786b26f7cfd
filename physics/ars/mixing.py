"""The mixing matrix between the Yukawa basis (N_A, N_B, N_C) and the mass basis (N_1, N_2,
N_3), the CP-odd invariant J, and the layout of a Hermitian 3×3 matrix as 9 real fields
(docs/models/ars.md §2, §3). Everything here is dimensionless.
"""

from __future__ import annotations

import numpy as np

HERMITIAN_LAYOUT = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
"""Order of the independent entries: the three diagonal ones (real), then 12, 13, 23 (real
part, imaginary part each): X ↦ (X11, X22, X33, Re X12, Im X12, Re X13, Im X13, Re X23, Im X23)."""

FIELD_SUFFIXES = ("11", "22", "33", "12_re", "12_im", "13_re", "13_im", "23_re", "23_im")
"""Names of the 9 real fields of a Hermitian matrix, in HERMITIAN_LAYOUT's order."""


def pdg_matrix(theta12, theta13, theta23, delta):
    """U [3×3 complex], rows a = A, B, C (Yukawa basis), columns i = 1, 2, 3 (mass basis), in
    the standard PDG form with angles and the CP phase δ in radians: N_a = U_ai N_i."""
    s12, c12 = np.sin(theta12), np.cos(theta12)
    s13, c13 = np.sin(theta13), np.cos(theta13)
    s23, c23 = np.sin(theta23), np.cos(theta23)
    e = np.exp(1j * delta)
    return np.array([
        [c12 * c13, s12 * c13, s13 / e],
        [-s12 * c23 - c12 * s23 * s13 * e, c12 * c23 - s12 * s23 * s13 * e, s23 * c13],
        [s12 * s23 - c12 * c23 * s13 * e, -c12 * s23 - s12 * c23 * s13 * e, c23 * c13]])


def jarlskog(theta12, theta13, theta23, delta):
    """J = s12 c12 s13 c13² s23 c23 sin δ (angles in radians)."""
    return (np.sin(theta12) * np.cos(theta12) * np.sin(theta13) * np.cos(theta13) ** 2
            * np.sin(theta23) * np.cos(theta23) * np.sin(delta))


def to_mass_basis(U, diagonal):
    """U† diag(diagonal) U: a matrix diagonal in the Yukawa basis, seen in the mass basis."""
    return U.conj().T @ np.diag(diagonal) @ U


def cp_odd_product(Y):
    """Im(Y31 Y12 Y23) of a mass-basis matrix Y (the one rephasing-invariant CP-odd product)."""
    return float(np.imag(Y[2, 0] * Y[0, 1] * Y[1, 2]))


def pack(X):
    """The 9 real fields of the Hermitian matrix X (HERMITIAN_LAYOUT)."""
    out = [X[0, 0].real, X[1, 1].real, X[2, 2].real]
    for i, j in HERMITIAN_LAYOUT[3:]:
        out += [X[i, j].real, X[i, j].imag]
    return np.array(out, dtype=float)


def unpack(v):
    """The Hermitian 3×3 matrix of the 9 real fields v (HERMITIAN_LAYOUT)."""
    X = np.diag(np.asarray(v[:3], dtype=complex))
    for k, (i, j) in enumerate(HERMITIAN_LAYOUT[3:]):
        X[i, j] = v[3 + 2 * k] + 1j * v[4 + 2 * k]
        X[j, i] = np.conj(X[i, j])
    return X
