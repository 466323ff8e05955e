"""set_vocabulary / dataset_meta on the 2D segmentors: a new vocabulary needs
no rebuild, gives what a fresh build gives, and names the classes."""
import copy

import pytest
import torch

from fixtures.tiny_models import TINY_BACKBONE
from fixtures.tiny_sam3 import TINY_SAM3_BACKBONE


def build_clip(classes, **kw):
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    cfg = dict(type='OVCLIPSegmentor', backbone=copy.deepcopy(TINY_BACKBONE),
               class_names=classes, templates='simple_imagenet',
               test_cfg=dict(mode='slide', crop_size=64, stride=32))
    cfg.update(kw)
    return MODELS.build(cfg).eval()


def build_sam3(classes):
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='SAM3Segmentor', backbone=copy.deepcopy(TINY_SAM3_BACKBONE),
        class_names=classes, decode_head=dict(
            type='DualHeadFusionDecoder', confidence_threshold=0.0))).eval()


def test_clip_switch_equals_fresh_build_and_is_memoised(mmseg_scope):
    a, b = 'road,parking lot;building;tree', 'water;boat,ship'
    seg = build_clip(a)
    x = torch.randn(1, 3, 80, 96)
    seg.set_vocabulary(b)
    fresh = build_clip(b)
    assert torch.equal(seg.text_embeds, fresh.text_embeds)
    p1 = seg.predict(x)[0].seg_logits.data
    p2 = fresh.predict(x)[0].seg_logits.data
    assert p1.shape == (2, 80, 96) and torch.equal(p1, p2)
    assert seg.dataset_meta['classes'] == ['water', 'boat']
    assert len(seg.dataset_meta['palette']) == 2
    calls = []
    enc = seg.backbone.encode_text
    seg.backbone.encode_text = lambda p: calls.append(1) or enc(p)
    seg.set_vocabulary(a)  # seen before: no text encoding
    assert seg.dataset_meta['classes'] == ['road', 'building', 'tree']
    seg.set_vocabulary(b)
    assert calls == []


def test_bg_idx_checked_against_new_vocabulary(mmseg_scope):
    seg = build_clip('a;b;c;d', bg_idx=3)
    with pytest.raises(ValueError, match='bg_idx=3'):
        seg.set_vocabulary('x;y')
    assert seg.num_classes == 4  # unchanged after the error
    seg.set_vocabulary('x;y', bg_idx=1)
    assert seg.bg_idx == 1 and seg.num_classes == 2


def test_dataset_meta_assignment_keeps_vocabulary_names(mmseg_scope):
    seg = build_clip('road;building')
    with pytest.warns(UserWarning, match='vocabulary'):
        seg.dataset_meta = dict(classes=['sky', 'person', 'car'],
                                palette=[[0, 0, 0]] * 3)
    assert seg.dataset_meta['classes'] == ['road', 'building']
    seg.dataset_meta = dict(classes=['road', 'building'],
                            palette=[[1, 2, 3], [4, 5, 6]])
    assert seg.dataset_meta['palette'] == [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(ValueError, match='palette'):
        seg.set_vocabulary('a;b', palette=[[1, 2, 3]])


def test_sam3_switch_equals_fresh_build(mmseg_scope):
    seg = build_sam3('road;building,house')
    x = torch.randn(1, 3, 64, 64)
    seg.set_vocabulary('tree;car,vehicle;water')
    fresh = build_sam3('tree;car,vehicle;water')
    p1 = seg.predict(x)[0].seg_logits.data
    p2 = fresh.predict(x)[0].seg_logits.data
    assert p1.shape == (3, 64, 64)
    torch.testing.assert_close(p1, p2)
    assert seg.dataset_meta['classes'] == ['tree', 'car', 'water']
