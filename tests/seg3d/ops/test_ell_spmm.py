"""The compiled ELL product (K neighbours per row) against a dense
reference, its cache and its fallback."""
import pytest
import torch

from ovseg_plugins.seg3d.ops import ell_spmm as mod


@pytest.fixture
def fresh_kernel(tmp_path, monkeypatch):
    """A kernel built into a temporary cache (module state restored)."""
    monkeypatch.setenv('OVSEG_CACHE_DIR', str(tmp_path))
    monkeypatch.delenv('OVSEG_PLUGINS_NO_CC', raising=False)
    monkeypatch.setattr(mod, '_LIB', None)
    monkeypatch.setattr(mod, '_TRIED', False)
    return tmp_path


def _problem(N=300, K=13, C=37, seed=0):
    g = torch.Generator().manual_seed(seed)
    nbr = torch.stack([torch.randperm(N, generator=g)[:K] for _ in range(N)])
    w = torch.softmax(torch.randn(N, K, generator=g), 1)
    x = torch.randn(N, C, generator=g)
    dense = torch.zeros(N, N)
    dense[torch.arange(N)[:, None], nbr] = w
    return nbr, w, x, dense


def test_equals_dense_products(fresh_kernel):
    if not mod.ell_spmm_available():
        pytest.skip('no C compiler on this machine: the CSR path is used')
    assert list(fresh_kernel.glob('ops/ell_spmm_*.so'))  # cached build
    nbr, w, x, dense = _problem()
    ref = x.double()
    for _ in range(5):
        ref = dense.double() @ ref
    out = mod.ell_spmm(nbr, w, x, iterations=5)
    torch.testing.assert_close(out, ref.float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mod.ell_spmm(nbr, w, x, 0), x)
    assert x.equal(_problem()[2])  # the input is not overwritten


def test_errors_and_fallback(fresh_kernel, monkeypatch):
    if mod.ell_spmm_available():
        nbr, w, x, _ = _problem(N=20, K=3, C=4)
        bad = nbr.clone()
        bad[0, 0] = 20
        with pytest.raises(ValueError, match='neighbour index out of range'):
            mod.ell_spmm(bad, w, x)
        with pytest.raises(ValueError, match=r'ell_spmm: nbr \(20, 3\), '
                           r'weights \(20, 2\)'):
            mod.ell_spmm(nbr, w[:, :2], x)
    monkeypatch.setenv('OVSEG_PLUGINS_NO_CC', '1')
    monkeypatch.setattr(mod, '_LIB', None)
    monkeypatch.setattr(mod, '_TRIED', False)
    assert not mod.ell_spmm_available()
    with pytest.raises(RuntimeError, match='no compiled kernel'):
        mod.ell_spmm(*_problem(N=5, K=2, C=2)[:3])
    # the pooling falls back to the CSR products: same values
    from ovseg_plugins.seg3d.models.decode_heads.geometry_guided_pooling \
        import geometry_guided_pooling
    nbr, w, x, _ = _problem()
    torch.testing.assert_close(
        geometry_guided_pooling(x, nbr, w, 4, fast=True),
        geometry_guided_pooling(x, nbr, w, 4, fast=False))
