"""CoIDO on a REAL installed upstream config, unchanged except for size:
``mmseg::pspnet/pspnet_r18-d8_4xb4-80k_loveda-512x512.py`` on real LoveDA
crops, all phases through the package functions that tools/coido/run.py
calls. Checks real values: the selection equals an independent lowest-score
computation from the trained scorer, the files are written and stamped,
the phase-2 sampler iterates exactly the selection, and phase 1 and
phase 2 see the same input shapes and normalisation (the wrapper keeps the
wrapped model's preprocessor, not the Runner's top-level one)."""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import shared_data_path

STOCK = 'mmseg::pspnet/pspnet_r18-d8_4xb4-80k_loveda-512x512.py'


def _stock_cfg(data, work_dir):
    import sys

    from conftest import REPO_ROOT
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'coido'))
    from _common import load_cfg
    # size-only overrides: 64 px crops, small batches, no worker processes
    opts = {
        'train_dataloader.dataset.data_root': data,
        'val_dataloader.dataset.data_root': data,
        'test_dataloader.dataset.data_root': data,
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.pipeline.2.scale': (128, 32),
        'train_dataloader.dataset.pipeline.3.crop_size': (64, 64),
        'test_dataloader.dataset.pipeline.1.scale': (64, 64),
        'model.data_preprocessor.size': (64, 64),
        'train_cfg.max_iters': 2,
        # no download here: ImageNet weights -> random initialisation
        'model.pretrained': None,
        'log_level': 'WARNING',
    }
    return load_cfg(STOCK, opts, work_dir)


@pytest.mark.slow
def test_stock_mmseg_config_all_phases(tmp_path):
    from mmengine.runner import Runner

    from fixtures.coido_data import write_loveda_crops
    from ovseg_plugins.coido.apis import (build_phase1_config,
                                          build_phase2_config,
                                          check_phase_inputs, cluster_subset,
                                          coido_paths, coido_settings,
                                          extract_feature_bank)
    from ovseg_plugins.coido.utils import load_indices_file
    data = str(tmp_path / 'data')
    write_loveda_crops(shared_data_path('rs', 'loveda'), data, n=20)
    cfg = _stock_cfg(data, str(tmp_path / 'wd'))
    # the premise of the preprocessor check: the Runner's top-level
    # preprocessor (injected into every model dict) still pads to 512
    assert tuple(cfg.data_preprocessor.size) == (512, 512)
    assert 'sample_idx' not in str(cfg.train_dataloader.dataset.pipeline)
    S = coido_settings(cfg, dict(cluster=dict(n_clusters=20, knn=5),
                                 phase1=dict(passes=2, warmup_passes=1)))
    d = str(tmp_path / 'wd' / 'coido')
    P = coido_paths(d)
    logs = []
    info = extract_feature_bank(cfg, P['bank'], log=logs.append)
    assert info['n'] == 20
    cl = cluster_subset(P['bank'], d, log=logs.append, **S['cluster'])
    # 4 subset samples < 20 requested clusters: capped at 3, and said so
    assert cl['n_subset'] == 4 and cl['n_clusters'] == 3
    assert any('capped at 3' in m for m in logs)
    stamp = check_phase_inputs('phase1', P)

    p1 = build_phase1_config(cfg, S, d, cl['n_subset'])
    assert cfg.model.type == 'EncoderDecoder'  # the user's config unchanged
    assert 'sample_idx' in p1.train_dataloader.dataset.pipeline[-1][
        'meta_keys']
    p1.work_dir = str(tmp_path / 'wd' / 'phase1')
    r1 = Runner.from_cfg(p1)
    r1.train()
    sub = load_indices_file(P['subset'])[0]
    assert sorted(r1.train_dataloader.sampler.indices) == sub
    assert r1.train_loop.iter == 2  # 2 passes x 4 samples / batch 4

    sel = json.load(open(P['selected']))
    scores = json.load(open(P['scores']))
    assert sel['phase'] == 'selection' and sel['bank_stamp'] == stamp
    assert sel['data_list_hash'] == scores['data_list_hash']
    # independent: the trained scorer's scores of all 20, lowest 4, ties by
    # index (CoIDO's rule), among the samples with labelled pixels
    s = r1.model.score_bank().numpy()
    np.testing.assert_allclose(s, scores['scores'], rtol=1e-5, atol=1e-6)
    ok = r1.model.bank_valid.numpy()
    order = [i for i in np.lexsort((np.arange(20), s)) if ok[i]]
    assert sel['indices'] == sorted(order[:4])
    assert 'spearman_score_vs_phase1_ce' not in sel  # sanity_check off

    check_phase_inputs('phase2', P)
    p2 = build_phase2_config(cfg, P['selected'])
    p2.work_dir = str(tmp_path / 'wd' / 'phase2')
    r2 = Runner.from_cfg(p2)
    r2.train()
    assert sorted(r2.train_dataloader.sampler.indices) == sel['indices']
    assert r2.train_loop.iter == 2
    # phase 1 and phase 2 preprocess a batch identically (64 px, same
    # mean/std), although the Runner handed the wrapper a 512 px one
    batch = next(iter(r2.train_dataloader))
    a = r1.model.data_preprocessor(copy.deepcopy(batch), True)['inputs']
    b = r2.model.data_preprocessor(copy.deepcopy(batch), True)['inputs']
    assert a.shape == b.shape == (4, 3, 64, 64)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert r1.model.data_preprocessor is r1.model.segmentor.data_preprocessor


def test_add_sample_idx_keeps_the_pack_defaults():
    """The pack transform keeps its own meta_keys (class defaults read from
    the built transform) plus sample_idx; nothing else changes."""
    from mmengine.registry import TRANSFORMS, DefaultScope

    from ovseg_plugins.coido.apis import add_sample_idx
    import mmseg.datasets  # noqa: F401
    pipe = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
    d = dict(type='LoveDADataset', pipeline=copy.deepcopy(pipe))
    keys = add_sample_idx(d, 'mmseg')
    with DefaultScope.overwrite_default_scope('mmseg'):
        default = TRANSFORMS.build(dict(type='PackSegInputs')).meta_keys
    assert keys == tuple(default) + ('sample_idx', )
    assert d['pipeline'][0] == pipe[0]
    assert add_sample_idx(d, 'mmseg') == keys  # idempotent
    with pytest.raises(TypeError, match='dataset wrapper'):
        add_sample_idx(dict(type='RepeatDataset', times=2, dataset=d))
    with pytest.raises(KeyError, match='no pack transform'):
        add_sample_idx(dict(type='X', pipeline=pipe[:1]))


def test_stock_mmdet3d_config_builds_both_phases(tmp_path):
    """mmdet3d's PointNet++ ScanNet segmentation config, unchanged: phase 1
    wraps its model and keeps sample_idx in Pack3DDetInputs, both phases
    get the epoch-based subset sampler. (Running it needs CUDA: mmcv's
    furthest_point_sample is CUDA-only.)"""
    import sys

    from conftest import REPO_ROOT
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'coido'))
    from _common import load_cfg
    from ovseg_plugins.coido.apis import (build_phase1_config,
                                          build_phase2_config,
                                          coido_settings)
    cfg = load_cfg('mmdet3d::pointnet2/'
                   'pointnet2_ssg_2xb16-cosine-200e_scannet-seg.py',
                   work_dir=str(tmp_path))
    p1 = build_phase1_config(cfg, coido_settings(cfg), str(tmp_path), 10)
    assert p1.model.type == 'CoIDOSegmentor'
    assert p1.model.segmentor.type == cfg.model.type
    pack = p1.train_dataloader.dataset.pipeline[-1]
    assert pack['type'] == 'Pack3DDetInputs' and 'sample_idx' in \
        pack['meta_keys']
    assert p1.train_dataloader.sampler.type == 'IndexSubsetEpochSampler'
    assert p1.train_cfg == dict(type='EpochBasedTrainLoop', max_epochs=5,
                                val_interval=10**9)
    assert p1.model.scorer_warmup_iters == 1  # 10 samples / batch 16
    p2 = build_phase2_config(cfg, 'sel.json')
    assert p2.train_dataloader.sampler == dict(
        type='IndexSubsetEpochSampler', indices_file='sel.json',
        shuffle=True)
    assert p2.model == cfg.model and p2.train_cfg == cfg.train_cfg
