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
    assert (batched - single).abs().max() <= 1e-5


def test_vision_features_computed_once_per_window(mmseg_scope):
    seg = build(slide_crop=64, slide_stride=64)
    calls = []
    orig = seg.backbone.encode_image
    seg.backbone.encode_image = lambda p: calls.append(p.shape) or orig(p)
    out = seg.predict(torch.randn(1, 3, 96, 128))[0]
    # windows: rows (0,64),(32,96) x cols (0,64),(64,128) -> 4
    assert len(calls) == 4 and all(c[-1] == 224 for c in calls)
    assert out.pred_sem_seg.data.shape == (1, 96, 128)
    assert out.seg_logits.data.shape == (4, 96, 128)


def test_slide_merging_is_mean_of_windows(mmseg_scope):
    seg = build(slide_crop=64, slide_stride=32)
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
