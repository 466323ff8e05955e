import copy

import torch

from fixtures.tiny_sam3 import TINY_SAM3_BACKBONE


def build(**kw):
    from mmseg.registry import MODELS
    cfg = dict(type='SAM3Segmentor', backbone=copy.deepcopy(TINY_SAM3_BACKBONE),
               class_names='road;building,house;tree;car',
               decode_head=dict(type='DualHeadFusionDecoder',
                                confidence_threshold=0.0))
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


def test_batched_prompts_equal_per_word_loop(mmseg_scope):
    seg = build()
    x = torch.randn(1, 3, 96, 128)
    batched = seg.encode_decode(x, [])
    seg.batched_prompts = False
    single = seg.encode_decode(x, [])
    assert batched.shape == (1, 5, 96, 128)
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)


def test_vision_features_computed_once_per_window(mmseg_scope):
    seg = build(test_cfg=dict(mode='slide', crop_size=64, stride=64))
    calls = []
    orig = seg.backbone.encode_image
    seg.backbone.encode_image = lambda p: calls.append(p.shape) or orig(p)
    out = seg.predict(torch.randn(1, 3, 96, 128))[0]
    # windows: rows (0,64),(32,96) x cols (0,64),(64,128) -> 4
    assert len(calls) == 4 and all(c[-1] == 224 for c in calls)
    assert out.pred_sem_seg.data.shape == (1, 96, 128)
    assert out.seg_logits.data.shape == (4, 96, 128)


def test_slide_merging_is_mean_of_windows(mmseg_scope):
    seg = build(test_cfg=dict(mode='slide', crop_size=64, stride=32))
    seg.window_probs = lambda crop: crop.mean().expand(5, *crop.shape[-2:])
    x = torch.zeros(1, 3, 64, 96)
    x[..., :, :32] = 3.0
    out = seg.encode_decode(x, [])
    # windows cols [0,64) mean 1.5, [32,96) mean 0
    assert torch.allclose(out[0, 0, 0, 10], torch.tensor(1.5))
    assert torch.allclose(out[0, 0, 0, 40], torch.tensor(0.75))
    assert torch.allclose(out[0, 0, 0, 80], torch.tensor(0.0))


def test_keep_ratio_mode_and_thresholding(mmseg_scope):
    seg = build(resize_mode='keep_ratio', prob_thd=1.0, bg_idx=2)
    out = seg.predict(torch.randn(1, 3, 50, 100))[0]
    assert out.pred_sem_seg.data.shape == (1, 50, 100)
    assert (out.pred_sem_seg.data == 2).all()  # every score < 1


def test_weights_dir_missing_is_clear(mmseg_scope, tmp_path):
    import pytest

    from ovseg_plugins.utils import WeightsNotFoundError
    with pytest.raises(WeightsNotFoundError, match='sam3_missing'):
        build(backbone=dict(type='HFSam3',
                            pretrained=str(tmp_path / 'sam3_missing')))


def test_loads_from_pretrained_dir(mmseg_scope, tmp_path):
    """Real weight-loading path: save a random tiny model + a CLIP tokenizer
    built from open_clip's BPE, reload it with from_pretrained."""
    seg = build()
    d = tmp_path / 'sam3_tiny'
    seg.backbone.model.save_pretrained(d)
    from transformers import CLIPTokenizerFast  # noqa: F401
    import pytest
    pytest.importorskip('tokenizers')
    _save_clip_tokenizer(d)
    seg2 = build(backbone=dict(type='HFSam3', pretrained=str(d)))
    for (k, v), (k2, v2) in zip(seg.backbone.model.state_dict().items(),
                                seg2.backbone.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    ids, mask = seg2.backbone.tokenize(['road', 'small car'])
    assert ids.shape == (2, 32) and mask.sum(1).tolist()[0] < mask.sum(
        1).tolist()[1]


def _save_clip_tokenizer(d):
    """Write CLIP vocab/merges (from open_clip's bundled BPE) + tokenizer."""
    import gzip
    import json

    from open_clip.tokenizer import bytes_to_unicode, default_bpe
    from transformers import CLIPTokenizer
    merges = gzip.open(default_bpe()).read().decode('utf-8').split('\n')
    merges = merges[1:49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + '</w>' for v in vocab]
    vocab += [''.join(m) for m in merges]
    vocab += ['<|startoftext|>', '<|endoftext|>']
    (d / 'vocab.json').write_text(json.dumps(
        {t: i for i, t in enumerate(vocab)}))
    (d / 'merges.txt').write_text('#version: 0.2\n' + '\n'.join(
        ' '.join(m) for m in merges) + '\n')
    tok = CLIPTokenizer(str(d / 'vocab.json'), str(d / 'merges.txt'),
                        pad_token='<|endoftext|>')
    tok.save_pretrained(d)


def _authors_sam3_pixels(img_u8, size):
    """The authors' Sam3Processor transform on a uint8 (3, H, W) image."""
    from torchvision.transforms import v2
    t = v2.Compose([v2.ToDtype(torch.uint8, scale=True),
                    v2.Resize(size=size),
                    v2.ToDtype(torch.float32, scale=True),
                    v2.Normalize(mean=[0.5] * 3, std=[0.5] * 3)])
    return t(img_u8)


def test_sam3_resize_of_a_large_image_equals_torchvision_uint8(mmseg_scope):
    g = torch.Generator().manual_seed(0)
    # a 2000 x 3000 image: smooth gradients + texture (aliasing matters)
    yy, xx = torch.meshgrid(torch.arange(2000.), torch.arange(3000.),
                            indexing='ij')
    base = 127.5 + 100 * torch.sin(xx / 7.) * torch.cos(yy / 11.)
    img = (base[None] + 20 * torch.randn(3, 2000, 3000, generator=g)
           ).round().clamp(0, 255).to(torch.uint8)
    ref = _authors_sam3_pixels(img, (1008, 1008))
    seg = build()
    x = (img.float() - 127.5) / 127.5  # the data preprocessor's output
    pix = seg.resize_input(x[None], (1008, 1008))[0]
    assert pix.shape == ref.shape == (3, 1008, 1008)
    assert (pix - ref).abs().max() * 127.5 <= 1.0 + 1e-4  # <= 1 grey level
    # the former resize (bilinear on floats, no antialias) is far off here
    seg_f = build(input_resize='float_bilinear')
    old = seg_f.resize_input(x[None], (1008, 1008))[0]
    assert (old - ref).abs().mean() * 127.5 > 5


def test_window_pixels_follow_the_authors_transform(mmseg_scope):
    seg = build()
    assert seg.input_resize == 'uint8_antialias'
    g = torch.Generator().manual_seed(1)
    img = torch.randint(0, 256, (3, 300, 450), generator=g,
                        dtype=torch.uint8)
    seen = []
    orig = seg.backbone.encode_image
    seg.backbone.encode_image = lambda p: seen.append(p) or orig(p)
    seg.encode_decode(((img.float() - 127.5) / 127.5)[None], [])
    ref = _authors_sam3_pixels(img, (224, 224))
    assert (seen[0][0] - ref).abs().max() * 127.5 <= 1.0 + 1e-4
    import pytest
    with pytest.raises(ValueError, match='input_resize'):
        build(input_resize='nearest')


def test_bf16_autocast_option(mmseg_scope):
    import pytest
    x = torch.randn(1, 3, 64, 80, generator=torch.Generator().manual_seed(2))
    fp32 = build().encode_decode(x, [])
    seg = build(autocast_dtype='bf16')
    # CPU stays fp32: the option changes nothing here
    assert torch.equal(seg.encode_decode(x, []), fp32)
    # the autocast path a GPU parity run takes, exercised on the CPU
    seg.autocast_devices = ('cpu', 'cuda')
    dtypes = []
    lin = next(m for m in seg.backbone.model.modules()
               if isinstance(m, torch.nn.Linear))
    lin.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    try:
        out = seg.encode_decode(x, [])
    except RuntimeError as e:  # an op without a CPU bf16 kernel
        pytest.skip(f'bf16 autocast not supported on this CPU build: {e}')
    assert dtypes and dtypes[0] == torch.bfloat16
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert not torch.equal(out, fp32)
    assert (out - fp32).abs().max() < 0.25  # bf16 rounding only
