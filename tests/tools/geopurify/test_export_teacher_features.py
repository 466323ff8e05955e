"""tools/geopurify/export_teacher_features.py writes the teacher columns
configs/geopurify/scannet.py trains from: the rows are the teacher's
features of the scene's points in file order, and training on them equals
training with the same teacher online."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, shared_data_path
from fixtures.tiny_configs import tiny_geopurify_config, write_oracle_features

pytest.importorskip('mmdet3d')
sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'geopurify'))


def _export(tmp_path, *extra):
    import export_teacher_features as tool
    root = shared_data_path('scannet')
    write_oracle_features(root, tmp_path)
    cfg = tiny_geopurify_config(tmp_path, root)
    return root, cfg, tool.main([cfg, '--no-progress', *extra])


def _options(opts):
    """The printed ``--cfg-options`` as DictAction would parse them."""
    from mmengine.config import DictAction
    out = {}
    for o in opts:
        k, v = o.split('=', 1)
        out[k] = DictAction._parse_iterable(v)
    return out


def test_export_is_the_teacher_on_the_training_points(tmp_path):
    from ovseg_plugins.seg3d.models.teachers import GeometricTeacher
    root, _, res = _export(tmp_path)
    out = tmp_path / 'teacher' / 'scene0000_00.npy'  # the config's folder
    assert res['out_dir'] == str(tmp_path / 'teacher')
    saved = np.load(out)
    pts = np.fromfile(osp.join(root, 'points', 'scene0000_00.bin'),
                      np.float32).reshape(-1, 6)
    assert saved.shape == (len(pts), 18) and saved.dtype == np.float32
    ref = GeometricTeacher()(torch.from_numpy(pts))
    torch.testing.assert_close(torch.from_numpy(saved), ref)
    # the tiny config expects 8 channels: the exact overrides are printed
    assert res['cfg_options'] == [
        'train_dataloader.dataset.pipeline.2.expected_dim=18',
        'model.teacher_channels=18']


def test_export_whatever_scope_the_caller_left_current(tmp_path):
    """An mmseg default scope (left by a 2D tool in the same process) does
    not hide the mmdet3d-registered teachers."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmseg'):
        _, _, res = _export(tmp_path)
        assert DefaultScope.get_current_instance().scope_name == 'mmseg'
    assert res['channels'] == 18


def test_training_on_the_export_equals_the_online_teacher(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import DATASETS, MODELS, init_default_scope

    import ovseg_plugins.seg3d  # noqa: F401
    from ovseg_plugins.utils.config_paths import merge_cfg_options
    _, cfg_path, res = _export(tmp_path)
    cfg = Config.fromfile(cfg_path)
    merge_cfg_options(cfg, _options(res['cfg_options']))
    init_default_scope('mmdet3d')
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    pts = ds[0]['inputs']['points']  # xyz rgb, 8 fused, 18 teacher
    assert pts.shape[1] == 6 + 8 + 18
    offline = MODELS.build(cfg.model)
    online = MODELS.build(dict(cfg.model, teacher_channels=0,
                               teacher=dict(type='GeometricTeacher')))
    online.load_state_dict(offline.state_dict())
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        a = offline.loss(dict(points=[pts]), None)['loss_infonce']
        torch.manual_seed(0)
        b = online.loss(dict(points=[pts[:, :14]]), None)['loss_infonce']
    finally:
        torch.random.set_rng_state(state)
    torch.testing.assert_close(a, b)


def test_fp16_and_resume(tmp_path):
    _, cfg, res = _export(tmp_path, '--fp16')
    out = tmp_path / 'teacher' / 'scene0000_00.npy'
    assert np.load(out).dtype == np.float16
    mtime = osp.getmtime(out)
    import export_teacher_features as tool
    again = tool.main([cfg, '--no-progress', '--skip-existing'])
    assert osp.getmtime(out) == mtime and again['channels'] == 18


def test_openscene_config_export_is_read_back(tmp_path):
    """configs/geopurify/scannet_openscene.py (``.pth`` scenes, colours in
    [-1, 1]): the export is the teacher on the loaded points (rgb 0..255)
    and LoadPointFeatures finds it for the scene."""
    from mmengine.config import Config
    from mmengine.registry import DATASETS, init_default_scope

    from ovseg_plugins.seg3d.models.teachers import GeometricTeacher
    import export_teacher_features as tool
    pts = np.fromfile(osp.join(shared_data_path('scannet'), 'points',
                               'scene0000_00.bin'), np.float32).reshape(-1, 6)
    d = tmp_path / 'scannet_3d' / 'train'
    d.mkdir(parents=True)
    torch.save((pts[:, :3].copy(), pts[:, 3:] / 127.5 - 1),
               str(d / 'scene0000_00_vh_clean_2.pth'))
    leaf = osp.join(REPO_ROOT, 'configs', 'geopurify', 'scannet_openscene.py')
    opts = [f'data_root={tmp_path}/',
            'train_dataloader.dataset.scene_list=None']
    res = tool.main([leaf, '--no-progress', '--cfg-options', *opts])
    out = tmp_path / 'scannet_3d' / 'teacher_feats' / \
        'scene0000_00_vh_clean_2.npy'
    assert res['out_dir'] == str(tmp_path / 'scannet_3d' / 'teacher_feats')
    ref = GeometricTeacher()(torch.from_numpy(pts))
    torch.testing.assert_close(torch.from_numpy(np.load(out)), ref,
                               rtol=1e-4, atol=1e-4)
    cfg = Config.fromfile(leaf)
    from ovseg_plugins.utils.config_paths import merge_cfg_options
    merge_cfg_options(cfg, dict(_options(opts), **_options(
        res['cfg_options'])))
    dcfg = cfg.train_dataloader.dataset
    dcfg.pipeline = [t for t in dcfg.pipeline if not (
        t.type == 'LoadPointFeatures' and 'fused' in t.feature_root)]
    init_default_scope(cfg.default_scope)
    ds = DATASETS.build(dcfg)
    got = ds[0]['inputs']['points']  # xyz rgb normal teacher
    torch.testing.assert_close(got[:, -18:], torch.from_numpy(np.load(out)))
