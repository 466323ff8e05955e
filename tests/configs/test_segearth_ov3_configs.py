"""The 17 SegEarth-OV3 configs: settings of the paper, class files that
match their datasets, and a build with a tiny random SAM 3."""
import copy
import os.path as osp

import pytest

from conftest import REPO_ROOT
from fixtures.tiny_sam3 import TINY_SAM3_BACKBONE

# (confidence_threshold, prob_thd, bg_idx, slide) from the authors' configs
# (earth-insights/SegEarth-OV-3 configs/cfg_<dataset>.py)
SETTINGS = dict(
    openearthmap=(0.1, 0.1, 0, 512), loveda=(0.5, 0.5, 0, 0),
    isaid=(0.4, 0.5, 0, 0), potsdam=(0.2, 0.1, 5, 0),
    vaihingen=(0.4, 0.1, 5, 0), uavid=(0.3, 0.3, 0, 0),
    udd5=(0.5, 0.1, 4, 0), vdd=(0.5, 0.3, 0, 0),
    whu_aerial=(0.5, 0.4, 0, 0), whu_sat_ii=(0.5, 0.4, 0, 0),
    inria=(0.5, 0.5, 0, 0), xbd=(0.1, 0.1, 0, 0), chn6_cug=(0.5, 0.3, 0, 0),
    deepglobe_road=(0.5, 0.4, 0, 0), massachusetts_road=(0.5, 0.3, 0, 0),
    spacenet_road=(0.3, 0.3, 0, 0), wbs_si=(0.3, 0.3, 0, 0))


@pytest.mark.parametrize('name', sorted(SETTINGS))
def test_ov3_config(name, mmseg_scope):
    import torch
    from mmengine.config import Config
    from mmseg.registry import DATASETS, MODELS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'segearth_ov3',
                                   f'{name}.py'))
    conf, thd, bg, slide = SETTINGS[name]
    m = cfg.model
    assert (m.decode_head.confidence_threshold, m.prob_thd, m.bg_idx,
            m.test_cfg.get('crop_size', (0, 0))[0]) == (conf, thd, bg, slide)
    assert 'mFscore' in cfg.test_evaluator.iou_metrics
    assert not any(t['type'] == 'Resize'
                   for t in cfg.test_dataloader.dataset.pipeline)
    mcfg = copy.deepcopy(m)
    mcfg.backbone = copy.deepcopy(TINY_SAM3_BACKBONE)
    torch.manual_seed(0)
    model = MODELS.build(mcfg)
    ds = DATASETS.get(cfg.test_dataloader.dataset.type)
    assert model.num_classes == len(ds.METAINFO['classes'])
    assert all(len(q.split()) <= 3 for q in model.vocabulary.queries)


def test_ov3_prompts_differ_where_the_paper_says(mmseg_scope):
    from ovseg_plugins.text import Vocabulary
    p = Vocabulary.build(osp.join(REPO_ROOT, 'configs', 'segearth_ov3',
                                  'class_names', 'potsdam.txt'))
    assert p.class_names == ['road', 'building', 'grass', 'tree', 'car',
                             'clutter']
    lv = Vocabulary.build(osp.join(REPO_ROOT, 'configs', 'segearth_ov3',
                                   'class_names', 'loveda.txt'))
    assert lv.classes[4] == ['barren', 'bareland', 'soil']
