"""The 17 SegEarth-OV configs (and baselines) build, and their class files
match their datasets' classes."""
import copy
import glob
import os.path as osp

import pytest

from conftest import REPO_ROOT
from fixtures.tiny_models import TINY_BACKBONE

NAMES = ('openearthmap loveda isaid potsdam vaihingen uavid udd5 vdd whu_aerial '
         'whu_sat_ii inria xbd chn6_cug deepglobe_road massachusetts_road '
         'spacenet_road wbs_si').split()
BINARY = {'whu_aerial', 'whu_sat_ii', 'inria', 'xbd', 'chn6_cug',
          'deepglobe_road', 'massachusetts_road', 'spacenet_road', 'wbs_si'}
# (prob_thd, bg_idx, lambda) from the authors' configs (likyoo/SegEarth-OV
# configs/cfg_<dataset>.py)
SETTINGS = dict(openearthmap=(0.1, 0, -0.3), loveda=(0.3, 0, -0.3),
                isaid=(0.4, 0, -0.3), potsdam=(0.1, 5, -0.3),
                vaihingen=(0.1, 5, -0.3), uavid=(0.3, 0, -0.3),
                udd5=(0.4, 4, -0.3), vdd=(0.3, 0, -0.3),
                whu_aerial=(0.6, 0, -0.3), whu_sat_ii=(0.7, 0, -0.3),
                inria=(0.6, 0, -0.3), xbd=(0.0, 0, 0.0),
                chn6_cug=(0.8, 0, -0.3), deepglobe_road=(0.7, 0, -0.3),
                massachusetts_road=(0.7, 0, -0.3),
                spacenet_road=(0.7, 0, -0.3), wbs_si=(0.6, 0, -0.3))


def test_exactly_the_17_leaf_configs():
    found = sorted(osp.basename(p)[:-3] for p in glob.glob(
        osp.join(REPO_ROOT, 'configs', 'segearth', '*.py')))
    assert found == sorted(NAMES)
    for m in ('maskclip', 'sclip', 'clearclip'):
        for n in NAMES:
            assert osp.isfile(osp.join(REPO_ROOT, 'configs', 'segearth',
                                       'baselines', f'{m}_{n}.py'))


@pytest.mark.parametrize('name', NAMES)
def test_config_builds_and_matches_dataset(name, mmseg_scope):
    import torch
    from mmengine.config import Config
    from mmseg.registry import DATASETS, MODELS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'segearth',
                                   f'{name}.py'))
    thd, bg, lam = SETTINGS[name]
    assert cfg.model.prob_thd == thd and cfg.model.bg_idx == bg
    assert cfg.model.decode_head.cls_token_lambda == lam
    assert cfg.test_pipeline[1] == dict(type='Resize', scale=(448, 448),
                                        keep_ratio=True)
    ev = cfg.test_evaluator
    assert ev.type == ('ForegroundIoUMetric' if name in BINARY else
                       'IoUMetric')
    mcfg = copy.deepcopy(cfg.model)
    mcfg.backbone = copy.deepcopy(TINY_BACKBONE)
    mcfg.templates = 'none'
    torch.manual_seed(0)
    model = MODELS.build(mcfg)
    dataset_cls = DATASETS.get(cfg.test_dataloader.dataset.type)
    assert model.num_classes == len(dataset_cls.METAINFO['classes']), (
        f'{name}: class file has {model.num_classes} classes, dataset '
        f'{dataset_cls.__name__} has {len(dataset_cls.METAINFO["classes"])}')


@pytest.mark.parametrize('method', ['maskclip', 'sclip', 'clearclip'])
def test_baseline_settings(method, mmseg_scope):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'segearth',
                                   'baselines', f'{method}_loveda.py'))
    assert cfg.model.backbone.attn_mode == method
    assert cfg.model.decode_head.cls_token_lambda == 0.0
    assert cfg.model.neck.type == 'BilinearUpsampler'
    assert cfg.model.prob_thd == 0.3  # inherited from the dataset leaf


def test_all_17_configs_build_with_simfeatup(mmseg_scope, tmp_path):
    """The paper's setting of every set, configs/segearth/simfeatup/*.py
    (the metafile's rows), is the leaf config with the SimFeatUp neck; its
    checkpoint loads on first need (here: a tiny one, at predict)."""
    import torch
    from mmengine.config import Config
    from mmseg.registry import MODELS

    from ovseg_plugins.seg2d.models.necks import SimFeatUp
    torch.manual_seed(0)
    up = SimFeatUp(feat_dim=64)
    ck = tmp_path / 'up.pth'
    torch.save({'state_dict': {f'upsampler.{k}': v for k, v in
                               up.state_dict().items()}}, ck)
    for name in NAMES:
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'segearth',
                                       'simfeatup', f'{name}.py'))
        leaf = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'segearth',
                                        f'{name}.py'))
        assert cfg.model.neck.type == 'SimFeatUp'
        assert cfg.model.neck.checkpoint.endswith(
            'xclip_jbu_one_million_aid.ckpt')
        for k in ('class_names', 'prob_thd', 'bg_idx'):
            assert cfg.model[k] == leaf.model[k], (name, k)
        cfg.merge_from_dict({
            'model.neck.feat_dim': 64, 'model.neck.checkpoint': str(ck),
            'model.backbone': copy.deepcopy(TINY_BACKBONE),
            'model.templates': 'none'})
        model = MODELS.build(cfg.model).eval()
        assert type(model.neck).__name__ == 'SimFeatUp'
        assert model.neck.weights_pending
        out = model.predict(torch.randn(1, 3, 64, 64))
        assert out[0].pred_sem_seg.data.shape == (1, 64, 64)
        assert torch.equal(model.neck.up.range_proj[0].weight,
                           up.up.range_proj[0].weight)
