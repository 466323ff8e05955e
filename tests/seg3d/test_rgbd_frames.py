"""Posed RGB-D frames: ids, layouts, and the one intrinsics rule the
lifting applies to them (tools/geopurify/lift_features.py and
GeoPurifyInferencer read frames through the same reader)."""
import numpy as np
import pytest
import torch
from PIL import Image

from ovseg_plugins.seg3d.lifting import lift_views, view_intrinsics
from ovseg_plugins.seg3d.posed_view import PosedView
from ovseg_plugins.seg3d.rgbd_frames import (RGBDFrames, list_frames,
                                             load_frame)


def _scene(tmp_path, K, hw=(48, 64), depth_hw=(24, 32), ids=(0, 20, 40, 7)):
    for d in ('color', 'depth', 'pose', 'intrinsic'):
        (tmp_path / d).mkdir()
    np.savetxt(tmp_path / 'intrinsic' / 'intrinsic_color.txt', K)
    for i in ids:
        Image.fromarray(np.full(hw + (3, ), i, np.uint8)).save(
            tmp_path / 'color' / f'{i}.jpg')
        if depth_hw:
            Image.fromarray(np.full(depth_hw, 1500, np.uint16)).save(
                tmp_path / 'depth' / f'{i}.png')
        np.savetxt(tmp_path / 'pose' / f'{i}.txt', np.eye(4))
    return str(tmp_path)


def test_frames_are_read_as_is_and_projected_into_the_depth_frame(tmp_path):
    # intrinsic of a 2x larger sensor image (4x4 file, as ScanNet writes)
    K = np.eye(4)
    K[0, 0], K[1, 1], K[0, 2], K[1, 2] = 100., 100., 64., 48.
    root = _scene(tmp_path, K)
    assert list_frames(root, 20) == ['0', '20', '40']
    assert list_frames(root, 1) == ['0', '7', '20', '40']
    fr = load_frame(root, '20')
    assert isinstance(fr, PosedView) and fr.id == '20'
    assert fr.image.shape == (48, 64, 3) and fr.image_hw == (48, 64)
    np.testing.assert_array_equal(fr.intrinsic, K[:3, :3])  # as read
    # the depth map keeps its size: points go into the 32 x 24 depth frame
    assert fr.depth.shape == (24, 32) and fr.projection_hw == (24, 32)
    np.testing.assert_allclose(fr.depth, 1.5)
    Kd, msg = view_intrinsics(fr)
    np.testing.assert_allclose(Kd.numpy(), [[25, 0, 16], [0, 25, 12],
                                            [0, 0, 1]])
    assert 'intrinsic_color.txt' in msg and '32x24 frames' in msg
    frames = RGBDFrames(root, 20)
    assert len(frames) == 3 and [v.id for v in frames] == ['0', '20', '40']


def test_missing_folders_are_named(tmp_path):
    K = np.array([[60., 0, 31.5], [0, 60., 23.5], [0, 0, 1]])
    with pytest.raises(FileNotFoundError, match='color'):
        list_frames(str(tmp_path / 'nowhere'))
    odd = tmp_path / 'odd'
    odd.mkdir()
    _scene(odd, K, ids=(7, 13))
    with pytest.raises(FileNotFoundError, match='divisible by 20'):
        list_frames(str(odd), 20)


@pytest.mark.parametrize('case', ['off_centre', 'aspect_4_3_on_16_9'])
def test_intrinsics_that_do_not_belong_to_the_frames_are_refused(
        tmp_path, case):
    """The rule every door applies (it was only the lifting tool's): a
    principal point 8 % off the centre of the frames, or 4:3 intrinsics on
    16:9 frames, is refused naming the intrinsics file, never rescaled
    anisotropically or kept."""
    if case == 'off_centre':
        K = np.array([[60., 0, 32 * 1.08], [0, 60., 24], [0, 0, 1]])
        root = _scene(tmp_path, K, depth_hw=None)
    else:
        K = np.array([[60., 0, 32], [0, 60., 24], [0, 0, 1]])  # 64 x 48
        root = _scene(tmp_path, K, hw=(36, 64), depth_hw=None)
    view = load_frame(root, '0')
    with pytest.raises(ValueError, match=r'intrinsic_color\.txt.*aspect'):
        view_intrinsics(view)
    with pytest.raises(ValueError, match=r'intrinsic_color\.txt.*aspect'):
        lift_views(torch.rand(10, 3), RGBDFrames(root, 20), torch.eye(4),
                   lambda v: (torch.ones(4, 3, 4), v.image_hw),
                   log=lambda m: None)


def test_depth_of_another_aspect_ratio_is_refused(tmp_path):
    K = np.array([[60., 0, 32], [0, 60., 24], [0, 0, 1]])
    root = _scene(tmp_path, K, depth_hw=(24, 48))
    with pytest.raises(ValueError, match=r'depth/0\.png.*48x24.*64x48'):
        load_frame(root, '0')


def test_mmdet3d_layout_reads_the_same_frame_without_depth(tmp_path):
    import shutil
    K = np.eye(4)
    K[0, 0], K[1, 1], K[0, 2], K[1, 2] = 100., 100., 64., 48.
    (tmp_path / 'scannet').mkdir()
    root = _scene(tmp_path / 'scannet', K)
    flat = tmp_path / 'flat'
    flat.mkdir()
    for i in (0, 20, 40, 7):
        shutil.copy(f'{root}/color/{i}.jpg', flat / f'{i:05d}.jpg')
        shutil.copy(f'{root}/pose/{i}.txt', flat / f'{i:05d}.txt')
    shutil.copy(f'{root}/intrinsic/intrinsic_color.txt',
                flat / 'intrinsic.txt')
    assert list_frames(str(flat), 20) == ['00000', '00020', '00040']
    a, b = load_frame(root, '20'), load_frame(str(flat), '00020')
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.intrinsic, b.intrinsic)
    np.testing.assert_array_equal(a.cam2world, b.cam2world)
    assert a.depth is not None and b.depth is None
    # without depth the colour frame is projected into
    assert b.projection_hw == (48, 64)
