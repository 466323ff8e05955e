"""Selection keeps the lowest scores, ties by index; quotas; clustering."""
import numpy as np
import pytest

from ovseg_plugins.coido.utils import (group_quotas, select_lowest,
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


def test_quotas_ignore_excluded_samples_and_fill_the_budget():
    # group 'b' (5 samples) is fully excluded: its slots must go to 'a'
    s = np.arange(20, dtype=float)[::-1].copy()
    g = ['a'] * 15 + ['b'] * 5
    elig = np.array([True] * 15 + [False] * 5)
    sel = select_lowest(s, 8, groups=g, eligible=elig)
    assert sel.size == 8 and set(sel.tolist()) <= set(range(15))
    assert sel.tolist() == list(range(7, 15))  # the 8 lowest of 'a'
    # more groups than slots: still exactly k, the lowest scores
    sel = select_lowest(np.arange(6.), 3, groups=list('abcdef'))
    assert sel.tolist() == [0, 1, 2]


def test_nearest_centroid_assigns_all_rows():
    from ovseg_plugins.coido.utils import nearest_centroid
    x_sub = np.array([[1., 0], [0.9, 0.1], [0, 1.], [0.1, 0.9]])
    lab = np.array([4, 4, 7, 7])
    x_all = np.array([[1., 0.2], [0.2, 1.], [0.6, 0.5], [-1, 3]])
    assert nearest_centroid(x_all, x_sub, lab).tolist() == [4, 7, 4, 7]


@pytest.mark.parametrize('n', [2, 3, 5, 20, 21])
def test_spectral_clusters_any_subset_size_caps_below_n(n):
    """Any subset of >= 2 samples clusters (scipy's eigen-solver needs
    fewer clusters than samples): M = min(20, n - 1), and the log says so
    when the request is capped."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 4))
    msgs = []
    lab, info = spectral_clusters(x, n_clusters=20, k=30, seed=0,
                                  log=msgs.append)
    m = min(20, n - 1)
    assert info['n_clusters'] == m and info['n_clusters_requested'] == 20
    assert lab.shape == (n, ) and lab.min() == 0 and lab.max() < m
    assert sum(info['sizes']) == n
    if m < 20:
        assert len(msgs) == 1 and f'capped at {m}' in msgs[0] and \
            f'subset size {n}' in msgs[0]
    else:
        assert msgs == []
    with pytest.raises(ValueError, match='>= 2 samples'):
        spectral_clusters(x[:1], 20)
