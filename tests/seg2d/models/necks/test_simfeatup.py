import pytest
import torch

from ovseg_plugins.seg2d.models.necks import (JBUStack, SimFeatUp,
                                              adaptive_conv,
                                              adaptive_conv_unfold)


@pytest.mark.parametrize('size', [28, 56, 112, 224])
def test_adaptive_conv_equals_unfold_forward_backward(size):
    torch.manual_seed(size)
    k, C, B = 11, 4, 2
    src = torch.randn(B, C, size + k - 1, size + k - 1, requires_grad=True)
    # random per-pixel kernels normalised over the taps, as the JBU's are
    kern = torch.randn(B, size, size, k * k).softmax(-1).view(
        B, size, size, k, k).requires_grad_()
    a = adaptive_conv(src, kern)
    b = adaptive_conv_unfold(src, kern)
    assert (a - b).abs().max() <= 1e-5
    g = torch.randn_like(a)
    ga = torch.autograd.grad(a, (src, kern), g)
    gb = torch.autograd.grad(b, (src, kern), g)
    for x, y in zip(ga, gb):
        assert (x - y).abs().max() <= 1e-5


def test_every_stage_of_simfeatup_matches_unfold_reference():
    torch.manual_seed(0)
    loop = SimFeatUp(feat_dim=8).train()  # dropout off below via eval
    ref = SimFeatUp(feat_dim=8, impl='unfold')
    ref.load_state_dict(loop.state_dict())
    loop.eval(), ref.eval()
    feats = torch.randn(1, 8, 14, 14, requires_grad=True)
    img = torch.randn(1, 3, 224, 224)
    x1 = x2 = feats
    for i in range(4):  # stage by stage
        size = (x1.shape[-2] * 2, ) * 2
        g = torch.nn.functional.adaptive_avg_pool2d(img, size)
        x1, x2 = loop.up(x1, g), ref.up(x2, g)
        assert (x1 - x2).abs().max() <= 1e-5, f'stage {i}'
    (gl, ) = torch.autograd.grad(x1.sum(), feats)
    (gr, ) = torch.autograd.grad(x2.sum(), feats)
    assert (gl - gr).abs().max() <= 1e-4
    pl = torch.autograd.grad(loop(feats, img).square().mean(),
                             list(loop.parameters()))
    pr = torch.autograd.grad(ref(feats, img).square().mean(),
                             list(ref.parameters()))
    for a, b in zip(pl, pr):
        assert (a - b).abs().max() <= 1e-5


@pytest.mark.parametrize('patch,grid', [(16, 14), (32, 7), (14, 16)])
def test_stage_count_follows_patch_size(patch, grid):
    m = SimFeatUp(feat_dim=4).eval()
    calls = []
    m.up.register_forward_hook(lambda mod, i, o: calls.append(o.shape[-1]))
    out = m(torch.randn(1, 4, grid, grid), torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 4, 224, 224)
    expected = {16: [28, 56, 112, 224], 32: [14, 28, 56, 112, 224],
                14: [32, 64, 128, 256]}[patch]
    assert calls == expected


def test_parameter_counts_match_the_authors():
    assert sum(p.numel() for p in SimFeatUp(512).parameters()) == 293729
    assert sum(p.numel() for p in JBUStack(512).parameters()) == 287588


def test_wrong_channel_count():
    with pytest.raises(ValueError, match='feat_dim'):
        SimFeatUp(feat_dim=8)(torch.randn(1, 4, 14, 14),
                              torch.randn(1, 3, 224, 224))


def _authors_ckpt(module, path, prefix='upsampler.', extra=None):
    sd = {prefix + k: v for k, v in module.state_dict().items()}
    sd.update(extra or {})
    torch.save({'state_dict': sd, 'epoch': 1, 'global_step': 100,
                'pytorch-lightning_version': '1.9.4',
                'hyper_parameters': {'upsampler_type': 'jbu_one'}}, path)


def test_loads_segearth_ckpt_format(tmp_path):
    torch.manual_seed(1)
    src = SimFeatUp(feat_dim=16)
    p = tmp_path / 'xclip_jbu_one_million_aid.ckpt'
    _authors_ckpt(src, p)
    for m in (SimFeatUp(feat_dim=16, checkpoint=str(p)),
              SimFeatUp(feat_dim=16,
                        init_cfg=dict(type='Pretrained', checkpoint=str(p)))):
        m.init_weights()
        for k, v in src.state_dict().items():
            assert torch.equal(m.state_dict()[k], v)


def test_loads_featup_jbu_stack_ckpt(tmp_path):
    torch.manual_seed(2)
    src = JBUStack(feat_dim=16)
    p = tmp_path / 'clip_jbu_stack_cocostuff.ckpt'
    _authors_ckpt(src, p)
    m = JBUStack(feat_dim=16, checkpoint=str(p))
    assert torch.equal(m.up3.range_proj[0].weight, src.up3.range_proj[0].weight)


def test_strict_key_errors(tmp_path):
    p = tmp_path / 'stack.ckpt'
    _authors_ckpt(JBUStack(feat_dim=16), p)
    with pytest.raises(KeyError, match=r'missing keys: .*up\.') as e:
        SimFeatUp(feat_dim=16, checkpoint=str(p))
    assert 'unexpected keys' in str(e.value) and 'up1.' in str(e.value)
    p2 = tmp_path / 'wrong_dim.ckpt'
    _authors_ckpt(SimFeatUp(feat_dim=8), p2)
    with pytest.raises(KeyError, match='shape mismatches'):
        SimFeatUp(feat_dim=16, checkpoint=str(p2))


def test_converter_roundtrip(tmp_path):
    import os.path as osp
    import sys

    from conftest import REPO_ROOT
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'model_converters'))
    import simfeatup2ovseg
    torch.manual_seed(3)
    src = SimFeatUp(feat_dim=16)
    p = tmp_path / 'authors.ckpt'
    _authors_ckpt(src, p)
    out = tmp_path / 'converted.pth'
    simfeatup2ovseg.main([str(p), str(out), '--type', 'SimFeatUp',
                          '--feat-dim', '16'])
    ck = torch.load(out, weights_only=True)
    assert set(ck['state_dict']) == set(src.state_dict())
    m = SimFeatUp(feat_dim=16, checkpoint=str(out))
    assert torch.equal(m.fixup_proj[1].weight, src.fixup_proj[1].weight)
