import pytest
import torch
import torch.nn.functional as F


def test_hand_computed_logits(mmseg_scope):
    from ovseg_plugins.seg2d.models.decode_heads import CLSRemovalHead
    head = CLSRemovalHead(cls_token_lambda=-0.3)
    feats = torch.tensor([[3., 4.], [0., 2.]]).reshape(1, 2, 1, 2)  # (C, W)
    # pixel 0 = (3, 0), pixel 1 = (4, 2)
    cls = torch.tensor([[0., 5.]])
    text = torch.tensor([[1., 0.], [0., 1.]])
    out = head(feats, cls, text)
    # cos(pixel, text) + -0.3 * cos(cls, text): cls unit = (0, 1)
    p1 = F.normalize(torch.tensor([4., 2.]), dim=0)
    expected = torch.tensor([[[1.0, p1[0]]], [[0.0 - 0.3, p1[1] - 0.3]]])
    assert torch.allclose(out[0], expected, atol=1e-6)


def test_lambda_zero_is_plain_cosine(mmseg_scope):
    from ovseg_plugins.seg2d.models.decode_heads import CLSRemovalHead
    feats, cls = torch.randn(2, 8, 3, 3), torch.randn(2, 8)
    text = F.normalize(torch.randn(4, 8), dim=-1)
    out = CLSRemovalHead(cls_token_lambda=0)(feats, cls, text)
    ref = torch.einsum('bchw,qc->bqhw', F.normalize(feats, dim=1), text)
    assert torch.allclose(out, ref, atol=1e-6)


def test_dim_mismatch(mmseg_scope):
    from ovseg_plugins.seg2d.models.decode_heads import CLSRemovalHead
    with pytest.raises(ValueError, match='feature dim'):
        CLSRemovalHead()(torch.randn(1, 8, 2, 2), torch.randn(1, 8),
                         torch.randn(3, 6))


# ---------------------------------------------------------------- stock slot
NAMES = 'road,parking lot;building;tree;car'


def _samples(n, h, w):
    from mmseg.structures import SegDataSample
    return [SegDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w)))
            for _ in range(n)]


def _pair(tmp_path, **head):
    """OVCLIPSegmentor and a stock EncoderDecoder on the same tiny CLIP."""
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS

    from fixtures.tiny_models import (TINY_BACKBONE, save_tiny_clip,
                                      tiny_stock_segearth)
    clip = save_tiny_clip(tmp_path / 'tiny_clip.pt')
    ours = MODELS.build(dict(
        type='OVCLIPSegmentor', backbone=dict(TINY_BACKBONE, pretrained=clip),
        class_names=NAMES, templates='simple_imagenet', mode='whole',
        **head)).eval()
    # the stock EncoderDecoder runs neck then head (upsample, then cosine);
    # our segmentor computes a parameter-free neck's logits at patch
    # resolution (the authors' order): compare in the stock order
    ours.neck.parameter_free = False
    stock = MODELS.build(ConfigDict(tiny_stock_segearth(clip, NAMES,
                                                        **head))).eval()
    return ours, stock


def test_stock_encoder_decoder_equals_ov_clip_segmentor(mmseg_scope,
                                                        tmp_path):
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    ours, stock = _pair(tmp_path)
    assert isinstance(stock.decode_head, BaseDecodeHead)
    assert (stock.num_classes, stock.out_channels) == (4, 4)
    assert stock.align_corners is False
    assert not list(stock.decode_head.parameters())  # no conv_seg
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 96)
    a = ours.predict(x, _samples(2, 64, 96))
    b = stock.predict(x, _samples(2, 64, 96))
    for da, db in zip(a, b):
        # stock seg_logits are class log-probabilities: exp = ours
        torch.testing.assert_close(db.seg_logits.data.exp(),
                                   da.seg_logits.data, rtol=1e-5, atol=1e-6)
        assert torch.equal(da.pred_sem_seg.data, db.pred_sem_seg.data)
    # EncoderDecoder._forward (tensor mode) goes through head.forward(tuple)
    assert stock._forward(x).shape == (2, 4, 64, 96)


def test_stock_prob_thd_background_labels_equal(mmseg_scope, tmp_path):
    ours, stock = _pair(tmp_path, prob_thd=0.5, bg_idx=1)
    torch.manual_seed(2)
    x = torch.randn(1, 3, 48, 48)
    la = ours.predict(x, _samples(1, 48, 48))[0].pred_sem_seg.data
    lb = stock.predict(x, _samples(1, 48, 48))[0].pred_sem_seg.data
    assert torch.equal(la, lb)
    assert (la == 1).any()  # the threshold did send pixels to background


def test_stock_loss_trains_a_simfeatup_neck(mmseg_scope, tmp_path):
    from mmengine.config import ConfigDict
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS

    from fixtures.tiny_models import save_tiny_clip, tiny_stock_segearth
    cfg = tiny_stock_segearth(save_tiny_clip(tmp_path / 'c.pt'), NAMES)
    cfg['neck'] = dict(type='SimFeatUp', feat_dim=64, zero_init_fixup=False)
    seg = MODELS.build(ConfigDict(cfg)).train()
    samples = _samples(2, 64, 64)
    for s in samples:
        s.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, 64, 64)))
    losses = seg.loss(torch.randn(2, 3, 64, 64), samples)
    assert torch.isfinite(losses['decode.loss_ce'])
    losses['decode.loss_ce'].backward()
    grads = {n for n, p in seg.named_parameters() if p.grad is not None}
    assert grads and all(n.startswith('neck.') for n in grads)


def test_stock_head_without_vocabulary_is_clear(mmseg_scope):
    from ovseg_plugins.seg2d.models.decode_heads import CLSRemovalHead
    head = CLSRemovalHead()
    with pytest.raises(RuntimeError, match='class_names'):
        head((torch.randn(1, 8, 2, 2), torch.randn(1, 8)))
    with pytest.raises(ValueError, match='class_names'):
        CLSRemovalHead(text_embeddings='t.pt')


def test_stock_head_text_embeddings_file(mmseg_scope, tmp_path):
    from ovseg_plugins.seg2d.models.decode_heads import CLSRemovalHead
    text = F.normalize(torch.randn(5, 8), dim=-1)  # 5 queries, 4 classes
    torch.save(text, tmp_path / 'text.pt')
    head = CLSRemovalHead(class_names=NAMES, cls_token_lambda=0,
                          text_embeddings=str(tmp_path / 'text.pt'))
    feats, cls = torch.randn(1, 8, 3, 3), torch.randn(1, 8)
    out = head((feats, cls))
    # reference: softmax over queries, max over the synonyms of class 0
    q = torch.softmax(50 * head.query_logits(feats, cls, text), dim=1)
    ref = torch.cat([q[:, :2].amax(1, keepdim=True), q[:, 2:]], 1).log()
    torch.testing.assert_close(out, ref)
    torch.save(text[:3], tmp_path / 'short.pt')
    with pytest.raises(ValueError, match='short.pt'):
        CLSRemovalHead(class_names=NAMES,
                       text_embeddings=str(tmp_path / 'short.pt'))
