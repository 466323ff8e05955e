"""DualHeadFusionDecoder on hand-made tensors, for every switch."""
import math

import pytest
import torch


def logit(p):
    return math.log(p / (1 - p))


def inputs():
    """One query, two instances, 1x2 pixels (no resizing needed)."""
    # instance masks (prob): inst0 = [0.9, 0.1], inst1 = [0.2, 0.8]
    masks = torch.tensor([[[[logit(.9), logit(.1)]], [[logit(.2), logit(.8)]]]])
    scores = torch.tensor([[logit(.8), logit(.3)]])  # σ = 0.8, 0.3
    presence = torch.tensor([[logit(.5)]])           # σ = 0.5
    sem = torch.tensor([[[[logit(.3), logit(.6)]]]])  # σ = 0.3, 0.6
    return masks, scores, presence, sem


def build(**kw):
    from ovseg_plugins.seg2d.models.decode_heads import DualHeadFusionDecoder
    return DualHeadFusionDecoder(**kw)


def run(**kw):
    return build(**kw)(*inputs(), out_size=(1, 2))[0, 0]


def test_default_authors_fusion(mmseg_scope):
    # s = σ(l)·p = 0.4, 0.15; threshold 0.2 keeps inst0 only
    # P_inst = [0.9·0.4, 0.1·0.4] = [0.36, 0.04]; max with sem [0.3, 0.6]
    # = [0.36, 0.6]; × presence 0.5 = [0.18, 0.30]
    out = run(confidence_threshold=0.2)
    assert torch.allclose(out, torch.tensor([0.18, 0.30]), atol=1e-6)


def test_threshold_drops_all_instances(mmseg_scope):
    out = run(confidence_threshold=0.5)  # 0.4, 0.15 both < 0.5
    assert torch.allclose(out, torch.tensor([0.15, 0.30]), atol=1e-6)


def test_no_semantic_head(mmseg_scope):
    out = run(confidence_threshold=0.1, use_sem_seg=False)
    # both kept: max(0.9·0.4, 0.2·0.15)=0.36, max(0.1·0.4, 0.8·0.15)=0.12
    assert torch.allclose(out, torch.tensor([0.18, 0.06]), atol=1e-6)


def test_no_instances(mmseg_scope):
    out = run(use_transformer_decoder=False)
    assert torch.allclose(out, torch.tensor([0.15, 0.30]), atol=1e-6)


def test_no_presence_gate(mmseg_scope):
    out = run(confidence_threshold=0.2, use_presence_score=False)
    assert torch.allclose(out, torch.tensor([0.36, 0.6]), atol=1e-6)


def test_presence_once(mmseg_scope):
    # s = 0.8, 0.3 (no presence); threshold 0.5 keeps inst0:
    # P_inst = [0.72, 0.08]; max sem -> [0.72, 0.6]; × 0.5 -> [0.36, 0.30]
    out = run(confidence_threshold=0.5, presence_on_instances='once')
    assert torch.allclose(out, torch.tensor([0.36, 0.30]), atol=1e-6)


def test_presence_gates_absent_concepts(mmseg_scope):
    masks, scores, _, sem = inputs()
    dec = build(confidence_threshold=0.2)
    low = dec(masks, scores, torch.tensor([[-20.]]), sem, (1, 2))
    assert low.max() < 1e-6


def test_upsampling_and_bad_switches(mmseg_scope):
    masks, scores, presence, sem = inputs()
    out = build()(masks, scores, presence, sem, (4, 8))
    assert out.shape == (1, 4, 8) and (out >= 0).all() and (out <= 1).all()
    with pytest.raises(ValueError):
        build(use_sem_seg=False, use_transformer_decoder=False)
    with pytest.raises(ValueError):
        build(presence_on_instances='thrice')
