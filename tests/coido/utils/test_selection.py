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


def test_robust_z_flags_only_the_high_outlier():
    from ovseg_plugins.coido.utils import noise_outliers, robust_z
    x = np.array([1., 1.1, 0.9, 1.05, 0.95, 1.0, 5.0, -3.0])
    out = noise_outliers(x, 3.5)
    assert out.tolist() == [False] * 6 + [True, False]  # one-sided
    assert np.all(robust_z(np.ones(5)) == 0)
    # MAD = 0 (most values equal): falls back to the mean abs. deviation
    z = robust_z(np.array([0.] * 9 + [1.]))
    assert np.isfinite(z).all() and z[-1] > 3.5 and z[0] == 0


def test_knn_label_inconsistency_finds_a_permuted_label():
    import torch

    from ovseg_plugins.coido.utils import knn_label_inconsistency
    rng = np.random.default_rng(0)
    # 3 visual groups of 10 images; each group has its own class mix
    centres = rng.normal(size=(3, 8)) * 5
    emb = np.concatenate([c + 0.1 * rng.normal(size=(10, 8))
                          for c in centres])
    mixes = np.array([[.7, .3, 0, 0], [0, .2, .8, 0], [.1, 0, .1, .8]])
    hist = np.repeat(mixes, 10, 0)
    hist[13] = hist[13][[2, 3, 0, 1]]  # class-permuted labels
    hist[25] = 0  # unlabelled: 0 and never a neighbour
    x = knn_label_inconsistency(torch.tensor(emb), torch.tensor(hist), k=5)
    assert np.argmax(x) == 13 and x[13] > 0.5
    assert x[25] == 0
    others = np.delete(x, [13])
    assert others.max() < 0.2  # 13's neighbours see it among theirs
    from ovseg_plugins.coido.utils import noise_outliers
    assert np.flatnonzero(noise_outliers(x)).tolist() == [13]


def test_knn_label_inconsistency_exclude_pairs():
    import torch

    from ovseg_plugins.coido.utils import knn_label_inconsistency

    # 0 and 1 are copies of the same pixels with contradicting labels; 2
    # looks like them (cos 0.8 / 0.81) and agrees with 0; 3 is far away
    emb = torch.tensor([[1., 0.], [1., .01], [.8, .6], [0., 1.]])
    hist = torch.tensor([[1., 0.], [0., 1.], [1., 0.], [0., 1.]])
    plain = knn_label_inconsistency(emb, hist, k=1)
    # k = 1: H²(own, neighbour) - 0; 0 <-> 1 disagree completely
    assert plain[0] == pytest.approx(1) and plain[1] == pytest.approx(1)
    ex = np.zeros((4, 4), bool)
    ex[0, 1] = ex[1, 0] = True  # the copies may not vote for each other
    x = knn_label_inconsistency(emb, hist, k=1, exclude=ex)
    assert x[0] == pytest.approx(0)  # its neighbour is now 2 (agrees)
    assert x[1] == pytest.approx(1)  # 2 contradicts 1
    ex[0] = True  # nothing allowed: excluded rows still fill the list
    assert knn_label_inconsistency(emb, hist, k=1, exclude=ex)[0] == \
        pytest.approx(1)


def test_nearest_centroid_assigns_all_rows():
    from ovseg_plugins.coido.utils import nearest_centroid
    x_sub = np.array([[1., 0], [0.9, 0.1], [0, 1.], [0.1, 0.9]])
    lab = np.array([4, 4, 7, 7])
    x_all = np.array([[1., 0.2], [0.2, 1.], [0.6, 0.5], [-1, 3]])
    assert nearest_centroid(x_all, x_sub, lab).tolist() == [4, 7, 4, 7]


def test_knn_excess_flags_a_sample_fitted_worse_than_its_neighbours():
    """The 'knn_model_ce' signal: a hard REGION (all neighbours hard) is not
    suspicious, one sample much worse than its look-alikes is."""
    import torch

    from ovseg_plugins.coido.utils import knn_excess, noise_outliers
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 5
    emb = np.concatenate([c + 0.1 * rng.normal(size=(10, 8))
                          for c in centres])
    # easy group 0.1, medium group 0.8, hard group 2.0 (+ small noise)
    ce = np.repeat([0.1, 0.8, 2.0], 10) + 0.05 * rng.normal(size=30)
    ce[4] = 2.5  # a look-alike of easy samples that the model cannot fit
    valid = np.ones(30, bool)
    valid[17] = False
    ce[17] = np.nan  # unlabelled: 0 and never a neighbour
    x = knn_excess(torch.tensor(emb), ce, valid, k=5)
    assert x[17] == 0 and np.isfinite(x).all()
    assert abs(x[4] - (2.5 - np.median(ce[[0, 1, 2, 3, 5]]))) < 0.1
    assert np.flatnonzero(noise_outliers(x)).tolist() == [4]
    # the global small-loss rule would instead flag the whole hard group
    from ovseg_plugins.coido.utils import robust_z
    assert (robust_z(np.nan_to_num(ce))[20:] > 0.9).all()
