"""CoIDO on an mmdet3d config: configs/coido/geopurify_scannet.py (GeoPurify,
per-scene distillation loss, scenes embedded by their lifted features),
shrunk for size, all phases through run_coido on four scenes made from the
real ScanNet sample scene (its points and labels, per-scene features of
different noise)."""
import json
import os.path as osp
import pickle
import shutil

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, shared_data_path
from fixtures.tiny_configs import geopurify_data_text
from ovseg_plugins.utils.checkpoint import load_torch_file

VALID = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39]
SCENES = [f'scene000{k}_00' for k in range(4)]


def _scenes(src, out, dim=8):
    """4 copies of the real scene (own file names) + oracle features."""
    infos = pickle.load(open(osp.join(src, 'scannet_infos.pkl'), 'rb'))
    rng = np.random.default_rng(0)
    P = rng.normal(size=(20, dim)).astype(np.float32)
    sem = np.fromfile(osp.join(src, 'semantic_mask', 'scene0000_00.bin'),
                      np.int64)
    lab = np.array([VALID.index(s) if s in VALID else 20 for s in sem])
    onehot = np.zeros((len(lab), 20), np.float32)
    onehot[lab < 20, lab[lab < 20]] = 1
    data_list = []
    for sub in ('points', 'semantic_mask', 'instance_mask', 'fused',
                'teacher'):
        (out / sub).mkdir(parents=True)
    for k, name in enumerate(SCENES):
        for sub in ('points', 'semantic_mask', 'instance_mask'):
            shutil.copy(osp.join(src, sub, 'scene0000_00.bin'),
                        out / sub / f'{name}.bin')
        fused = onehot @ P + (0.2 + 0.3 * k) * rng.normal(
            size=(len(lab), dim))
        np.savez(out / 'fused' / f'{name}.npz',
                 feat=fused.astype(np.float16), mask=np.ones(len(lab), bool))
        np.save(out / 'teacher' / f'{name}.npy',
                (onehot @ rng.normal(size=(20, dim))).astype(np.float32))
        info = dict(infos['data_list'][0])
        info['lidar_points'] = dict(info['lidar_points'],
                                    lidar_path=f'{name}.bin')
        for key in ('pts_semantic_mask_path', 'pts_instance_mask_path'):
            if key in info:
                info[key] = f'{name}.bin'
        data_list.append(info)
    with open(out / 'infos.pkl', 'wb') as f:
        pickle.dump(dict(metainfo=infos['metainfo'], data_list=data_list), f)
    torch.save(torch.from_numpy(P / np.linalg.norm(P, axis=1,
                                                   keepdims=True)),
               out / 'text.pt')


@pytest.mark.slow
def test_geopurify_scenes_all_phases(tmp_path):
    from mmengine.config import Config

    from ovseg_plugins.coido.apis import coido_paths, run_coido
    _scenes(shared_data_path('scannet'), tmp_path)
    root, fused = str(tmp_path), str(tmp_path / 'fused')
    leaf = osp.join(REPO_ROOT, 'configs', 'coido', 'geopurify_scannet.py')
    cfg_file = tmp_path / 'tiny.py'
    cfg_file.write_text(f"""_base_ = [{leaf!r}]
model = dict(backbone=dict(in_channels=14, hidden_channels=16, embed_dim=8,
                           num_blocks=1),
             fused_channels=8, teacher_channels=8,
             text_embeddings={str(tmp_path / 'text.pt')!r},
             loss=dict(knn=16), decode_head=dict(pooling=dict(knn=16)))
{geopurify_data_text(root, 'infos.pkl', fused, str(tmp_path / 'teacher'))}train_cfg = dict(max_epochs=1, val_interval=100)
param_scheduler = []
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
randomness = dict(seed=0)
log_level = 'WARNING'
coido = dict(
    extract=dict(pipeline=[load_pts, feats,
                           dict(type='Pack3DDetInputs', keys=['points'])],
                 embedder=dict(source='points', columns=(6, 14))),
    cluster=dict(ratio=0.5, knn=3),
    model=dict(scorer=dict(type='CoIDOScorer', hidden=16)),
    selection=dict(budget=2),
    phase1=dict(passes=1))
""")
    cfg = Config.fromfile(str(cfg_file))
    cfg.work_dir = str(tmp_path / 'wd')
    logs = []
    cost = run_coido(cfg, log=logs.append)
    P = coido_paths(osp.join(cfg.work_dir, 'coido'))
    bank = load_torch_file(P['bank'])
    assert bank['embeddings'].shape == (4, 16)  # mean + std of 8 columns
    assert bank['stat_names'] == ['log_num_elements']  # no 3D labels used
    # independent: mean and std of each scene's lifted features, normalised
    for k, name in enumerate(SCENES):
        f = torch.from_numpy(np.load(tmp_path / 'fused' / f'{name}.npz')[
            'feat'].astype(np.float32))
        ref = torch.cat([f.mean(0), f.std(0, correction=0)])
        torch.testing.assert_close(bank['embeddings'][k],
                                   ref / ref.norm(), rtol=1e-4, atol=1e-5)
    cl = json.load(open(P['clusters']))
    assert cl['n_clusters'] == 1  # a 2-scene subset: capped at 1
    assert any('capped at 1' in m for m in logs)
    sel = json.load(open(P['selected']))
    scores = json.load(open(P['scores']))['scores']
    assert sel['indices'] == sorted(np.lexsort((np.arange(4),
                                                scores))[:2].tolist())
    summ = json.load(open(P['summary']))
    assert summ['bank_stamp'] == bank['bank_stamp'] == sel['bank_stamp']
    assert summ['phase'] == 'selection'
    for k in ('extract', 'cluster', 'phase1', 'scoring', 'phase2'):
        assert cost[k] > 0, k
    # the epoch-based phase 2 trained 1 epoch over the 2 selected scenes
    assert osp.isfile(osp.join(cfg.work_dir, 'phase2', 'epoch_1.pth'))
