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
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(a)
    ga = torch.autograd.grad(a, (src, kern), g)
    gb = torch.autograd.grad(b, (src, kern), g)
    for x, y in zip(ga, gb):  # kernel gradients sum over C·taps products
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)


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
        torch.testing.assert_close(x1, x2, rtol=1e-5, atol=1e-5,
                                   msg=lambda m: f'stage {i}: {m}')
    # the input gradients reach ~300 after 4 stages of x2 upsampling: an
    # absolute 1e-4 is a few float32 ulps there, so compare relatively
    (gl, ) = torch.autograd.grad(x1.sum(), feats)
    (gr, ) = torch.autograd.grad(x2.sum(), feats)
    torch.testing.assert_close(gl, gr, rtol=1e-5, atol=1e-5)
    pl = torch.autograd.grad(loop(feats, img).square().mean(),
                             list(loop.parameters()))
    pr = torch.autograd.grad(ref(feats, img).square().mean(),
                             list(ref.parameters()))
    for a, b in zip(pl, pr):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


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
    assert m.weights_pending  # loaded on first need
    m.ensure_weights()
    assert torch.equal(m.up3.range_proj[0].weight, src.up3.range_proj[0].weight)


def test_strict_key_errors(tmp_path):
    p = tmp_path / 'stack.ckpt'
    _authors_ckpt(JBUStack(feat_dim=16), p)
    with pytest.raises(KeyError, match=r'missing keys: .*up\.') as e:
        SimFeatUp(feat_dim=16, checkpoint=str(p)).ensure_weights()
    assert 'unexpected keys' in str(e.value) and 'up1.' in str(e.value)
    p2 = tmp_path / 'wrong_dim.ckpt'
    _authors_ckpt(SimFeatUp(feat_dim=8), p2)
    with pytest.raises(KeyError, match='shape mismatches'):
        SimFeatUp(feat_dim=16, checkpoint=str(p2)).ensure_weights()


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
    m.ensure_weights()
    assert torch.equal(m.fixup_proj[1].weight, src.fixup_proj[1].weight)


def test_spatial_kernel_finite_when_sigma_reaches_zero():
    """Regression: trained σ_spatial crosses 0 (oracle training drives it to a
    delta kernel); σ = 0 used to give a NaN centre tap (0/0) and NaN
    features."""
    m = SimFeatUp(feat_dim=4).eval()
    x, img = torch.randn(1, 4, 4, 4), torch.randn(1, 3, 64, 64)
    for s in (0.0, -0.0, 1e-5):
        m.up.sigma_spatial.data.fill_(s)
        k = m.up.spatial_kernel().flatten()
        assert torch.isfinite(k).all() and k[60] == 1 and k.sum() == 1
        assert torch.isfinite(m(x, img)).all()
    # the limit σ -> 0 (and no range kernel influence) is a chain of
    # bicubic ×2 stages
    out = m.up(x, torch.zeros(1, 3, 8, 8))
    ref = torch.nn.functional.interpolate(x, (8, 8), mode='bicubic',
                                          align_corners=False)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    # FeatUp's init is unaffected
    m.up.sigma_spatial.data.fill_(1.0)
    r = torch.linspace(-1, 1, 11)
    g = torch.exp(-(r[:, None]**2 + r[None]**2) / 2).flatten()
    assert torch.allclose(m.up.spatial_kernel().flatten(), g)


def test_upsampling_is_centred():
    """No sub-pixel shift: flip/transpose equivariance with any guidance, and
    a flat guidance stage equals bicubic ×2 then the normalised Gaussian."""
    torch.manual_seed(0)
    m = SimFeatUp(feat_dim=3).eval()
    x, g = torch.randn(1, 3, 6, 6), torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        a = m(x, g)
        close = dict(rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(m(x.flip(-1), g.flip(-1)).flip(-1), a,
                                   **close)
        torch.testing.assert_close(m(x.flip(-2), g.flip(-2)).flip(-2), a,
                                   **close)
        t = m(x.transpose(-1, -2), g.transpose(-1, -2)).transpose(-1, -2)
        torch.testing.assert_close(t, a, **close)
        out = m.up(x, torch.zeros(1, 3, 12, 12))
    hr = torch.nn.functional.interpolate(x, (12, 12), mode='bicubic',
                                         align_corners=False)
    k = m.up.spatial_kernel().view(11, 11)
    k = (k / k.sum()).expand(3, 1, 11, 11)
    ref = torch.nn.functional.conv2d(
        torch.nn.functional.pad(hr, [5] * 4, mode='reflect'), k, groups=3)
    assert (out - ref).abs().max() < 1e-5


def test_neck_slot_reads_the_image_from_the_backbone_tuple(mmseg_scope):
    """In a stock EncoderDecoder the neck gets backbone(inputs) only:
    (patch, cls, image) with DenseCLIPViT(out_image=True)."""
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    for cfg in (dict(type='SimFeatUp', feat_dim=8, zero_init_fixup=False),
                dict(type='BilinearUpsampler')):
        neck = MODELS.build(cfg).eval()
        patch, cls = torch.randn(2, 8, 4, 4), torch.randn(2, 8)
        img = torch.randn(2, 3, 64, 64)
        out = neck((patch, cls, img))
        assert len(out) == 3 and out[1] is cls and out[2] is img
        torch.testing.assert_close(out[0], neck(patch, img))
        with pytest.raises(ValueError, match='out_image=True'):
            neck((patch, cls))
