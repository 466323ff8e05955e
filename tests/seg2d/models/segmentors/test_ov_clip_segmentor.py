import copy

import pytest
import torch
from mmengine.config import ConfigDict

from fixtures.tiny_models import TINY_BACKBONE


def build_segmentor(**kw):
    from mmseg.registry import MODELS
    cfg = dict(type='OVCLIPSegmentor', backbone=copy.deepcopy(TINY_BACKBONE),
               class_names='road,parking lot;building;tree;car',
               templates='simple_imagenet')
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


def test_slide_window_grid():
    from ovseg_plugins.seg2d.models.utils import slide_windows
    w = slide_windows(448, 448, (224, 224), (112, 112))
    assert len(w) == 9 and w[-1] == (224, 448, 224, 448)
    w = slide_windows(300, 500, (224, 224), (112, 112))
    # ny = (300-224+111)//112+1 = 2, nx = (500-224+111)//112+1 = 4
    assert len(w) == 8
    assert all(y2 - y1 == 224 and x2 - x1 == 224 for y1, y2, x1, x2 in w)
    assert max(y2 for _, y2, _, _ in w) == 300
    assert max(x2 for _, _, _, x2 in w) == 500
    # image smaller than the crop: one clipped window
    assert slide_windows(100, 150, (224, 224), (112, 112)) == [(0, 100, 0, 150)]


def test_batched_windows_equal_one_by_one(mmseg_scope):
    seg = build_segmentor(crop_batch_size=64)
    x = torch.randn(2, 3, 300, 260)
    batched = seg.slide_inference(x)
    seg.crop_batch_size = 1
    single = seg.slide_inference(x)
    assert batched.shape == (2, 5, 300, 260)
    assert torch.allclose(batched, single, atol=1e-5)


def test_slide_merge_is_mean_of_overlaps(mmseg_scope):
    seg = build_segmentor(
        test_cfg=dict(mode='slide', crop_size=32, stride=16))
    # make crop logits a known function of the crop: its mean colour
    seg._crop_logits = lambda c: c.mean(dim=(1, 2, 3), keepdim=True).expand(
        c.shape[0], 5, *c.shape[-2:])
    x = torch.zeros(1, 3, 48, 32)
    x[..., :16, :] = 3.0  # rows 0..15
    out = seg.slide_inference(x)
    # windows (rows): [0,32) mean 1.5, [16,48) mean 0. Row 20 is covered by
    # both -> 0.75; row 5 only by the first -> 1.5; row 40 only second -> 0
    assert torch.allclose(out[0, 0, 5], torch.full((32, ), 1.5))
    assert torch.allclose(out[0, 0, 20], torch.full((32, ), 0.75))
    assert torch.allclose(out[0, 0, 40], torch.zeros(32))


def test_postprocess_synonyms_threshold():
    from ovseg_plugins.seg2d.models.segmentors import postprocess_query_logits
    q2c = torch.tensor([0, 0, 1, 2])
    logits = torch.tensor([0.30, 0.29, 0.31, 0.0]).view(4, 1, 1)
    probs, labels = postprocess_query_logits(logits, q2c, 3, logit_scale=50.)
    sm = torch.softmax(logits.view(4) * 50, 0)
    assert torch.allclose(probs.view(3), torch.stack(
        [max(sm[0], sm[1]), sm[2], sm[3]]))
    assert labels.item() == 1  # softmax over queries first: synonyms split
    _, labels = postprocess_query_logits(logits, q2c, 3, 50., prob_thd=0.9,
                                         bg_idx=2)
    assert labels.item() == 2


def test_predict_resizes_to_ori_shape(mmseg_scope):
    from mmseg.structures import SegDataSample
    seg = build_segmentor(prob_thd=0.0)
    x = torch.randn(1, 3, 224, 336)
    ds = SegDataSample(metainfo=dict(ori_shape=(300, 450),
                                     img_shape=(224, 336)))
    out = seg.predict(x, [ds])[0]
    assert out.pred_sem_seg.data.shape == (1, 300, 450)
    assert out.seg_logits.data.shape == (4, 300, 450)
    assert out.pred_sem_seg.data.max() < 4


def test_whole_mode_and_batch(mmseg_scope):
    seg = build_segmentor(test_cfg=dict(mode='whole'))
    x = torch.randn(2, 3, 100, 120)
    out = seg.predict(x)
    assert len(out) == 2 and out[1].pred_sem_seg.data.shape == (1, 100, 120)
    whole = seg.whole_inference(x)
    for i in range(2):  # a batch gives each image's single-image logits
        torch.testing.assert_close(whole[i:i + 1],
                                   seg.whole_inference(x[i:i + 1]),
                                   rtol=1e-4, atol=1e-5)
    # a slide whose one (clipped) window covers the image equals whole mode
    seg.test_cfg = ConfigDict(mode='slide', crop_size=(224, 224),
                              stride=(112, 112))
    torch.testing.assert_close(seg.slide_inference(x), whole,
                               rtol=1e-4, atol=1e-5)


def test_set_vocabulary_and_errors(mmseg_scope):
    seg = build_segmentor()
    seg.set_vocabulary(['water', 'land'])
    assert seg.text_embeds.shape == (2, 64) and seg.num_classes == 2
    with pytest.raises(ValueError, match='bg_idx'):
        build_segmentor(bg_idx=7)
    with pytest.raises(NotImplementedError, match='training-free'):
        seg.loss(None, None)


def test_pad_to_patch_multiple_roundtrip():
    from ovseg_plugins.seg2d.models.utils import pad_to_multiple, unpad
    x = torch.randn(2, 3, 100, 90)
    p, pad = pad_to_multiple(x, 16)
    assert p.shape[-2:] == (112, 96) and pad == (3, 3, 6, 6)
    assert torch.equal(unpad(p, pad), x)
    assert torch.equal(p[..., :6, :], torch.zeros_like(p[..., :6, :]))


def test_crop_not_patch_multiple(mmseg_scope):
    """100-px crops (not a multiple of the 16-px patch) are padded inside;
    the merged map is, per pixel, the mean of the logits of the windows
    covering it, each window segmented on its own."""
    seg = build_segmentor(
        test_cfg=dict(mode='slide', crop_size=100, stride=50))
    x = torch.randn(1, 3, 150, 130)
    out = seg.slide_inference(x)
    assert out.shape == (1, 5, 150, 130) and torch.isfinite(out).all()
    ref, count = torch.zeros_like(out), torch.zeros(150, 130)
    # mmseg's grid: 2 x 2 windows, the last ones shifted back inside
    for y1, y2, x1, x2 in [(0, 100, 0, 100), (0, 100, 30, 130),
                           (50, 150, 0, 100), (50, 150, 30, 130)]:
        ref[..., y1:y2, x1:x2] += seg.whole_inference(x[..., y1:y2, x1:x2])
        count[y1:y2, x1:x2] += 1
    torch.testing.assert_close(out, ref / count, rtol=1e-4, atol=1e-5)


def test_text_cache_hit_on_second_build(mmseg_scope, tmp_path):
    import open_clip
    from fixtures.tiny_models import TINY_CLIP_NAME
    build_segmentor()  # registers the tiny architecture
    torch.manual_seed(5)
    path = tmp_path / 'w.pt'
    torch.save(open_clip.create_model(TINY_CLIP_NAME).state_dict(), path)
    bb = dict(copy.deepcopy(TINY_BACKBONE), pretrained=str(path))
    a = build_segmentor(backbone=bb, text_cache_dir=str(tmp_path / 'c'))
    assert a.text_cache.misses == 0  # text embeddings on first need
    a.text_embeds
    assert a.text_cache.misses == 1 and a.text_cache.hits == 0
    b = build_segmentor(backbone=bb, text_cache_dir=str(tmp_path / 'c'))
    b.text_embeds
    assert b.text_cache.hits == 1 and b.text_cache.misses == 0
    assert torch.equal(a.text_embeds, b.text_embeds)
