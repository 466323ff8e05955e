"""AffinityPurifyHead in the decode_head slot of a stock EncoderDecoder3D."""
import copy

import pytest
import torch
import torch.nn.functional as F

from fixtures.tiny_models import TINY_DGCNN_HEAD, register_tiny_point_backbone


@pytest.fixture
def mmdet3d_scope():
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    import ovseg_plugins.seg3d  # noqa: F401
    register_tiny_point_backbone()


def build_head(**kw):
    from mmdet3d.registry import MODELS
    cfg = dict(type='AffinityPurifyHead', knn=6, sharpen=5., iterations=3,
               base_head=copy.deepcopy(TINY_DGCNN_HEAD))
    cfg.update(kw)
    return MODELS.build(cfg)


def dense_reference(logits, emb, xyz, k, sharpen, T):
    """Brute force: dense N×N row-stochastic A over the k nearest (self
    excluded) by distance, A^T applied T times to (N, C) logits."""
    d = torch.cdist(xyz, xyz)
    d.fill_diagonal_(float('inf'))
    nbr = d.topk(k, largest=False).indices
    e = F.normalize(emb, dim=1)
    w = torch.softmax(sharpen * (e[nbr] * e[:, None]).sum(-1), dim=1)
    A = torch.zeros(len(xyz), len(xyz)).scatter_(1, nbr, w)
    f = logits
    for _ in range(T):
        f = A @ f
    return f


def test_contract_attributes(mmdet3d_scope):
    from mmdet3d.models.decode_heads.decode_head import Base3DDecodeHead
    head = build_head()
    assert isinstance(head, Base3DDecodeHead)
    assert (head.num_classes, head.ignore_index, head.channels) == (20, 20, 8)
    # the classifier is the wrapped head's: checkpoints keep its keys
    assert {n for n, _ in head.named_parameters()} == {
        'base_head.' + n for n, _ in head.base_head.named_parameters()}


def test_purified_logits_equal_dense_reference(mmdet3d_scope):
    head = build_head().eval()
    torch.manual_seed(0)
    xyz = torch.rand(2, 40, 3)
    feats = dict(fp_xyz=[xyz], fa_points=torch.randn(2, 40, 16))
    out = head(feats)
    logits, pre = head._base_logits(feats)
    assert out.shape == logits.shape == (2, 20, 40)
    for b in range(2):
        ref = dense_reference(logits[b].t(), pre[b].t(), xyz[b], 6, 5., 3)
        torch.testing.assert_close(out[b].t(), ref, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(out, logits)


def test_stock_encoder_decoder3d_loss_and_predict(mmdet3d_scope):
    from mmdet3d.registry import MODELS
    from mmdet3d.structures import Det3DDataSample, PointData
    from mmengine.config import ConfigDict
    seg = MODELS.build(ConfigDict(
        type='EncoderDecoder3D',
        data_preprocessor=dict(type='Det3DDataPreprocessor'),
        backbone=dict(type='TinyPointMLP'),
        decode_head=dict(type='AffinityPurifyHead', knn=8, iterations=2,
                         base_head=copy.deepcopy(TINY_DGCNN_HEAD)),
        train_cfg=dict(),
        test_cfg=dict(mode='slide', num_points=64, block_size=1.5,
                      sample_rate=0.5, use_normalized_coord=False,
                      batch_size=2)))
    assert seg.num_classes == 20
    torch.manual_seed(0)
    samples = []
    for _ in range(2):
        s = Det3DDataSample()
        s.gt_pts_seg = PointData(pts_semantic_mask=torch.randint(0, 21, (64,)))
        samples.append(s)
    seg.train()
    losses = seg.loss(dict(points=list(torch.rand(2, 64, 6))), samples)
    assert torch.isfinite(losses['decode.loss_sem_seg'])
    losses['decode.loss_sem_seg'].backward()
    assert seg.decode_head.base_head.conv_seg.weight.grad is not None
    seg.eval()
    with torch.no_grad():
        out = seg.predict(dict(points=[torch.rand(300, 6)]),
                          [Det3DDataSample()])
    assert out[0].pred_pts_seg.pts_semantic_mask.shape == (300, )


def test_clear_errors(mmdet3d_scope):
    head = build_head(coord_key='points_xyz')
    with pytest.raises(KeyError, match='coord_key'):
        head(dict(fp_xyz=[torch.rand(1, 10, 3)],
                  fa_points=torch.randn(1, 10, 16)))
    bare = build_head(base_head=None)
    with pytest.raises(RuntimeError, match='base_head'):
        bare(dict(fp_xyz=[torch.rand(1, 10, 3)]))
    with pytest.raises(TypeError, match='emb and coords'):
        bare(torch.randn(10, 4))
