"""OVCLIPSegmentor with a parameter-free neck follows the SegEarth-OV
authors' order (likyoo/SegEarth-OV ``segearth_segmentor.py``): normalise the
patch features, cosine logits (+ lambda * CLS logits) at patch resolution,
bilinearly resize the Q-channel logits per crop, average the windows, resize
to the original size, softmax(scale * logits), max over synonyms."""
import copy

import torch
import torch.nn.functional as F

from fixtures.tiny_models import TINY_BACKBONE

CLASSES = 'road,parking lot;building;tree;car'


def build(**kw):
    from mmseg.registry import MODELS
    cfg = dict(type='OVCLIPSegmentor', backbone=copy.deepcopy(TINY_BACKBONE),
               class_names=CLASSES, templates='simple_imagenet',
               test_cfg=dict(mode='slide', crop_size=64, stride=40),
               crop_batch_size=5)
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


@torch.no_grad()
def authors_order_probs(seg, img, crop, stride, lam, scale=50.):
    """Independent reference, one crop at a time like the authors."""
    _, _, H, W = img.shape
    text, p = seg.text_embeds, seg.backbone.patch_size
    Q = text.shape[0]
    preds = torch.zeros(1, Q, H, W)
    count = torch.zeros(1, 1, H, W)
    for i in range(max(H - crop + stride - 1, 0) // stride + 1):
        for j in range(max(W - crop + stride - 1, 0) // stride + 1):
            y2, x2 = min(i * stride + crop, H), min(j * stride + crop, W)
            y1, x1 = max(y2 - crop, 0), max(x2 - crop, 0)
            c = img[:, :, y1:y2, x1:x2]
            h, w = c.shape[-2:]
            ph, pw = (-h) % p, (-w) % p
            pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
            c = F.pad(c, pad)
            patch, cls = seg.backbone(c)  # (1, D, h/p, w/p), (1, D)
            f = patch.flatten(2).transpose(1, 2)  # (1, N, D)
            f = f / f.norm(dim=-1, keepdim=True)
            logits = f @ text.T
            cls = cls / cls.norm(dim=-1, keepdim=True)
            logits = logits + lam * (cls @ text.T)[:, None]
            logits = logits.transpose(1, 2).reshape(1, Q, *patch.shape[-2:])
            logits = F.interpolate(logits, size=c.shape[-2:], mode='bilinear')
            logits = logits[:, :, pad[2]:pad[2] + h, pad[0]:pad[0] + w]
            preds[:, :, y1:y2, x1:x2] += logits
            count[:, :, y1:y2, x1:x2] += 1
    probs = (preds / count)[0].mul(scale).softmax(0)
    q2c = seg.query_to_class
    return torch.stack([probs[q2c == k].max(0)[0]
                        for k in range(int(q2c.max()) + 1)])


def test_bilinear_neck_equals_authors_order(mmseg_scope):
    seg = build()
    torch.manual_seed(1)
    img = torch.randn(1, 3, 90, 110)  # crops need patch padding
    ours = seg.predict(img)[0].seg_logits.data
    ref = authors_order_probs(seg, img, 64, 40, lam=-0.3)
    assert ours.shape == ref.shape == (4, 90, 110)
    assert (ours - ref).abs().max() <= 1e-5


def test_old_order_differs_so_the_test_discriminates(mmseg_scope):
    seg = build()
    torch.manual_seed(1)
    img = torch.randn(1, 3, 90, 110)
    ref = authors_order_probs(seg, img, 64, 40, lam=-0.3)
    seg.neck.parameter_free = False  # this instance: upsample-then-norm
    old = seg.predict(img)[0].seg_logits.data
    assert (old - ref).abs().max() > 1e-3


def test_learned_neck_keeps_upsample_then_normalise(mmseg_scope):
    seg = build(neck=dict(type='SimFeatUp', feat_dim=64, key_dim=8,
                          radius=1))
    assert not getattr(seg.neck, 'parameter_free', False)
    calls = []
    orig = seg.decode_head.forward
    seg.decode_head.forward = lambda f, c, t: calls.append(f.shape) or \
        orig(f, c, t)
    seg.predict(torch.randn(1, 3, 64, 64))
    # the head sees full-resolution (upsampled) features
    assert calls and calls[0][-2:] == (64, 64) and calls[0][1] == 64
