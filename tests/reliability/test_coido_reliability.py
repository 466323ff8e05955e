"""CoIDO reliability: a phase-1 run SIGKILLed after a checkpoint and resumed
ends with the weights (segmentor, scorer, log σ), optimizer state and
selection of the uninterrupted run; a subset/selection file made for another
dataset is refused with a clear error."""
import json
import os.path as osp

import pytest
import torch

from conftest import REPO_ROOT, shared_data_path
from rel_helpers import kill_and_resume, kill_config

pytest.importorskip('ovseg_plugins.coido.samplers')

CFG = osp.join(REPO_ROOT, 'configs', 'coido', 'fcn-tiny_loveda.py')


def _phase1(tmp_path, data_root):
    """Feature bank, subset and clusters made by the package functions, and
    the phase-1 config that tools/coido/run.py builds, dumped to a file."""
    from mmengine.config import Config

    from ovseg_plugins.coido.apis import (build_phase1_config,
                                          cluster_subset, coido_paths,
                                          coido_settings,
                                          extract_feature_bank)
    files = str(tmp_path / 'coido')
    cfg = Config.fromfile(CFG)
    for k in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[k].dataset.data_root = data_root
    S = coido_settings(cfg, dict(cluster=dict(ratio=0.5, n_clusters=2,
                                              knn=3),
                                 model=dict(scorer=dict(type='CoIDOScorer',
                                                        hidden=16),
                                            scorer_warmup_iters=1)))
    P = coido_paths(files)
    extract_feature_bank(cfg, P['bank'], log=lambda *a: None)
    n_sub = cluster_subset(P['bank'], files, log=lambda *a: None,
                           **S['cluster'])['n_subset']
    cfg.train_dataloader.batch_size = 2
    p1 = build_phase1_config(cfg, S, files, n_sub)
    p1.train_cfg.max_iters = 4
    p1.default_hooks.checkpoint.interval = 2
    p1.default_hooks.logger.interval = 1
    p1.randomness = dict(seed=0, deterministic=True)
    return p1


def _configs(tmp_path, data_root):
    base = tmp_path / 'phase1_det.py'
    _phase1(tmp_path, data_root).dump(str(base))
    return str(base), kill_config(tmp_path, str(base), [
        'ovseg_plugins.seg2d', 'ovseg_plugins.coido'])


@pytest.mark.slow
def test_coido_phase1_killed_then_resumed_equals_uninterrupted(tmp_path):
    from mmengine.config import Config

    from fixtures.coido_data import write_loveda_crops
    data = str(tmp_path / 'data')
    write_loveda_crops(shared_data_path('rs', 'loveda'), data, n=10)
    base, kill = _configs(tmp_path, data)
    hooks = Config.fromfile(base).custom_hooks
    assert [h['type'] for h in hooks] == ['CoIDOSelectionHook']

    def no_selection_yet(cut):
        assert not (cut / 'sel' / 'selected.json').exists()

    a, b = kill_and_resume(
        tmp_path, base, kill,
        extra=lambda wd: ['--cfg-options', f'custom_hooks.0.out_dir={wd}/sel'],
        before_resume=no_selection_yet)
    sa = a['state_dict']
    assert any(k.startswith('coido_scorer.') for k in sa)
    assert 'log_sigma_i' in sa and 'coido_iter' in sa
    assert int(sa['coido_iter']) == 4
    # the selection written after training is the same
    full, cut = tmp_path / 'full', tmp_path / 'cut'
    ja = json.load(open(full / 'sel' / 'selected.json'))
    jb = json.load(open(cut / 'sel' / 'selected.json'))
    assert ja['indices'] == jb['indices'] and len(ja['indices']) == 2
    assert ja['data_list_hash'] == jb['data_list_hash']
    assert ja['bank_stamp'] == jb['bank_stamp'] is not None


# ------------------------------------------- selection of another dataset
def _list_ds(n, prefix):
    from coido._helpers import ListDataset
    return ListDataset(n, prefix)


def test_selection_file_from_another_dataset(tmp_path):
    from ovseg_plugins.coido.samplers import IndexSubsetSampler
    from ovseg_plugins.coido.utils import data_list_hash
    other = _list_ds(20, 'other')
    p = tmp_path / 'selected.json'
    p.write_text(json.dumps(dict(indices=[0, 3, 5],
                                 data_list_hash=data_list_hash(other))))
    with pytest.raises(ValueError) as e:
        IndexSubsetSampler(_list_ds(20, 'img'), indices_file=str(p), seed=0)
    msg = str(e.value)
    assert f'indices_file {str(p)!r} was made for a different data list' \
        in msg and 'Re-run the CoIDO selection' in msg


def test_selection_list_out_of_range_for_dataset(tmp_path):
    """A bare index list (no hash) with indices beyond this dataset."""
    from ovseg_plugins.coido.samplers import IndexSubsetSampler
    p = tmp_path / 'selected.json'
    p.write_text(json.dumps([1, 7, 42]))
    with pytest.raises(ValueError) as e:
        IndexSubsetSampler(_list_ds(20, 'img'), indices_file=str(p), seed=0)
    msg = str(e.value)
    assert str(p) in msg and 'indices [42] are out of range for a dataset ' \
        'of 20 samples' in msg and 'made for another dataset' in msg


def test_feature_bank_from_another_dataset_at_selection(tmp_path):
    """The selection hook refuses a feature bank made for another list."""
    from ovseg_plugins.coido.hooks import CoIDOSelectionHook

    class _Model:
        data_list_hash = 'deadbeefdeadbeef'
        bank_path = str(tmp_path / 'feature_bank.pt')

        def score_bank(self):
            raise AssertionError('must not score')

    with pytest.raises(ValueError) as e:
        CoIDOSelectionHook().select(_Model(), _list_ds(5, 'img'),
                                    str(tmp_path))
    msg = str(e.value)
    assert f"feature bank {str(tmp_path / 'feature_bank.pt')!r} was made " \
        'for a different data list' in msg
    assert 'Re-run tools/coido/extract_features.py' in msg
