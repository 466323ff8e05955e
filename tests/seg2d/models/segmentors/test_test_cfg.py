"""``test_cfg`` of OVCLIPSegmentor and SAM3Segmentor, read as mmseg's
EncoderDecoder reads it (mode, crop_size, stride)."""
import copy
import os.path as osp
import warnings

import pytest
import torch

from conftest import REPO_ROOT
from fixtures.tiny_models import TINY_BACKBONE
from fixtures.tiny_sam3 import TINY_SAM3_BACKBONE


def _clip(**kw):
    from mmseg.registry import MODELS
    cfg = dict(type='OVCLIPSegmentor', backbone=copy.deepcopy(TINY_BACKBONE),
               class_names='road;building;tree', templates='simple_imagenet')
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


def _sam3(**kw):
    from mmseg.registry import MODELS
    cfg = dict(type='SAM3Segmentor',
               backbone=copy.deepcopy(TINY_SAM3_BACKBONE),
               class_names='road;building;tree')
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


def _windows_seen(seg, x):
    """Crop shapes the segmentor sends to its per-window function."""
    seen = []
    if hasattr(seg, 'window_probs'):
        orig = seg.window_probs
        seg.window_probs = lambda c: seen.append(tuple(c.shape[-2:])) or \
            orig(c)
    else:
        orig = seg._crop_logits
        seg._crop_logits = lambda c: seen.extend(
            [tuple(c.shape[-2:])] * len(c)) or orig(c)
    seg.predict(x)
    return seen


def test_ovclip_honours_test_cfg_like_encoder_decoder(mmseg_scope):
    x = torch.randn(1, 3, 96, 80)
    # mmseg's grid for crop (64, 48), stride (32, 32): 2 x 2 windows
    seg = _clip(test_cfg=dict(mode='slide', crop_size=(64, 48),
                              stride=(32, 32)))
    assert seg.test_cfg.crop_size == (64, 48)
    assert _windows_seen(seg, x) == [(64, 48)] * 4
    seg = _clip(test_cfg=dict(mode='whole'))
    assert _windows_seen(seg, x) == [(96, 80)]
    # the default is the authors' slide: 224 / 112
    assert _clip().test_cfg.to_dict() == dict(
        mode='slide', crop_size=(224, 224), stride=(112, 112))


def test_sam3_honours_test_cfg(mmseg_scope):
    x = torch.randn(1, 3, 96, 128)
    assert _windows_seen(_sam3(), x) == [(96, 128)]  # default: whole
    seg = _sam3(test_cfg=dict(mode='slide', crop_size=64))
    assert seg.test_cfg.stride == (64, 64)  # stride defaults to the crop
    assert _windows_seen(seg, x) == [(64, 64)] * 4


def test_old_keys_are_aliases_that_warn(mmseg_scope):
    with pytest.warns(FutureWarning, match='slide_crop=32 is an old alias '
                      'of test_cfg.crop_size'):
        seg = _clip(slide_crop=32, slide_stride=16)
    assert seg.test_cfg.to_dict() == dict(mode='slide', crop_size=(32, 32),
                                          stride=(16, 16))
    with pytest.warns(FutureWarning, match="mode='whole' is an old alias"):
        assert _clip(mode='whole').test_cfg.mode == 'whole'
    with pytest.warns(FutureWarning):
        assert _sam3(slide_crop=0, slide_stride=0).test_cfg.mode == 'whole'
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the new keys do not warn
        _clip(test_cfg=dict(mode='slide', crop_size=32, stride=16))


def test_config_override_reaches_the_model(mmseg_scope):
    """``--cfg-options model.test_cfg.mode=whole`` on a shipped config
    switches the windows (before, the top-level keys won silently)."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'segearth',
                                   'potsdam.py'))
    assert cfg.model.test_cfg.to_dict() == dict(
        mode='slide', crop_size=(224, 224), stride=(112, 112))
    cfg.merge_from_dict({'model.test_cfg.mode': 'whole',
                         'model.backbone': copy.deepcopy(TINY_BACKBONE),
                         'model.templates': 'simple_imagenet'})
    with warnings.catch_warnings():
        warnings.simplefilter('error', FutureWarning)
        seg = MODELS.build(cfg.model)
    assert seg.test_cfg.mode == 'whole'
