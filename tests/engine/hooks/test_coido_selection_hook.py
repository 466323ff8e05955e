"""CoIDOSelectionHook writes the lowest-score selection with the data-list
hash; a mismatching bank or selection file is refused."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from engine._helpers import ListDataset
from ovseg_plugins.engine.hooks import CoIDOSelectionHook
from ovseg_plugins.engine.samplers import IndexSubsetSampler
from ovseg_plugins.engine.utils import data_list_hash


class _FakeCoIDOModel:
    def __init__(self, scores, h, valid=None):
        self.scores = torch.as_tensor(scores, dtype=torch.float)
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
