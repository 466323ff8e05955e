"""tools/train.py + tools/test.py on configs/geopurify/scannet.py with the
real tiny ScanNet scene and oracle (label-derived) fused/teacher features."""
import os.path as osp
import re

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, run_py, shared_data_path

VALID = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39]


def write_oracle_features(root, out, dim=8, noise=0.3, seed=0):
    """fused = onehot(label) @ P + noise (ignore -> 0); text = P;
    teacher = onehot @ P2."""
    rng = np.random.default_rng(seed)
    sem = np.fromfile(osp.join(root, 'semantic_mask', 'scene0000_00.bin'),
                      np.int64)
    lab = np.array([VALID.index(s) if s in VALID else 20 for s in sem])
    P = rng.normal(size=(20, dim)).astype(np.float32)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    onehot = np.zeros((len(lab), 20), np.float32)
    onehot[lab < 20, lab[lab < 20]] = 1
    fused = onehot @ P + noise * rng.normal(size=(len(lab), dim))
    teacher = onehot @ rng.normal(size=(20, dim))
    (out / 'fused').mkdir(parents=True)
    (out / 'teacher').mkdir()
    np.savez(out / 'fused' / 'scene0000_00.npz',
             feat=fused.astype(np.float16), mask=np.ones(len(lab), bool))
    np.save(out / 'teacher' / 'scene0000_00.npy', teacher.astype(np.float32))
    torch.save(torch.from_numpy(P), out / 'text.pt')
    return lab


@pytest.mark.slow
def test_geopurify_scannet_train_then_test(tmp_path):
    root = shared_data_path('scannet')
    write_oracle_features(root, tmp_path)
    cfg = tmp_path / 'tiny_geopurify.py'
    leaf = osp.join(REPO_ROOT, 'configs', 'geopurify', 'scannet.py')
    cfg.write_text(f"""_base_ = [{leaf!r}]
fused_root = {str(tmp_path / 'fused')!r}
model = dict(backbone=dict(in_channels=14, hidden_channels=16, embed_dim=8,
                           num_blocks=1),
             fused_channels=8, teacher_channels=8,
             text_embeddings={str(tmp_path / 'text.pt')!r}, knn=16)
train_dataloader = dict(num_workers=0, dataset=dict(
    data_root={root!r}, ann_file='scannet_infos.pkl', scene_list=None,
    pipeline=[
        dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=False,
             use_color=True, load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
        dict(type='LoadPointFeatures', feature_root={str(tmp_path / 'fused')!r},
             expected_dim=8),
        dict(type='LoadPointFeatures',
             feature_root={str(tmp_path / 'teacher')!r}, expected_dim=8),
        dict(type='Pack3DDetInputs', keys=['points'])]))
test_dataloader = dict(num_workers=0, dataset=dict(
    data_root={root!r}, ann_file='scannet_infos.pkl', pipeline=[
        dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=False,
             use_color=True, load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
        dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False,
             with_mask_3d=False, with_seg_3d=True),
        dict(type='PointSegClassMapping'),
        dict(type='LoadPointFeatures', feature_root={str(tmp_path / 'fused')!r},
             expected_dim=8),
        dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])]))
val_dataloader = test_dataloader
train_cfg = dict(max_epochs=3, val_interval=100)
param_scheduler = []
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=3),
                     logger=dict(type='LoggerHook', interval=1))
""")
    wd = tmp_path / 'wd'
    r = run_py(['tools/train.py', str(cfg), '--work-dir', str(wd)])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'loss_infonce' in r.stdout + r.stderr
    ckpt = wd / 'epoch_3.pth'
    assert ckpt.is_file()
    r = run_py(['tools/test.py', str(cfg), str(ckpt), '--work-dir',
                str(tmp_path / 'test')])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    m = re.search(r'miou\s*[|:]?\s*([0-9.]+)', out, re.I)
    assert m, out[-3000:]
