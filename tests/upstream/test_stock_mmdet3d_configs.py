"""Our 3D components and configs on REAL upstream mmdet3d configs and APIs.

The stock PointNet++ ScanNet config needs CUDA: its backbone and head run
mmcv's CUDA-only point ops (``furthest_point_sample``, ``ball_query``,
``three_nn``/``three_interpolate``). On CPU its backbone is swapped for a
tiny per-point MLP and its head for mmdet3d's stock ``DGCNNHead`` (plain
1x1 convs); everything else (dataset, pipeline, segmentor, evaluator) is the
installed config, unchanged.
"""
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, run_py, shared_data_path
from fixtures.tiny_models import TINY_DGCNN_HEAD

STOCK = 'mmdet3d::pointnet2/pointnet2_ssg_2xb16-cosine-200e_scannet-seg.py'
VALID = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36,
         39)
TESTS = osp.join(REPO_ROOT, 'tests')


def scannet_labels(root):
    sem = np.fromfile(osp.join(root, 'semantic_mask', 'scene0000_00.bin'),
                      np.int64)
    return np.array([VALID.index(s) if s in VALID else 20 for s in sem])


def miou(pred, gt, n=20):
    """mmdet3d's seg_eval: per-class IoU over the labels in [0, n), the
    ignore index n left out, nan-mean."""
    ok = (gt >= 0) & (gt < n)
    hist = np.bincount(n * gt[ok] + pred[ok], minlength=n * n).reshape(n, n)
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = np.diag(hist) / (hist.sum(0) + hist.sum(1) - np.diag(hist))
    return float(np.nanmean(iou))


def test_documented_three_line_leaf_wraps_the_stock_head(tmp_path):
    """The plugin.md leaf: the stock PointNet2Head becomes base_head."""
    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    leaf = tmp_path / 'pointnet2_purify.py'
    leaf.write_text(f"""_base_ = [{STOCK!r}]
custom_imports = dict(imports=['ovseg_plugins.seg3d'], allow_failed_imports=False)
model = dict(decode_head=dict(_delete_=True, type='AffinityPurifyHead',
                              base_head={{{{_base_.model.decode_head}}}}))
""")
    cfg = Config.fromfile(str(leaf))
    init_default_scope('mmdet3d')
    model = MODELS.build(cfg.model)
    head = model.decode_head
    assert type(head).__name__ == 'AffinityPurifyHead'
    assert type(head.base_head).__name__ == 'PointNet2Head'
    assert model.num_classes == head.num_classes == 20
    assert head.ignore_index == 20


@pytest.mark.slow
def test_stock_scannet_seg_config_with_purify_head(tmp_path):
    """tools/test.py on the stock ScanNet seg config + AffinityPurifyHead,
    mmdet3d.apis.init_model/inference_segmentor on the same checkpoint: the
    runner's mIoU equals a hand computation from inference_segmentor's
    labels, and init_model names the classes from the checkpoint."""
    from mmdet3d.apis import inference_segmentor, init_model
    root = shared_data_path('scannet')
    leaf = tmp_path / 'pointnet2_purify_cpu.py'
    leaf.write_text(f"""_base_ = [{STOCK!r}]
custom_imports = dict(imports=['ovseg_plugins.seg3d',
                               'fixtures.tiny_point_backbone'],
                      allow_failed_imports=False)
model = dict(
    # CUDA-only PointNet2SASSG / PointNet2Head -> CPU-capable stand-ins
    backbone=dict(_delete_=True, type='TinyPointMLP'),
    decode_head=dict(_delete_=True, type='AffinityPurifyHead',
                     pooling=dict(knn=16, iterations=4),
                     base_head={TINY_DGCNN_HEAD!r}),
    test_cfg=dict(mode='whole'))
test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(
    data_root={root + '/'!r}, ann_file='scannet_infos.pkl'))
""")
    import sys
    if TESTS not in sys.path:
        sys.path.insert(0, TESTS)
    model = init_model(str(leaf), device='cpu')
    assert type(model).__name__ == 'EncoderDecoder3D'
    classes = list(model.cfg.class_names)
    ckpt = tmp_path / 'purify.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), ckpt)
    model = init_model(str(leaf), str(ckpt), device='cpu')
    assert list(model.dataset_meta['classes']) == classes
    assert classes[:3] == ['wall', 'floor', 'cabinet']
    res, _ = inference_segmentor(
        model, osp.join(root, 'points', 'scene0000_00.bin'))
    pred = res.pred_pts_seg.pts_semantic_mask.cpu().numpy()
    # the stock ScanNet seg TEST pipeline has no PointSegClassMapping: its
    # evaluator compares with the mask as stored (raw NYU40 ids in this
    # sample), so the reference does too (a plumbing check, not a score)
    raw = np.fromfile(osp.join(root, 'semantic_mask', 'scene0000_00.bin'),
                      np.int64)
    ref = miou(pred, raw)
    r = run_py(['tools/test.py', str(leaf), str(ckpt), '--work-dir',
                str(tmp_path / 'wd')],
               env=dict(PYTHONPATH=os.pathsep.join([REPO_ROOT, TESTS])))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    m = re.search(r'miou: ([0-9.]+)', out)
    assert m, out[-3000:]
    assert float(m.group(1)) == pytest.approx(ref, abs=1e-4)


def write_oracle_features(root, out, dim=8, seed=0):
    """fused = onehot(label) @ P + noise, text embeddings = P."""
    rng = np.random.default_rng(seed)
    lab = scannet_labels(root)
    P = rng.normal(size=(20, dim)).astype(np.float32)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    onehot = np.zeros((len(lab), 20), np.float32)
    onehot[lab < 20, lab[lab < 20]] = 1
    fused = onehot @ P + 0.3 * rng.normal(size=(len(lab), dim))
    (out / 'fused').mkdir(parents=True)
    np.savez(out / 'fused' / 'scene0000_00.npz',
             feat=fused.astype(np.float16), mask=np.ones(len(lab), bool))
    torch.save(torch.from_numpy(P), out / 'text.pt')


def tiny_geopurify_leaf(tmp_path, root):
    write_oracle_features(root, tmp_path)
    leaf = tmp_path / 'tiny_geopurify.py'
    cfg = osp.join(REPO_ROOT, 'configs', 'geopurify', 'scannet.py')
    fused = str(tmp_path / 'fused')
    leaf.write_text(f"""_base_ = [{cfg!r}]
model = dict(backbone=dict(in_channels=14, hidden_channels=16, embed_dim=8,
                           num_blocks=1),
             fused_channels=8, teacher_channels=8, loss=dict(knn=16),
             decode_head=dict(pooling=dict(knn=16)),
             text_embeddings={str(tmp_path / 'text.pt')!r})
test_dataloader = dict(num_workers=0, dataset=dict(
    data_root={root!r}, ann_file='scannet_infos.pkl', pipeline=[
        dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=False,
             use_color=True, load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
        dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False,
             with_mask_3d=False, with_seg_3d=True),
        dict(type='PointSegClassMapping'),
        dict(type='LoadPointFeatures', feature_root={fused!r}, expected_dim=8),
        dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])]))
""")
    return leaf


def test_mmdet3d_init_model_and_inference_segmentor_on_geopurify(tmp_path):
    """mmdet3d.apis.init_model sets model.train_cfg = None."""
    from mmdet3d.apis import inference_segmentor, init_model
    root = shared_data_path('scannet')
    model = init_model(str(tiny_geopurify_leaf(tmp_path, root)),
                       device='cpu')
    assert type(model).__name__ == 'GeoPurifySegmentor'
    res, _ = inference_segmentor(
        model, osp.join(root, 'points', 'scene0000_00.bin'))
    pred = res.pred_pts_seg.pts_semantic_mask
    assert pred.shape == (100, ) and 0 <= int(pred.max()) < 20


@pytest.mark.slow
def test_geopurify_show_dir_writes_labelled_pictures(tmp_path):
    """tools/test.py --show-dir on a GeoPurify config without a display:
    one PNG per scene whose metadata name the dataset's classes."""
    from PIL import Image
    root = shared_data_path('scannet')
    leaf = tiny_geopurify_leaf(tmp_path, root)
    show = tmp_path / 'show'
    r = run_py(['tools/test.py', str(leaf), '--work-dir', str(tmp_path / 'w'),
                '--show-dir', str(show), '--task', 'lidar_seg'],
               env=dict(MPLBACKEND='Agg', DISPLAY=''))
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    png = show / 'scene0000_00.png'
    assert png.is_file(), sorted(os.listdir(tmp_path))
    img = Image.open(png)
    classes = json.loads(img.text['classes'])
    assert classes[:2] == ['wall', 'floor'] and len(classes) == 20
    present = json.loads(img.text['present'])
    assert present and set(present) <= set(classes)
    arr = np.asarray(img.convert('RGB'))
    # input colours | prediction (the hook's draw_gt defaults to False)
    assert arr.shape[1] == 2 * 500 and arr.shape[0] < 600


@pytest.mark.slow
def test_geopurify_test_out_saves_the_scored_labels(tmp_path):
    """tools/test.py --out DIR on a GeoPurify config saves one (N,) int64
    label file per scene, and those labels give exactly the logged mIoU."""
    from ovseg_plugins.seg3d.datasets.label_constants import \
        SCANNET20_CLASSES
    from ovseg_plugins.seg3d.evaluation import (confusion_matrix,
                                                metrics_from_confusion)
    root = shared_data_path('scannet')
    leaf = tiny_geopurify_leaf(tmp_path, root)
    out_dir = tmp_path / 'preds'
    r = run_py(['tools/test.py', str(leaf), '--work-dir', str(tmp_path / 'w'),
                '--out', str(out_dir)])
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    # the labels and their scores (softmax probability of the label)
    assert sorted(os.listdir(out_dir)) == [
        'scene0000_00.npy', 'scene0000_00_scores.npy'], log[-2000:]
    scores = np.load(out_dir / 'scene0000_00_scores.npy')
    assert scores.shape == (100, ) and ((scores > 0) & (scores <= 1)).all()
    assert f'saved to {out_dir}/<scene>.npy' in log
    labels = np.load(out_dir / 'scene0000_00.npy')
    assert labels.dtype == np.int64 and labels.shape == (100, )
    cm = confusion_matrix(scannet_labels(root), labels, 20)
    ref = metrics_from_confusion(cm, SCANNET20_CLASSES, absent_classes='zero')
    m = re.search(r'mIoU: ([0-9.]+)', log)
    assert m, log[-3000:]
    assert float(m.group(1)) == pytest.approx(ref['mIoU'], abs=1e-4)
