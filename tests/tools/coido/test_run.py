"""tools/coido/run.py end to end (subprocess) on real LoveDA crops with the
shipped example config, and a stale selection refused before phase 2."""
import json
import os.path as osp

import pytest
import torch

from conftest import REPO_ROOT, run_py, shared_data_path
from ovseg_plugins.utils.checkpoint import load_torch_file

CFG = osp.join(REPO_ROOT, 'configs', 'coido', 'fcn-tiny_loveda.py')


@pytest.mark.slow
def test_run_all_phases_and_cost_summary(tmp_path):
    from fixtures.coido_data import write_loveda_crops
    data = str(tmp_path / 'data')
    write_loveda_crops(shared_data_path('rs', 'loveda'), data, n=50)
    wd = str(tmp_path / 'wd')
    # the documented one key moves every dataloader's data_root
    r = run_py(['tools/coido/run.py', CFG, '--work-dir', wd,
                '--full-baseline', '--budget', '0.2', '--n-clusters', '4',
                '--phase1-passes', '1', '--cfg-options', f'data_root={data}',
                'train_cfg.max_iters=3', 'coido.cluster.knn=5'],
               env=dict(OMP_NUM_THREADS='1'))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    d = osp.join(wd, 'coido')
    bank = load_torch_file(osp.join(d, 'feature_bank.pt'))
    assert bank['embeddings'].shape[0] == 50
    assert bank['encoder']['source'] == 'backbone'  # the config's embedder
    assert "feature bank: the model's backbone with its initial weights " \
        "(seed 0); the config's pretrained / init_cfg weights are not " \
        'loaded' in out
    assert bank['stat_names'] == ['ignore_frac', 'classes_present',
                                  'label_entropy', 'rare_class_mass']
    assert bank['stats'].min() >= -1 and bank['stats'].max() <= 1
    # labelled fraction = 1 - ignore fraction (the raw statistic)
    torch.testing.assert_close(bank['valid_frac'],
                               1 - bank['stats_raw'][:, 0])
    sub = json.load(open(osp.join(d, 'subset.json')))
    cl = json.load(open(osp.join(d, 'clusters.json')))
    sel = json.load(open(osp.join(d, 'selected.json')))
    summ = json.load(open(osp.join(d, 'selection_summary.json')))
    assert len(sub['indices']) == 10 and len(sel['indices']) == 10
    assert sorted(map(int, cl['clusters'])) == sub['indices']
    assert cl['n_clusters'] == 4 and len(cl['assignments']) == 50
    for f in (sub, cl, sel):
        assert f['data_list_hash'] == bank['data_list_hash']
        assert f['bank_stamp'] == bank['bank_stamp']
    assert sub['phase'] == cl['phase'] == 'cluster'
    assert sel['phase'] == 'selection'
    # the config's sanity check ran on the 10-sample subset
    assert summ['sanity']['n'] == 10
    assert -1 <= summ['sanity']['spearman_score_vs_phase1_ce'] <= 1
    cost = json.load(open(osp.join(d, 'cost.json')))
    for k in ('extract', 'cluster', 'phase1', 'scoring', 'phase2', 'full'):
        assert cost[k] > 0, k
    assert 0 < cost['phase1_plus_scoring_fraction'] == pytest.approx(
        (cost['phase1'] + cost['scoring']) / cost['full'])
    assert 'phase-1 + scoring =' in out and 'of full-data training' in out
    # phase 1: 1 pass over 10 samples at batch 8 = 2 iterations
    assert osp.isfile(osp.join(wd, 'phase1', 'iter_2.pth'))
    assert osp.isfile(osp.join(wd, 'phase2', 'iter_3.pth'))

    # a new bank (other embedder seed) makes the old selection stale:
    # phase 2 alone is refused, naming the file and the field
    r = run_py(['tools/coido/run.py', CFG, '--work-dir', wd, '--phases',
                'extract,phase2', '--cfg-options', f'data_root={data}',
                'coido.extract.embedder.seed=1'],
               env=dict(OMP_NUM_THREADS='1'))
    assert r.returncode != 0
    assert "selection file" in r.stderr and 'selected.json' in r.stderr
    assert "'bank_stamp'" in r.stderr and 'stale' in r.stderr


def test_geopurify_coido_pool_is_all_training_scenes(tmp_path):
    """The GeoPurify base config trains on the authors' 20-scene list; the
    CoIDO config must select from (and index) all training scenes, with an
    epoch-based subset sampler in both phases."""
    from mmengine.config import Config

    from ovseg_plugins.coido.apis import (build_phase1_config,
                                          build_phase2_config,
                                          coido_settings)
    base = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'geopurify',
                                    'scannet.py'))
    assert base.train_dataloader.dataset.scene_list  # premise of the test
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'coido',
                                   'geopurify_scannet.py'))
    assert cfg.train_dataloader.dataset.scene_list is None
    S = coido_settings(cfg)
    assert S['model']['per_sample_loss'] == 'split'
    assert build_phase2_config(cfg, 'sel.json').train_dataloader.sampler \
        .type == 'IndexSubsetEpochSampler'
    # phase 1 scores 8 scenes per step (phase1.cfg_options): 20 subset
    # scenes = 3 iterations per pass, the warm-up is one pass
    p1 = build_phase1_config(cfg, S, str(tmp_path), 20)
    assert p1.train_dataloader.batch_size == 8
    assert p1.model.scorer_warmup_iters == 3
    assert p1.train_cfg.max_epochs == 3


@pytest.mark.parametrize('config', [
    CFG, 'mmseg::pspnet/pspnet_r18-d8_4xb4-80k_loveda-512x512.py'])
def test_data_root_moves_every_dataloader(config, tmp_path):
    import sys
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'coido'))
    from _common import load_cfg
    cfg = load_cfg(config, {'data_root': str(tmp_path)})
    for k in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[k]['dataset']['data_root'] == str(tmp_path), k
