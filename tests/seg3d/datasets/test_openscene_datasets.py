"""OpenScene-format datasets: hand-written .pth round trips, label mappings,
scene lists, bad-input errors, and configs building the datasets on tiny
tmp data."""
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, shared_data_path

import ovseg_plugins.seg3d  # noqa: F401  (registers)
from mmdet3d.registry import DATASETS
from ovseg_plugins.seg3d.datasets.label_constants import (
    MATTERPORT_CLASSES, SCANNET20_CLASSES, SCANNET200_CLASSES,
    SCANNET200_RAW_IDS)

LOAD = [dict(type='LoadOpenScenePoints'), dict(type='PointSegClassMapping')]


@pytest.fixture(autouse=True)
def _mmdet3d_scope():
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')


def _scene(n=6, seed=0, labels=None, normals=False):
    rng = np.random.default_rng(seed)
    coords = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    colors = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    out = [coords, colors]
    if normals:
        nrm = rng.normal(size=(n, 3)).astype(np.float32)
        out.append(nrm)
    if labels is not None:
        out.append(np.asarray(labels, np.int64))
    return tuple(out)


def _write(folder, name, tup):
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(tup, str(folder / name))


def test_openscene_pth_round_trip(tmp_path):
    tup = _scene(labels=[0, 5, 19, 255, 3, 255])
    _write(tmp_path / 'val', 'scene0001_00_vh_clean_2.pth', tup)
    _write(tmp_path / 'val', 'scene0000_00_vh_clean_2.pth',
           _scene(seed=1, labels=[1] * 6))
    ds = DATASETS.build(dict(type='OpenSceneSegDataset',
                             data_root=str(tmp_path),
                             data_prefix=dict(pts='val'), pipeline=LOAD,
                             test_mode=True))
    assert [d['scene_name'] for d in ds.data_list] == [
        'scene0000_00', 'scene0001_00']  # sorted folder scan
    assert ds.metainfo['classes'] == SCANNET20_CLASSES
    assert ds.ignore_index == 20
    r = ds[1]
    pts = r['points'].tensor.numpy()
    np.testing.assert_allclose(pts[:, :3], tup[0], atol=1e-6)
    np.testing.assert_allclose(pts[:, 3:6], (tup[1] + 1) * 127.5, atol=1e-4)
    assert r['points'].attribute_dims == dict(color=[3, 4, 5])
    np.testing.assert_array_equal(r['pts_semantic_mask'],
                                  [0, 5, 19, 20, 3, 20])  # 255 -> ignore
    np.testing.assert_array_equal(r['eval_ann_info']['pts_semantic_mask'],
                                  [0, 5, 19, 20, 3, 20])


def test_scene_list_order_and_missing_scene(tmp_path):
    for i in range(3):
        _write(tmp_path, f'scene000{i}_00_vh_clean_2.pth',
               _scene(seed=i, labels=[i] * 6))
    lst = tmp_path / 'train.txt'
    lst.write_text('# comment\nscene0002_00\n\nscene0000_00  # two\n')
    cfg = dict(type='OpenSceneSegDataset', data_root=str(tmp_path),
               scene_list=str(lst), pipeline=LOAD)
    ds = DATASETS.build(cfg)
    assert [d['scene_name'] for d in ds.data_list] == [
        'scene0002_00', 'scene0000_00']
    assert ds[0]['pts_semantic_mask'].tolist() == [2] * 6
    lst.write_text('scene0000_00\nscene0042_00\n')
    with pytest.raises(FileNotFoundError, match='scene0042_00'):
        DATASETS.build(cfg)
    lst.write_text('scene0000_00\nscene0000_00\n')
    with pytest.raises(ValueError, match='more than once'):
        DATASETS.build(cfg)
    with pytest.raises(FileNotFoundError, match='scene list not found'):
        DATASETS.build(dict(cfg, scene_list='nope.txt'))


@pytest.mark.parametrize('tup, match', [
    ({'coords': 1}, 'holds a dict'),
    ((np.zeros((4, 3)), ), 'tuple'),
    ((np.zeros((4, 3)), np.zeros((3, 3)), np.zeros(4)), "'colors'"),
    ((np.zeros((4, 3)), np.zeros((4, 3)), np.zeros(5)), "'labels'"),
    ((np.zeros((4, 3)), np.full((4, 3), 200.), np.zeros(4)),
     r"color_range='\[0,255\]'"),
    ((np.zeros((4, 3)), np.zeros((4, 3)), np.full(4, 300)), 'label ids'),
    ((np.zeros((4, 3)), np.zeros((4, 3)), np.full(4, -1)), 'label ids'),
    ((np.zeros((4, 3)), np.zeros((4, 3)), np.full(4, 0.5)), 'non-integer'),
    ((np.full((4, 3), np.nan), np.zeros((4, 3)), np.zeros(4)), 'non-finite'),
])
def test_malformed_scene_files_name_file_and_field(tmp_path, tup, match):
    _write(tmp_path, 'scene0000_00_vh_clean_2.pth', tup)
    ds = DATASETS.build(dict(type='OpenSceneSegDataset',
                             data_root=str(tmp_path), pipeline=LOAD,
                             test_mode=True))
    with pytest.raises(ValueError, match=match) as e:
        ds[0]
    assert 'scene0000_00_vh_clean_2.pth' in str(e.value)


def test_unlabelled_scene_and_empty_folder(tmp_path):
    _write(tmp_path, 'scene0000_00_vh_clean_2.pth', _scene())
    cfg = dict(type='OpenSceneSegDataset', data_root=str(tmp_path))
    ds = DATASETS.build(dict(cfg, pipeline=[dict(type='LoadOpenScenePoints',
                                                 with_seg=False)]))
    assert 'pts_semantic_mask' not in ds[0]
    with pytest.raises(ValueError, match='with_seg=False'):
        DATASETS.build(dict(cfg, pipeline=LOAD))[0]
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no .* files'):
        DATASETS.build(dict(cfg, data_prefix=dict(pts='empty')))
    with pytest.raises(FileNotFoundError, match='scene folder not found'):
        DATASETS.build(dict(cfg, data_prefix=dict(pts='nope')))


def test_scannet200_raw_id_mapping(tmp_path):
    _write(tmp_path / 'scannet_3d' / 'val', 'scene0011_00_vh_clean_2.pth',
           _scene(n=6, labels=[0] * 6))
    lab = tmp_path / 'scannet_3d_200' / 'val'
    lab.mkdir(parents=True)
    # wall, floor (raw 3), ceiling (raw 41), not a benchmark id (12),
    # mattress (1191), an id above all benchmark ids (2000)
    (lab / 'scene0011_00.txt').write_text('1\n3\n41\n12\n1191\n2000\n')
    ds = DATASETS.build(dict(
        type='ScanNet200SegDataset', data_root=str(tmp_path),
        data_prefix=dict(pts='scannet_3d/val',
                         pts_semantic_mask='scannet_3d_200/val'),
        pipeline=LOAD, test_mode=True))
    assert len(SCANNET200_CLASSES) == len(SCANNET200_RAW_IDS) == 200
    assert ds.metainfo['classes'][35] == 'ceiling'
    assert ds.ignore_index == 200
    assert ds[0]['pts_semantic_mask'].tolist() == [0, 2, 35, 200, 199, 200]
    (lab / 'scene0011_00.txt').write_text('1\n3\n')
    with pytest.raises(ValueError, match='2 labels for the 6 points'):
        ds[0]
    (lab / 'scene0011_00.txt').write_text('1\n-3\n1\n1\n1\n1\n')
    with pytest.raises(ValueError, match='label ids span'):
        ds[0]


def test_matterport_normals_and_k_variants(tmp_path):
    tup = _scene(n=5, labels=[0, 20, 255, 7, 19], normals=True)
    _write(tmp_path / 'test', 'abc_region3.pth', tup)
    ds = DATASETS.build(dict(
        type='MatterportSegDataset', data_root=str(tmp_path),
        data_prefix=dict(pts='test'), test_mode=True,
        pipeline=LOAD + [dict(type='AddPointNormals')]))
    assert ds.metainfo['classes'][20] == 'ceiling'
    r = ds[0]
    assert r['normals_source'] == 'file'
    pts = r['points'].tensor.numpy()
    assert pts.shape == (5, 9)
    n = tup[2] / np.linalg.norm(tup[2], axis=1, keepdims=True)
    np.testing.assert_allclose(pts[:, 6:9], n, atol=1e-5)
    assert r['pts_semantic_mask'].tolist() == [0, 20, 21, 7, 19]

    _write(tmp_path / 'k160', 'abc_region3.pth',
           _scene(n=3, labels=[159, 255, 40]))
    ds = DATASETS.build(dict(
        type='MatterportSegDataset', num_classes=160,
        data_root=str(tmp_path), data_prefix=dict(pts='k160'),
        pipeline=LOAD, test_mode=True))
    assert ds.metainfo['classes'] == MATTERPORT_CLASSES[160]
    assert ds[0]['pts_semantic_mask'].tolist() == [159, 160, 40]
    assert [len(MATTERPORT_CLASSES[k]) for k in (21, 40, 80, 160)] == [
        21, 40, 80, 160]
    with pytest.raises(ValueError, match='num_classes must be one of'):
        DATASETS.build(dict(type='MatterportSegDataset', num_classes=41,
                            data_root=str(tmp_path)))


def test_vocabulary_files_match_dataset_classes():
    from ovseg_plugins.text import Vocabulary
    d = osp.join(REPO_ROOT, 'configs', 'geopurify', 'class_names')
    for name, classes in [('scannet20', SCANNET20_CLASSES),
                          ('scannet200', SCANNET200_CLASSES)] + [
                              (f'matterport{k}', v)
                              for k, v in MATTERPORT_CLASSES.items()]:
        v = Vocabulary.build(osp.join(d, name + '.txt'))
        assert v.num_classes == len(classes), name


def test_mmdet3d_info_dataset_scene_list():
    root = shared_data_path('scannet')
    cfg = dict(type='ScanNetSceneSegDataset', data_root=root,
               ann_file='scannet_infos.pkl',
               metainfo=dict(classes=SCANNET20_CLASSES[:15] + (
                   'showercurtrain', ) + SCANNET20_CLASSES[16:]),
               data_prefix=dict(pts='points',
                                pts_semantic_mask='semantic_mask'),
               pipeline=[], test_mode=True)
    ds = DATASETS.build(dict(cfg, scene_list=['scene0000_00']))
    assert [d['scene_name'] for d in ds.data_list] == ['scene0000_00']
    with pytest.raises(FileNotFoundError, match='scene0640_02'):
        DATASETS.build(dict(cfg, scene_list=osp.join(
            REPO_ROOT, 'configs/geopurify/splits/scannet_train_20.txt')))


def _write_ply(path, verts, faces):
    from plyfile import PlyData, PlyElement
    v = np.array([tuple(p) for p in verts],
                 dtype=[('x', 'f4'), ('y', 'f4'), ('z', 'f4')])
    f = np.array([(list(t), ) for t in faces],
                 dtype=[('vertex_indices', 'i4', (3, ))])
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(v, 'vertex'),
             PlyElement.describe(f, 'face')]).write(str(path))


def _build_from_config(leaf, overrides):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'geopurify', leaf))
    ds_cfg = cfg.test_dataloader.dataset.to_dict()
    ds_cfg.update(overrides)
    for t in ds_cfg['pipeline']:
        if t['type'] == 'LoadPointFeatures':
            t['feature_root'] = overrides.pop('_fused')
            t['expected_dim'] = 4
    ds_cfg.pop('_fused', None)
    return DATASETS.build(ds_cfg)


def test_configs_build_datasets_on_tiny_data(tmp_path):
    # ScanNet OpenScene config: mesh normals + fused features by scene name.
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], np.float32)
    tup = (verts, np.zeros((4, 3), np.float32), np.array([0, 1, 255, 19]))
    _write(tmp_path / 'scannet_3d' / 'val', 'scene0000_00_vh_clean_2.pth',
           tup)
    # clockwise seen from +z: the mesh normal is -z (PCA would give +z)
    _write_ply(tmp_path / 'scannet/scans/scene0000_00/'
               'scene0000_00_vh_clean_2.ply', verts, [(0, 2, 1), (1, 2, 3)])
    (tmp_path / 'fused').mkdir()
    np.save(tmp_path / 'fused' / 'scene0000_00.npy',
            np.arange(16, dtype=np.float32).reshape(4, 4))
    ds = _build_from_config('scannet_openscene.py', dict(
        data_root=str(tmp_path), _fused=str(tmp_path / 'fused')))
    r = ds[0]
    pts = r['inputs']['points'].numpy()
    assert pts.shape == (4, 6 + 3 + 4)
    np.testing.assert_allclose(pts[:, 6:9], [[0, 0, -1]] * 4, atol=1e-6)
    np.testing.assert_allclose(pts[:, 9:], np.arange(16).reshape(4, 4))
    assert r['data_samples'].gt_pts_seg.pts_semantic_mask.tolist() == [
        0, 1, 20, 19]

    # Matterport K=80 config.
    _write(tmp_path / 'mp80' / 'test', 'x_region0.pth',
           _scene(n=4, labels=[79, 255, 0, 1]))
    np.save(tmp_path / 'fused' / 'x_region0.npy',
            np.zeros((4, 4), np.float32))
    ds = _build_from_config('matterport_80.py', dict(
        data_root=str(tmp_path / 'mp80'), _fused=str(tmp_path / 'fused')))
    assert len(ds.metainfo['classes']) == 80
    r = ds[0]
    assert r['inputs']['points'].shape == (4, 13)
    assert r['data_samples'].gt_pts_seg.pts_semantic_mask.tolist() == [
        79, 80, 0, 1]

    # ScanNet200 config.
    (tmp_path / 'scannet_3d_200' / 'val').mkdir(parents=True)
    (tmp_path / 'scannet_3d_200/val/scene0000_00.txt').write_text(
        '1\n2\n3\n41\n')
    ds = _build_from_config('scannet200.py', dict(
        data_root=str(tmp_path), _fused=str(tmp_path / 'fused')))
    r = ds[0]
    assert r['data_samples'].gt_pts_seg.pts_semantic_mask.tolist() == [
        0, 1, 2, 35]


def test_openscene_dataset_reads_mmdet3d_info_files():
    """ann_file mode: an mmdet3d info file with raw NYU40 ids mapped through
    metainfo.seg_valid_class_ids (the route for e.g. raw-id ScanNet200
    semantic masks), filtered by scene_list."""
    from ovseg_plugins.seg3d.datasets.label_constants import \
        SCANNET20_NYU40_IDS
    root = shared_data_path('scannet')
    ds = DATASETS.build(dict(
        type='OpenSceneSegDataset', data_root=root,
        ann_file='scannet_infos.pkl', scene_list=['scene0000_00'],
        metainfo=dict(classes=SCANNET20_CLASSES,
                      seg_valid_class_ids=SCANNET20_NYU40_IDS),
        data_prefix=dict(pts='points', pts_semantic_mask='semantic_mask'),
        pipeline=[
            dict(type='LoadPointsFromFile', coord_type='DEPTH',
                 shift_height=False, use_color=True, load_dim=6,
                 use_dim=[0, 1, 2, 3, 4, 5]),
            dict(type='LoadAnnotations3D', with_bbox_3d=False,
                 with_label_3d=False, with_mask_3d=False, with_seg_3d=True),
            dict(type='PointSegClassMapping')
        ], test_mode=True))
    r = ds[0]
    raw = np.fromfile(osp.join(root, 'semantic_mask', 'scene0000_00.bin'),
                      np.int64)
    want = [SCANNET20_NYU40_IDS.index(s) if s in SCANNET20_NYU40_IDS else 20
            for s in raw]
    assert r['pts_semantic_mask'].tolist() == want
    assert sum(w < 20 for w in want) == 73  # README: 73 valid points
