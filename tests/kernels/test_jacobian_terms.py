"""JacobianTerms.blocks: the per-site Jacobian added up from fixed patterns and per-site scalars,
whole blocks at a time on the host and for few sites, a row of blocks at a time for many sites
on a device (no n² temporary): the same products and sums, so the same bytes; and the sum of
the patterns as written."""

import numpy as np
import pytest

import kernels.jacobian_terms as jacobian_terms
from kernels.jacobian_terms import JacobianTerms


@pytest.mark.parametrize("sites", [1, 9000])
def test_blocks_are_the_same_bytes_whole_or_row_by_row(sites, monkeypatch, cupy):
    rng = np.random.default_rng(4)
    scalars = rng.normal(size=(7, sites))
    scalars[3, 0] = np.inf                   # inf · 0 = NaN in the zero entries, both ways
    terms = JacobianTerms(rng.normal(size=(8, 8)), rng.integers(-1, 2, (7, 8, 8)).astype(float), scalars)
    on_device = JacobianTerms(*(cupy.asarray(a) for a in terms))
    with np.errstate(invalid="ignore"):
        blocks = terms.blocks()                                     # the host: whole blocks
        assert cupy.asnumpy(on_device.blocks()).tobytes() == blocks.tobytes()
        monkeypatch.setattr(jacobian_terms, "ROW_BY_ROW_ABOVE", 0 if blocks.size <= 1 << 16 else 1 << 40)
        assert cupy.asnumpy(on_device.blocks()).tobytes() == blocks.tobytes()
    finite = np.isfinite(scalars).all(axis=0)
    expected = terms.uniform + np.einsum("ks,kij->sij", scalars[:, finite], terms.patterns)
    assert np.allclose(blocks[finite], expected, rtol=1e-15, atol=1e-14)
