"""GeometryGuidedPooling and AffinityPurifyHead against the GeoPurify
authors' pooling and labelling rules (independent few-line references), and
the head's stock mmdet3d decode-head contract."""
import pytest
import torch
import torch.nn.functional as F
import copy
from fixtures.tiny_models import (TINY_DGCNN_HEAD, register_tiny_point_backbone,
                                  tiny_geopurify_cfg)


def _build(**cfg):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    import ovseg_plugins.seg3d  # noqa: F401
    from mmdet3d.registry import MODELS
    return MODELS.build(cfg)


def _pooling(**kw):
    return _build(type='GeometryGuidedPooling', **kw)


def _text_head(text, q2c, num_classes, **kw):
    """The head as GeoPurifySegmentor builds it (text classifier)."""
    return _build(type='AffinityPurifyHead', text_embeddings=text,
                  query_to_class=q2c, num_classes=num_classes, **kw)


def _voxels(n=70, seed=0):
    """Distinct integer voxel coordinates: many neighbours tie at the K-th
    distance."""
    g = torch.Generator().manual_seed(seed)
    c = torch.randint(0, 6, (400, 3), generator=g).unique(dim=0)
    return c[torch.randperm(len(c), generator=g)[:n]].float()


def _reference_knn(c, k):
    """Brute force; ties at equal distance -> lower (x, y, z)."""
    d2 = ((c[:, None] - c[None]) ** 2).sum(-1)  # exact on integers
    rows = []
    for i in range(len(c)):
        js = [j for j in range(len(c)) if j != i]
        js.sort(key=lambda j: (d2[i, j].item(), *c[j].tolist()))
        rows.append(js[:k])
    return torch.tensor(rows)


def _reference_pooling(feats, emb, c, k, products, sharpen=20.):
    """Dense A = row-softmax(sharpen · cos) on the kNN, F <- A·F."""
    nbr = _reference_knn(c, k)
    e = F.normalize(emb, dim=-1)
    w = torch.softmax(sharpen * (e[:, None] * e[nbr]).sum(-1), 1)
    A = torch.zeros(len(c), len(c))
    A[torch.arange(len(c))[:, None].expand_as(nbr), nbr] = w
    out = feats.clone()
    for _ in range(products):
        out = A @ out
    return out


def test_19_products_by_default_and_18_as_option():
    c = _voxels()
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(len(c), 4, generator=g)
    emb = torch.randn(len(c), 5, generator=g)
    pool = _pooling(knn=7, sharpen=2.)
    assert pool.iterations == 19  # the authors' code: 1 + 18
    ours = pool(feats, emb, c)
    ref19 = _reference_pooling(feats, emb, c, 7, 19, sharpen=2.)
    ref18 = _reference_pooling(feats, emb, c, 7, 18, sharpen=2.)
    torch.testing.assert_close(ours, ref19, rtol=1e-4, atol=1e-5)
    paper = _pooling(knn=7, sharpen=2., iterations=18)(feats, emb, c)
    torch.testing.assert_close(paper, ref18, rtol=1e-4, atol=1e-5)
    assert (ref19 - ref18).abs().max() > 1e-3  # the two are told apart


def test_knn_ties_do_not_depend_on_the_row_order():
    c = _voxels(n=80, seed=2)
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(len(c), 3, generator=g)
    emb = torch.randn(len(c), 4, generator=g)
    pool = _pooling(knn=6, sharpen=1.)
    # ties at the 6th distance exist in this grid
    d2 = ((c[:, None] - c[None]) ** 2).sum(-1)
    d2.fill_diagonal_(float('inf'))
    srt = d2.sort(1).values
    assert (srt[:, 5] == srt[:, 6]).sum() > 10
    out = pool(feats, emb, c)
    torch.testing.assert_close(out, _reference_pooling(feats, emb, c, 6, 19,
                                                       sharpen=1.),
                               rtol=1e-4, atol=1e-5)
    for seed in range(3):
        p = torch.randperm(len(c), generator=torch.Generator().manual_seed(
            seed))
        assert torch.equal(pool(feats[p], emb[p], c[p]), out[p])


def test_zero_pooled_features_take_the_nearest_non_zero_label():
    from scipy.spatial import cKDTree
    g = torch.Generator().manual_seed(4)
    xyz = torch.rand(50, 3, generator=g)
    feats = torch.randn(50, 6, generator=g)
    feats[::4] = 0  # 13 points with an exactly zero pooled feature
    text = torch.randn(5, 6, generator=g)
    q2c = torch.tensor([0, 1, 2, 3, 4])
    head = _text_head(text, q2c, 5)
    assert head.zero_fill
    scores = head.classify(feats, xyz=xyz)
    # the authors' rule: label of the nearest point with a non-zero feature
    zero = feats.abs().sum(1) == 0
    pred = (F.normalize(feats, dim=-1) @ F.normalize(text, dim=-1).t()
            ).argmax(1)
    _, j = cKDTree(xyz[~zero].numpy()).query(xyz[zero].numpy(), k=1)
    pred[zero] = pred[~zero][torch.as_tensor(j)]
    assert torch.equal(scores.argmax(0), pred)
    # without coordinates: zero features score 0 everywhere -> class 0
    plain = head.classify(feats)
    assert (plain[:, zero] == 0).all()
    assert (plain.argmax(0)[zero] != pred[zero]).any()
    # per-voxel features with the point -> voxel map: the same scores
    vox, p2v = feats.unique(dim=0, return_inverse=True)
    torch.testing.assert_close(head.classify(vox, xyz, p2v), scores)


@pytest.mark.parametrize('zero_fill', [True, False])
def test_segmentor_labels_zero_feature_points_by_the_option(tmp_path,
                                                            zero_fill):
    from mmdet3d.registry import MODELS
    _pooling()  # scope + registration
    torch.save(torch.eye(3, 4), tmp_path / 'text.pt')
    torch.manual_seed(0)
    seg = MODELS.build(tiny_geopurify_cfg(
        tmp_path / 'text.pt', fused_channels=4, embed_dim=4, knn=8,
        head=dict(knn=8, zero_fill=zero_fill),
        class_names=['a', 'b', 'c'])).eval()
    # two far-apart clusters; the right one has no fused feature at all
    g = torch.Generator().manual_seed(1)
    xyz = torch.rand(200, 3, generator=g) * 0.1
    xyz[100:, 0] += 5.
    fused = torch.zeros(200, 4)
    fused[:100, 1] = 1.  # left cluster: class 'b'
    pts = torch.cat([xyz, torch.full((200, 3), 128.), fused], 1)
    from mmdet3d.structures import Det3DDataSample
    out = seg.predict(dict(points=[pts]), [Det3DDataSample()])[0]
    lab = out.pred_pts_seg.pts_semantic_mask
    assert (lab[:100] == 1).all()
    assert (lab[100:] == (1 if zero_fill else 0)).all()


@pytest.fixture
def mmdet3d_scope():
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    import ovseg_plugins.seg3d  # noqa: F401
    register_tiny_point_backbone()


def build_head(**kw):
    from mmdet3d.registry import MODELS
    cfg = dict(type='AffinityPurifyHead',
               pooling=dict(type='GeometryGuidedPooling', knn=6, sharpen=5.,
                            iterations=3),
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
    # Base3DDecodeHead.__init__ ran: its loss and (no second) dropout
    assert type(head.loss_decode).__name__ == 'CrossEntropyLoss'
    assert head.dropout is None and head.base_head.dropout is not None
    # the wrapped head's classifier is this head's conv_seg (the wrapped
    # head gives its pre-classifier features); no parameter is duplicated
    names = {n for n, _ in head.named_parameters()}
    assert {'conv_seg.weight', 'conv_seg.bias'} <= names
    assert not any(n.startswith('base_head.conv_seg') for n in names)
    assert type(head.base_head.conv_seg).__name__ == 'Identity'
    assert len(names) == len(list(head.parameters()))


def test_purified_logits_equal_dense_reference(mmdet3d_scope):
    head = build_head().eval()
    torch.manual_seed(0)
    xyz = torch.rand(2, 40, 3)
    feats = dict(fp_xyz=[xyz], fa_points=torch.randn(2, 40, 16))
    out = head(feats)
    pre = head.base_head(feats)  # (B, channels, N) before the classifier
    logits = head.conv_seg(pre)  # the stock head's logits
    assert out.shape == logits.shape == (2, 20, 40)
    # pooling the features, then classifying == pooling the logits
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
        decode_head=dict(type='AffinityPurifyHead',
                         pooling=dict(knn=8, iterations=2),
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
    assert seg.decode_head.conv_seg.weight.grad is not None
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
    # no classifier: refused when the model is built, not at forward
    with pytest.raises(ValueError, match='exactly one classifier.*neither'):
        build_head(base_head=None)
    # a pooling setting on the head instead of its pooling: refused
    with pytest.raises(TypeError, match='knn -> decode_head.pooling.knn'):
        build_head(knn=8)
