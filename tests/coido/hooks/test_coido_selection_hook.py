"""CoIDOSelectionHook writes the lowest-score selection with the data-list
hash; a mismatching bank or selection file is refused."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from coido._helpers import ListDataset
from ovseg_plugins.coido.hooks import CoIDOSelectionHook
from ovseg_plugins.coido.samplers import IndexSubsetSampler
from ovseg_plugins.coido.utils import data_list_hash


class _FakeCoIDOModel:
    def __init__(self, scores, h, valid=None, embed=None, assign=None):
        self.scores = torch.as_tensor(scores, dtype=torch.float)
        n = len(scores)
        self.bank_embed = torch.randn(n, 4) if embed is None else \
            torch.as_tensor(embed, dtype=torch.float)
        self.cluster_assign = torch.full((n, ), -1) if assign is None else \
            torch.as_tensor(assign)
        self.data_list_hash = h
        self.bank_path = 'bank.pt'
        self.bank_valid = torch.ones(len(scores), dtype=torch.bool) \
            if valid is None else torch.as_tensor(valid)

    def score_bank(self):
        return self.scores


def test_hook_selects_lowest_and_writes_hash(tmp_path):
    ds = ListDataset(30)
    h = data_list_hash(ds)
    scores = np.random.default_rng(0).normal(size=30)
    scores[[3, 4]] = -10.  # a tie at the bottom
    valid = np.ones(30, bool)
    valid[int(np.argsort(scores)[2])] = False  # never selectable
    s = CoIDOSelectionHook(budget=0.2).select(
        _FakeCoIDOModel(scores, h, valid), ds, str(tmp_path))
    sel = json.load(open(tmp_path / 'selected.json'))
    assert sel['data_list_hash'] == h and s['n_selected'] == 6
    order = [i for i in np.lexsort((np.arange(30), scores)) if valid[i]]
    assert sel['indices'] == sorted(order[:6])
    assert {3, 4} <= set(sel['indices'])
    sc = json.load(open(tmp_path / 'coido_scores.json'))
    assert np.allclose(sc['scores'], scores) and sc['data_list_hash'] == h
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.tmp')]
    # phase 2 accepts it on the same data list ...
    smp = IndexSubsetSampler(ds, indices_file=str(tmp_path /
                                                  'selected.json'))
    assert sorted(smp.indices) == sel['indices']
    # ... and refuses it on another one, naming the file
    with pytest.raises(ValueError, match='selected.json.*different data'):
        IndexSubsetSampler(ListDataset(30, 'x'),
                           indices_file=str(tmp_path / 'selected.json'))


def test_hook_group_quotas(tmp_path):
    ds = ListDataset(30)  # city: 'b' for i % 3 == 0 (10), 'a' otherwise
    scores = np.arange(30, dtype=float)
    s = CoIDOSelectionHook(budget=6, group_key='city').select(
        _FakeCoIDOModel(scores, data_list_hash(ds)), ds, str(tmp_path))
    assert s['per_group'] == {'a': dict(total=20, selected=4),
                              'b': dict(total=10, selected=2)}
    sel = json.load(open(tmp_path / 'selected.json'))['indices']
    assert sel == [0, 1, 2, 3, 4, 5]  # lowest 4 of 'a' + lowest 2 of 'b'
    with pytest.raises(KeyError, match='group_key'):
        CoIDOSelectionHook(group_key='nope').select(
            _FakeCoIDOModel(scores, data_list_hash(ds)), ds, str(tmp_path))


def test_hook_refuses_a_bank_of_another_dataset(tmp_path):
    ds = ListDataset(10)
    with pytest.raises(ValueError, match='feature bank.*different data'):
        CoIDOSelectionHook().select(_FakeCoIDOModel(np.zeros(10), 'other'),
                                    ds, str(tmp_path))
    assert not osp.exists(tmp_path / 'selected.json')


def test_hook_cluster_quotas(tmp_path):
    """cluster_quotas=True takes the lowest scores WITHIN each cluster of the
    all-N assignment, in proportion to the cluster sizes; off = CoIDO."""
    ds = ListDataset(30)
    h = data_list_hash(ds)
    assign = np.repeat([0, 1, 2], 10)
    scores = np.concatenate([np.full(10, 50.), np.arange(20.)])
    model = _FakeCoIDOModel(scores, h, assign=assign)
    plain = CoIDOSelectionHook(budget=6).select(model, ds, str(tmp_path))
    sel = json.load(open(tmp_path / 'selected.json'))['indices']
    assert sel == [10, 11, 12, 13, 14, 15]  # CoIDO's rule: lowest overall
    assert 'cluster_quotas' not in plain
    s = CoIDOSelectionHook(budget=6, cluster_quotas=True).select(
        model, ds, str(tmp_path))
    sel = json.load(open(tmp_path / 'selected.json'))['indices']
    # floor(6 * 10 / 30) = 2 per cluster, the lowest scores within each
    assert sel == [0, 1, 10, 11, 20, 21]
    assert s['per_group'] == {'0': dict(total=10, selected=2),
                              '1': dict(total=10, selected=2),
                              '2': dict(total=10, selected=2)}
    with pytest.raises(ValueError, match='assignments'):
        CoIDOSelectionHook(cluster_quotas=True).select(
            _FakeCoIDOModel(scores, h), ds, str(tmp_path))


class _CEModel(_FakeCoIDOModel, torch.nn.Module):
    """A phase-1 model whose per-sample loss of sample i is ``ce[i]``."""

    def __init__(self, scores, h, ce, **kw):
        torch.nn.Module.__init__(self)
        _FakeCoIDOModel.__init__(self, scores, h, **kw)
        self.ce = np.asarray(ce, float)
        self.calls = 0

    def data_preprocessor(self, batch, training):
        return dict(inputs=None, data_samples=batch)

    def per_sample_losses(self, inputs, data_samples):
        assert not self.training
        self.calls += len(data_samples)
        i = self._sample_indices(data_samples).numpy()
        return torch.as_tensor(self.ce[i]), torch.ones(len(i), dtype=bool)

    def _sample_indices(self, data_samples):
        return torch.tensor([int(d['idx']) for d in data_samples])


class _IdxDataset(ListDataset):
    def __getitem__(self, i):
        return dict(idx=i)


def test_hook_sanity_check_spearman_on_the_subset(tmp_path):
    """sanity_check=True: one inference pass over the phase-1 subset only,
    and Spearman(score, CE) there (hand-checkable: scores = -CE on the
    subset gives exactly -1, whatever the other samples score)."""
    ds = _IdxDataset(30)
    h = data_list_hash(ds)
    ce = np.random.default_rng(1).uniform(0, 3, 30)
    scores = np.arange(30.)  # unrelated to CE outside the subset
    sub = [3, 7, 11, 20, 25, 28]
    scores[sub] = -ce[sub]
    m = _CEModel(scores, h, ce)
    s = CoIDOSelectionHook(budget=3, sanity_check=True).select(
        m, ds, str(tmp_path), collate_fn=list, subset=sub)
    assert m.calls == len(sub)
    assert s['sanity']['spearman_score_vs_phase1_ce'] == pytest.approx(-1.)
    assert s['sanity']['n'] == 6
    scores[sub] = ce[sub]  # a scorer that learned the opposite
    s = CoIDOSelectionHook(budget=3, sanity_check=True).select(
        _CEModel(scores, h, ce), ds, str(tmp_path), collate_fn=list,
        subset=sub)
    assert s['sanity']['spearman_score_vs_phase1_ce'] == pytest.approx(1.)
    with pytest.raises(ValueError, match='phase-1 subset'):
        CoIDOSelectionHook(sanity_check=True).select(
            m, ds, str(tmp_path), collate_fn=list)


def test_hook_min_valid_fraction(tmp_path):
    """min_valid_fraction: samples whose labelled fraction is below it are never
    selected, even with the lowest scores; a bank without ``valid_frac``
    is refused with the fix."""
    ds = ListDataset(10)
    h = data_list_hash(ds)
    m = _FakeCoIDOModel(np.arange(10.), h)
    m.bank_valid_frac = torch.tensor([.05, .5, .09, 1, 1, 1, 1, 1, 1, 1])
    s = CoIDOSelectionHook(budget=3, min_valid_fraction=0.1).select(
        m, ds, str(tmp_path))
    assert json.load(open(tmp_path / 'selected.json'))['indices'] == \
        [1, 3, 4]
    assert s['min_valid_fraction'] == dict(tau=0.1, n_excluded=2)
    m.bank_valid_frac = None
    with pytest.raises(ValueError, match='valid_frac.*extract_features'):
        CoIDOSelectionHook(min_valid_fraction=0.1).select(
            m, ds, str(tmp_path))
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        CoIDOSelectionHook(min_valid_fraction=5)
