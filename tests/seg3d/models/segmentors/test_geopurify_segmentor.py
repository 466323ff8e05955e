"""GeoPurifySegmentor.set_vocabulary / dataset_meta: new classes without
rebuilding or re-purifying equal a fresh model's prediction."""
import numpy as np
import pytest
import torch


def _build(classes, text, seed=0, **kw):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    import ovseg_plugins.seg3d  # noqa: F401
    from mmdet3d.registry import MODELS
    torch.manual_seed(seed)
    return MODELS.build(dict(dict(
        type='GeoPurifySegmentor',
        backbone=dict(type='StudentAffinityNet', in_channels=16 + 6,
                      hidden_channels=16, embed_dim=8, num_blocks=1),
        class_names=classes, fused_channels=16, text_embeddings=text,
        voxel_size=0.05,
        decode_head=dict(type='AffinityPurifyHead', pooling=dict(
            type='GeometryGuidedPooling', knn=16, sharpen=20.,
            iterations=4))), **kw)).eval()


@pytest.fixture
def scene():
    from ovseg_plugins.seg3d.synthetic import (ROOM_CLASSES,
                                               class_prototypes,
                                               procedural_room,
                                               view_fragmented_features)
    room = procedural_room(0, spacing=0.1)
    protos = class_prototypes(len(ROOM_CLASSES), 16)
    feats = view_fragmented_features(room['points'][:, :3], room['labels'],
                                     protos, num_fragments=30)
    pts = torch.from_numpy(np.concatenate([room['points'], feats], 1))
    payload = dict(text_embeds=torch.from_numpy(protos),
                   queries=list(ROOM_CLASSES))
    return pts, payload


def _predict(model, pts):
    from mmdet3d.structures import Det3DDataSample
    out = model.predict(dict(points=[pts]), [Det3DDataSample()])[0]
    return out.pred_pts_seg.pts_semantic_mask.numpy(), \
        out.pts_seg_logits.pts_seg_logits


def test_vocabulary_change_without_repurifying_equals_fresh_run(scene,
                                                                 monkeypatch):
    from ovseg_plugins.seg3d.models.segmentors.geopurify_segmentor import \
        select_queries
    pts, payload = scene
    model = _build(['wall', 'floor', 'bed'],
                   select_queries(payload, ['wall', 'floor', 'bed']))
    calls = []
    real = model.purify
    monkeypatch.setattr(model, 'purify',
                        lambda p: calls.append(1) or real(p))
    _predict(model, pts)
    new = ['chair', 'table,cabinet', 'sofa', 'lamp', 'floor']
    queries = ['chair', 'table', 'cabinet', 'sofa', 'lamp', 'floor']
    model.set_vocabulary(new, select_queries(payload, queries))
    labels, logits = _predict(model, pts)
    assert len(calls) == 1  # purified once, re-classified after the change
    fresh = _build(new, select_queries(payload, queries), seed=1)
    fresh.load_state_dict(model.state_dict())
    f_labels, f_logits = _predict(fresh, pts)
    np.testing.assert_array_equal(labels, f_labels)
    torch.testing.assert_close(logits, f_logits)
    assert model.dataset_meta['classes'] == ('chair', 'table', 'sofa',
                                             'lamp', 'floor')
    assert len(model.dataset_meta['palette']) == 5
    # changed points (in place) are purified again, not served stale
    pts[:, 6:] += 0.1
    _predict(model, pts)
    assert len(calls) == 2


def test_set_vocabulary_needs_embeddings_for_file_built_models(scene):
    pts, payload = scene
    model = _build(['wall', 'floor'], payload['text_embeds'][:2])
    with pytest.raises(ValueError, match='text_embeddings'):
        model.set_vocabulary('chair;table')
    assert model.vocabulary.class_names == ['wall', 'floor']  # unchanged


def test_text_file_rows_are_picked_by_query_name(tmp_path, scene):
    _, payload = scene
    f = str(tmp_path / 'text.pt')
    torch.save(payload, f)
    model = _build('lamp;wall', f)
    torch.testing.assert_close(
        model.text_embeds,
        torch.nn.functional.normalize(payload['text_embeds'][[7, 0]], dim=-1))
    with pytest.raises(ValueError, match='text.pt.*piano'):
        _build('piano;wall', f)


def test_dataset_meta_follows_the_vocabulary(scene):
    _, payload = scene
    model = _build(['wall', 'floor'], payload['text_embeds'][:2])
    model.dataset_meta = dict(classes=('a', 'b', 'c'), palette=[[0, 0, 0]] * 3,
                              dataset='x')
    meta = model.dataset_meta
    assert meta['classes'] == ('wall', 'floor') and meta['dataset'] == 'x'
    assert len(meta['palette']) == 2


def test_encode_decode_returns_the_logits_predict_labels_from(scene):
    """The stock segmentor contract: extract_feat -> decode_head ->
    (B, num_classes, N) logits; predict's labels are their argmax."""
    pts, payload = scene
    model = _build(['wall', 'floor', 'bed'], payload['text_embeds'][:3])
    labels, logits = _predict(model, pts)
    with torch.no_grad():
        enc = model.encode_decode(pts)
    assert enc.shape == (1, 3, len(pts))
    torch.testing.assert_close(enc[0], logits)
    np.testing.assert_array_equal(enc[0].argmax(0).numpy(), labels)
    feats = model.extract_feat(dict(points=[pts]))[0]
    assert feats['emb'].shape[0] == feats['coords'].shape[0]
    assert feats['point2voxel'].shape == (len(pts), )


@pytest.mark.parametrize('key', ['knn', 'sharpen', 'iterations', 'chunk'])
def test_pooling_setting_on_the_segmentor_is_refused(key):
    """Each pooling setting lives in decode_head.pooling only: given to the
    segmentor (where it used to be silently ignored once a head was set) it
    is refused, naming where it goes."""
    with pytest.raises(TypeError, match=f'{key} -> model.decode_head.'
                       f'pooling.{key}'):
        _build(['wall', 'floor'], torch.randn(2, 16), **{key: 4})


def test_segmentor_head_with_a_base_head_is_refused():
    with pytest.raises(ValueError, match='classifies by text'):
        _build(['wall', 'floor'], torch.randn(2, 16), decode_head=dict(
            type='AffinityPurifyHead', base_head=dict(type='DGCNNHead')))


def test_fast_purification_equals_the_reference_implementation(scene):
    """The default purification (fused channels only, shared teacher kNN,
    k-d tree kNN, compiled products) against the earlier implementation
    kept as ``reference=True``: the same labels, features equal up to the
    order of float sums."""
    from ovseg_plugins.seg3d.synthetic import ROOM_CLASSES
    pts, payload = scene
    model = _build(list(ROOM_CLASSES), payload['text_embeds'])
    teacher = dict(type='GeometricTeacher')
    fast, inv = model.purify_with_teacher(pts, teacher, per_voxel=True)
    ref, inv_ref = model.purify_with_teacher(pts, teacher, per_voxel=True,
                                             reference=True)
    assert inv.equal(inv_ref) and fast.shape == ref.shape == (
        len(fast), 16)
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-5)
    lab = model.decode_head.classify(fast).argmax(0)
    assert lab.equal(model.decode_head.classify(ref).argmax(0))
