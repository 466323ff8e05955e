"""IndexSubsetSampler / IndexSubsetEpochSampler: determinism, rank slices,
length, resume, file/ratio modes, hash check."""
import itertools
import json

import pytest

from coido._helpers import ListDataset
from ovseg_plugins.coido.samplers import (IndexSubsetEpochSampler,
                                           IndexSubsetSampler)
from ovseg_plugins.coido.samplers import subset_sampler_base
from ovseg_plugins.coido.utils import data_list_hash, draw_subset


def _take(sampler, k):
    return list(itertools.islice(iter(sampler), k))


def _ranked(monkeypatch, cls, rank, ws, **kw):
    monkeypatch.setattr(subset_sampler_base, 'get_dist_info',
                        lambda: (rank, ws))
    return cls(**kw)


def test_ratio_mode_is_deterministic_and_seeded():
    ds = ListDataset(100)
    a = IndexSubsetSampler(ds, ratio=0.2, subset_seed=3, seed=7)
    b = IndexSubsetSampler(ds, ratio=0.2, subset_seed=3, seed=7)
    assert _take(a, 60) == _take(b, 60)
    assert sorted(a.indices) == draw_subset(100, 0.2, 3).tolist()
    c = IndexSubsetSampler(ds, ratio=0.2, subset_seed=3, seed=8)
    assert _take(c, 20) != _take(a, 20)  # the shuffle seed matters
    d = IndexSubsetSampler(ds, ratio=0.2, subset_seed=4, seed=7)
    assert set(d.indices) != set(a.indices)  # the subset seed matters
    # every pass of the infinite stream is a permutation of the subset
    s = _take(IndexSubsetSampler(ds, ratio=0.2, subset_seed=3, seed=7), 40)
    assert sorted(s[:20]) == sorted(s[20:]) == sorted(a.indices)
    assert len(a) == 20


def test_infinite_rank_slices_are_disjoint_and_cover(monkeypatch):
    ds = ListDataset(50)
    kw = dict(dataset=ds, ratio=0.4, subset_seed=0, seed=1)
    full = _take(_ranked(monkeypatch, IndexSubsetSampler, 0, 1, **kw),
                 40)
    r0 = _take(_ranked(monkeypatch, IndexSubsetSampler, 0, 2, **kw), 10)
    r1 = _take(_ranked(monkeypatch, IndexSubsetSampler, 1, 2, **kw), 10)
    assert r0 == full[0:20:2] and r1 == full[1:20:2]
    assert not set(r0) & set(r1)
    assert sorted(r0 + r1) == sorted(full[:20])


def test_epoch_sampler_slices_length_and_set_epoch(monkeypatch):
    ds = ListDataset(40)
    kw = dict(dataset=ds, ratio=0.5, subset_seed=2, seed=0)
    parts = [_ranked(monkeypatch, IndexSubsetEpochSampler, r, 3, **kw)
             for r in range(3)]
    assert [len(p) for p in parts] == [7, 7, 7]  # ceil(20 / 3), round_up
    got = [list(p) for p in parts]
    assert all(len(g) == 7 for g in got)
    flat = sum(got, [])
    assert set(flat) == set(parts[0].indices)  # covers the subset
    assert len(flat) - len(set(flat)) == 1  # only the round-up padding
    one = _ranked(monkeypatch, IndexSubsetEpochSampler, 0, 1, **kw)
    e0 = list(one)
    assert list(one) == e0  # same epoch -> same order
    one.set_epoch(1)
    e1 = list(one)
    assert e1 != e0 and sorted(e1) == sorted(e0)


def test_resume_continues_the_same_stream():
    ds = ListDataset(30)
    a = IndexSubsetSampler(ds, ratio=0.5, subset_seed=0, seed=5)
    it = iter(a)
    head = list(itertools.islice(it, 23))
    tail = list(itertools.islice(it, 17))
    # a restarted run skips the first 23 indices (the runner's resume)
    b = iter(IndexSubsetSampler(ds, ratio=0.5, subset_seed=0, seed=5))
    list(itertools.islice(b, 23))
    assert list(itertools.islice(b, 17)) == tail
    assert len(head) == 23


def test_indices_file_and_hash(tmp_path):
    ds = ListDataset(30)
    f = tmp_path / 'sel.json'
    f.write_text(json.dumps(dict(indices=[4, 2, 9],
                                 data_list_hash=data_list_hash(ds))))
    s = IndexSubsetEpochSampler(ds, indices_file=str(f), shuffle=False)
    assert list(s) == [4, 2, 9]
    # the same file on another data list is refused with the file's name
    other = ListDataset(30, prefix='other')
    with pytest.raises(ValueError, match='sel.json.*data_list_hash'):
        IndexSubsetSampler(other, indices_file=str(f))
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps([1, 99]))
    with pytest.raises(ValueError, match='out of range'):
        IndexSubsetSampler(ds, indices_file=str(bad))
    with pytest.raises(ValueError, match='exactly one'):
        IndexSubsetSampler(ds)
    with pytest.raises(FileNotFoundError, match='indices_file'):
        IndexSubsetSampler(ds, indices_file=str(tmp_path / 'none.json'))
