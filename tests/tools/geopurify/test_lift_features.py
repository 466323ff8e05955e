"""tools/geopurify/lift_features.py: the intrinsics of the frames it reads."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'geopurify'))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))


def _scene(tmp_path, K, color_hw=(80, 100), depth_hw=(40, 50)):
    """Two frames (identity pose) looking at a 30 x 30 grid of points on the
    z = 1 plane; depth maps at ``depth_hw``; left half of the feature map
    -> class 0, right half -> class 1."""
    from PIL import Image
    scene = tmp_path / 'scene'
    for d in ('color', 'pose', 'intrinsic', 'depth'):
        (scene / d).mkdir(parents=True, exist_ok=True)
    for f in ('0', '20'):
        Image.fromarray(np.zeros((*color_hw, 3), np.uint8)).save(
            scene / 'color' / f'{f}.jpg')
        np.savetxt(scene / 'pose' / f'{f}.txt', np.eye(4))
        Image.fromarray(np.full(depth_hw, 1000, np.uint16)).save(
            scene / 'depth' / f'{f}.png')
    np.savetxt(scene / 'intrinsic' / 'intrinsic_color.txt', K)
    x, y = np.meshgrid(np.linspace(-0.3, 0.3, 30), np.linspace(-0.2, 0.2, 30))
    pts = np.stack([x.ravel(), y.ravel(), np.ones(900), np.zeros(900),
                    np.zeros(900), np.zeros(900)], 1).astype(np.float32)
    pts.tofile(tmp_path / 'scene0.bin')
    fdir = tmp_path / 'feats'
    fdir.mkdir(exist_ok=True)
    fmap = np.zeros((2, 8, 10), np.float32)
    fmap[0, :, :5] = 1
    fmap[1, :, 5:] = 1
    for f in ('0', '20'):
        np.save(fdir / f'{f}.npy', fmap)
    torch.save(torch.eye(2), tmp_path / 'text.pt')
    return scene, pts


def _run(tmp_path, scene, out, *extra):
    import lift_features
    return np.load(lift_features.main(
        [str(scene), str(tmp_path / 'scene0.bin'), str(tmp_path / out),
         '--feature-dir', str(tmp_path / 'feats'), '--text',
         str(tmp_path / 'text.pt'), '--cut', '2', *extra]))


def test_full_resolution_intrinsics_rescaled_to_the_depth_frames(
        tmp_path, capsys):
    # colour intrinsics of a 200 x 160 camera; colour frames 100 x 80 and
    # depth maps 50 x 40 are read: points are projected into the depth
    # frame with the intrinsics rescaled to it (x 1/4)
    K_full = np.array([[200., 0, 100], [0, 200., 80], [0, 0, 1]])
    scene, pts = _scene(tmp_path, K_full)
    full = _run(tmp_path, scene, 'a')
    log = capsys.readouterr().out
    assert 'intrinsic_color.txt' in log and '50x40 frames' in log
    assert 'depth frames' in log and '2 views (0 skipped' in log
    # the same as the exact intrinsics of the depth frames given directly
    exact = tmp_path / 'k_depth.txt'
    np.savetxt(exact, [[50., 0, 25], [0, 50., 20], [0, 0, 1]])
    direct = _run(tmp_path, scene, 'b', '--intrinsics', str(exact))
    assert np.array_equal(full['feat'], direct['feat'])
    assert full['seen'].all()
    lab = full['feat'].astype(np.float32).argmax(1)
    xs = pts[:, 0]
    assert (lab[xs < -0.02] == 0).all() and (lab[xs > 0.02] == 1).all()


def test_inconsistent_intrinsics_refused_naming_the_file(tmp_path):
    # principal point of a 200 x 80 frame: aspect 2.5, frames are 1.25
    scene, _ = _scene(tmp_path, np.array([[200., 0, 100], [0, 200., 40],
                                          [0, 0, 1]]))
    with pytest.raises(ValueError, match=r'intrinsic_color\.txt.*aspect'):
        _run(tmp_path, scene, 'a')


def test_small_views_skipped_by_default(tmp_path, capsys):
    scene, _ = _scene(tmp_path, np.array([[50., 0, 25], [0, 50., 20],
                                          [0, 0, 1]]))
    # 900 visible points per view: kept at 400, skipped at 1000
    with pytest.raises(ValueError, match='fewer than 1000 visible'):
        _run(tmp_path, scene, 'a', '--min-visible', '1000')
    _run(tmp_path, scene, 'b')
    assert '2 views (0 skipped with < 400' in capsys.readouterr().out


def test_mmdet3d_posed_images_layout_equals_the_scannet_layout(
        tmp_path, capsys):
    """mmdet3d's extract_posed_images.py writes <id>.jpg, <id>.txt and
    intrinsic.txt side by side (no depth): the lift equals the ScanNet
    layout's without depth maps."""
    import shutil
    K = np.array([[100., 0, 50], [0, 100., 40], [0, 0, 1]])
    scene, _ = _scene(tmp_path, K)
    shutil.rmtree(scene / 'depth')
    flat = tmp_path / 'posed_images' / 'scene0'
    flat.mkdir(parents=True)
    for f in ('0', '20'):
        shutil.copy(scene / 'color' / f'{f}.jpg', flat / f'{int(f):05d}.jpg')
        shutil.copy(scene / 'pose' / f'{f}.txt', flat / f'{int(f):05d}.txt')
        shutil.copy(tmp_path / 'feats' / f'{f}.npy',  # maps by frame id
                    tmp_path / 'feats' / f'{int(f):05d}.npy')
    shutil.copy(scene / 'intrinsic' / 'intrinsic_color.txt',
                flat / 'intrinsic.txt')
    ref = _run(tmp_path, scene, 'a')
    assert 'ScanNet export layout' in capsys.readouterr().out
    got = _run(tmp_path, flat, 'b')
    log = capsys.readouterr().out
    assert 'mmdet3d extract_posed_images layout' in log
    assert 'occlusion from a z-buffer of the points' in log
    assert '2 views (0 skipped' in log
    np.testing.assert_array_equal(got['feat'], ref['feat'])
    np.testing.assert_array_equal(got['seen'], ref['seen'])


def test_folder_without_frames_names_both_layouts_and_the_renderer(
        tmp_path):
    K = np.array([[100., 0, 50], [0, 100., 40], [0, 0, 1]])
    _scene(tmp_path, K)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError) as e:
        _run(tmp_path, tmp_path / 'empty', 'a')
    msg = str(e.value)
    assert 'intrinsic/intrinsic_color.txt' in msg
    assert "extract_posed_images.py layout (<id>.jpg, <id>.txt, " \
        "intrinsic.txt)" in msg
    assert 'tools/geopurify/render_views.py' in msg
