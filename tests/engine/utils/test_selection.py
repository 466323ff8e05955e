"""Selection keeps the lowest scores, ties by index; quotas; clustering."""
import numpy as np
import pytest

from ovseg_plugins.engine.utils import (group_quotas, select_lowest,
                                        spectral_clusters)


def test_lowest_scores_are_kept():
    rng = np.random.default_rng(0)
    s = rng.normal(size=50)
    sel = select_lowest(s, 0.2)
    assert sel.tolist() == sorted(np.argsort(s)[:10].tolist())
    assert select_lowest(s, 7).size == 7


def test_ties_are_broken_by_lower_index():
    s = np.array([1., 0., 0., 0., 0., 2., 0.])
    assert select_lowest(s, 3).tolist() == [1, 2, 3]
    assert select_lowest(s[::-1].copy(), 3).tolist() == [0, 2, 3]


def test_group_quotas_and_eligibility():
    s = np.arange(20, dtype=float)
    g = ['a'] * 15 + ['b'] * 5
    q = group_quotas(g, 8)
    assert q == {'a': 6, 'b': 2} and sum(q.values()) == 8
    sel = select_lowest(s, 8, groups=g)
    assert sel.tolist() == [0, 1, 2, 3, 4, 5, 15, 16]
    elig = np.ones(20, bool)
    elig[0] = False
    assert 0 not in select_lowest(s, 3, eligible=elig)
    with pytest.raises(ValueError, match='NaN'):
        select_lowest([0., np.nan], 1)


def test_spectral_clusters_recover_blobs():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 5
    x = np.concatenate([c + 0.1 * rng.normal(size=(30, 3)) for c in centres])
    lab, info = spectral_clusters(x, n_clusters=3, k=10, seed=0)
    assert info['n_clusters'] == 3 and sorted(info['sizes']) == [30, 30, 30]
    for b in range(3):
        assert len(set(lab[b * 30:(b + 1) * 30].tolist())) == 1
    lab2, _ = spectral_clusters(x, n_clusters=3, k=10, seed=0)
    assert (lab == lab2).all()
