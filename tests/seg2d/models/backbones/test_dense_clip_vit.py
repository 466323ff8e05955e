import copy
import math

import pytest
import torch
import torch.nn.functional as F

from fixtures.tiny_models import TINY_BACKBONE, TINY_CLIP_CFG, TINY_CLIP_NAME


def build(mmseg_scope=None, **kw):
    """Build, then load the named weights (what the first forward does)."""
    from mmseg.registry import MODELS
    cfg = copy.deepcopy(TINY_BACKBONE)
    cfg.update(kw)
    torch.manual_seed(0)
    bb = MODELS.build(cfg).eval()
    bb.ensure_weights()
    return bb


def reference_last_block(bb, x_tokens, mode):
    """Independent per-head loop implementation of the surgery."""
    blk = bb.visual.transformer.resblocks[-1]
    y = blk.ln_1(x_tokens)
    W, b = blk.attn.in_proj_weight, blk.attn.in_proj_bias
    C = y.shape[-1]
    q, k, v = (F.linear(y, W[i * C:(i + 1) * C], b[i * C:(i + 1) * C])
               for i in range(3))
    h = bb.num_heads
    d = C // h
    outs = []
    for i in range(h):
        qi, ki, vi = (t[..., i * d:(i + 1) * d] for t in (q, k, v))
        s = d**-0.5
        sm = lambda a, c: torch.softmax(a @ c.transpose(-1, -2) * s, -1)  # noqa
        if mode == 'segearth':
            A = sm(qi, qi) + sm(ki, ki) + sm(vi, vi)
        elif mode == 'sclip':
            A = sm(qi, qi) + sm(ki, ki)
        elif mode == 'clearclip':
            A = sm(qi, qi)
        elif mode == 'vanilla':
            A = sm(qi, ki)
        outs.append(vi if mode == 'maskclip' else A @ vi)
    return blk.attn.out_proj(torch.cat(outs, -1))


def tokens_before_last(bb, x):
    v = bb.visual
    t = v.conv1(x).flatten(2).transpose(1, 2)
    t = torch.cat([v.class_embedding.expand(x.shape[0], 1, -1), t], 1)
    t = v.ln_pre(t + v.positional_embedding)
    for blk in v.transformer.resblocks[:-1]:
        t = blk(t)
    return t


def test_vanilla_full_block_matches_open_clip(mmseg_scope):
    bb = build(attn_mode='vanilla', ignore_residual=False)
    x = torch.randn(2, 3, 224, 224)
    patch, cls = bb(x)
    ref = bb.visual(x)  # the unmodified open_clip tower: pooled CLS embedding
    assert patch.shape == (2, 64, 14, 14) and cls.shape == (2, 64)
    assert torch.allclose(cls, ref, atol=1e-5)


@pytest.mark.parametrize('mode', ['vanilla', 'maskclip', 'sclip', 'clearclip',
                                  'segearth'])
def test_surgery_modes_match_reference(mmseg_scope, mode):
    bb = build(attn_mode=mode, ignore_residual=True)
    x = torch.randn(2, 3, 224, 224)
    patch, cls = bb(x)
    with torch.no_grad():
        out = reference_last_block(bb, tokens_before_last(bb, x), mode)
        out = bb.visual.ln_post(out) @ bb.visual.proj
    assert torch.allclose(cls, out[:, 0], atol=1e-5)
    assert torch.allclose(patch.flatten(2).transpose(1, 2), out[:, 1:],
                          atol=1e-5)


def test_segearth_attention_rows_sum_to_three():
    from ovseg_plugins.seg2d.models.backbones import surgery_attention
    q, k = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    v = torch.ones(1, 2, 5, 4)  # A @ 1 = row sums of A
    out = surgery_attention(q, k, v, 'segearth')
    assert torch.allclose(out, torch.full_like(out, 3.0), atol=1e-6)


def _cubic_resize_matrix(n, m, a=-0.75):
    """(m, n) weights of 1-D cubic convolution (Keys, a = -0.75), half-pixel
    centres, border samples repeated: an independent reference for
    ``F.interpolate(mode='bicubic', align_corners=False)``."""
    W = torch.zeros(m, n, dtype=torch.float64)
    for i in range(m):
        src = (i + 0.5) * n / m - 0.5
        f = math.floor(src)
        for k in range(-1, 3):
            x = abs(src - (f + k))
            w = ((a + 2) * x - (a + 3)) * x * x + 1 if x <= 1 else \
                a * (x ** 3 - 5 * x * x + 8 * x - 4) if x < 2 else 0.
            W[i, min(max(f + k, 0), n - 1)] += w
    return W


@pytest.mark.parametrize('grid', [(28, 20), (9, 11)])
def test_any_crop_size_interpolates_positions(mmseg_scope, grid):
    bb = build()
    gh, gw = grid
    patch, cls = bb(torch.randn(1, 3, 16 * gh, 16 * gw))
    assert patch.shape == (1, 64, gh, gw) and cls.shape == (1, 64)
    assert torch.isfinite(patch).all()
    # values: the CLS row is kept and the 14x14 patch grid is resized
    # bicubically, rows along H and columns along W
    pos = bb.visual.positional_embedding.detach().double()
    grid0 = pos[1:].reshape(14, 14, -1).permute(2, 0, 1)
    ref = _cubic_resize_matrix(14, gh) @ grid0 @ _cubic_resize_matrix(14, gw).T
    ours = bb.interpolate_pos_embed(gh, gw).detach().double()
    assert torch.equal(ours[0], pos[0])
    torch.testing.assert_close(
        ours[1:], ref.permute(1, 2, 0).reshape(gh * gw, -1),
        rtol=1e-5, atol=1e-6)
    # the native grid is used as it is
    assert bb.interpolate_pos_embed(14, 14) is bb.visual.positional_embedding


def test_errors_on_bad_input(mmseg_scope):
    bb = build()
    with pytest.raises(ValueError, match='3 channels'):
        bb(torch.randn(1, 4, 224, 224))
    with pytest.raises(ValueError, match='multiple of the patch size'):
        bb(torch.randn(1, 3, 225, 224))
    with pytest.raises(ValueError, match='attn_mode'):
        build(attn_mode='foo')


def test_loads_weights_from_local_file(mmseg_scope, tmp_path):
    import open_clip
    src = build()  # registers the tiny architecture
    torch.manual_seed(123)
    ref = open_clip.create_model(TINY_CLIP_NAME)
    path = tmp_path / 'tiny_clip.pt'
    torch.save(ref.state_dict(), path)
    bb = build(pretrained=str(path))
    assert bb.weights_id.startswith('sha256:')
    for (n, p), (n2, p2) in zip(ref.visual.state_dict().items(),
                                bb.visual.state_dict().items()):
        assert n == n2 and torch.equal(p, p2)
    tok = open_clip.get_tokenizer(TINY_CLIP_NAME)(['a photo of a road.'])
    assert torch.allclose(bb.encode_text(['a photo of a road.']),
                          ref.encode_text(tok), atol=1e-6)
    assert not torch.equal(src.visual.proj, bb.visual.proj)


def test_missing_weights_file_is_clear(mmseg_scope, tmp_path):
    from ovseg_plugins.utils import WeightsNotFoundError
    with pytest.raises(WeightsNotFoundError, match='missing.pt'):
        build(pretrained=str(tmp_path / 'missing.pt'))


def test_tag_offline_raises_instead_of_downloading(mmseg_scope):
    from ovseg_plugins.utils import WeightsNotFoundError
    with pytest.raises(WeightsNotFoundError, match='not in the local cache'):
        build(model_name='ViT-B-16', model_cfg=None, pretrained='openai')


def test_checkpoint_of_another_architecture(mmseg_scope, tmp_path):
    other = dict(TINY_CLIP_CFG, embed_dim=32)
    from ovseg_plugins.utils.open_clip_loader import \
        build_open_clip
    m, _ = build_open_clip('ovseg-tiny-other', model_cfg=other)
    path = tmp_path / 'other.pt'
    torch.save(m.state_dict(), path)
    with pytest.raises(ValueError, match='other.pt'):
        build(pretrained=str(path))


def test_truncated_checkpoint(mmseg_scope, tmp_path):
    path = tmp_path / 'trunc.pt'
    torch.save({'w': torch.randn(1000)}, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match='trunc.pt'):
        build(pretrained=str(path))
