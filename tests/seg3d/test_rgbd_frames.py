"""ScanNet-layout frame reading: ids, intrinsic rescale, depth resize."""
import numpy as np
import pytest
from PIL import Image

from ovseg_plugins.seg3d.rgbd_frames import list_frames, load_frame


def _scene(tmp_path, K, hw=(48, 64), depth_hw=(24, 32), ids=(0, 20, 40, 7)):
    for d in ('color', 'depth', 'pose', 'intrinsic'):
        (tmp_path / d).mkdir()
    np.savetxt(tmp_path / 'intrinsic' / 'intrinsic_color.txt', K)
    for i in ids:
        Image.fromarray(np.full(hw + (3, ), i, np.uint8)).save(
            tmp_path / 'color' / f'{i}.jpg')
        Image.fromarray(np.full(depth_hw, 1500, np.uint16)).save(
            tmp_path / 'depth' / f'{i}.png')
        np.savetxt(tmp_path / 'pose' / f'{i}.txt', np.eye(4))
    return str(tmp_path)


def test_ids_intrinsic_rescale_and_depth_resize(tmp_path):
    # intrinsic of a 2x larger sensor image (4x4 file, as ScanNet writes)
    K = np.eye(4)
    K[0, 0], K[1, 1], K[0, 2], K[1, 2] = 100., 100., 64., 48.
    root = _scene(tmp_path, K)
    assert list_frames(root, 20) == ['0', '20', '40']
    assert list_frames(root, 1) == ['0', '7', '20', '40']
    fr = load_frame(root, '20')
    assert fr['color'].shape == (48, 64, 3)
    np.testing.assert_allclose(fr['intrinsic'], [[50, 0, 32], [0, 50, 24],
                                                 [0, 0, 1]])
    assert fr['depth'].shape == (48, 64)
    np.testing.assert_allclose(fr['depth'], 1.5)


def test_matching_intrinsic_is_kept_and_missing_folders_are_named(tmp_path):
    K = np.array([[60., 0, 31.5], [0, 60., 23.5], [0, 0, 1]])
    root = _scene(tmp_path, K)
    np.testing.assert_allclose(load_frame(root, '0')['intrinsic'], K)
    with pytest.raises(FileNotFoundError, match='color'):
        list_frames(str(tmp_path / 'nowhere'))
    odd = tmp_path / 'odd'
    odd.mkdir()
    _scene(odd, K, ids=(7, 13))
    with pytest.raises(FileNotFoundError, match='divisible by 20'):
        list_frames(str(odd), 20)


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
    np.testing.assert_array_equal(a['color'], b['color'])
    np.testing.assert_array_equal(a['intrinsic'], b['intrinsic'])
    np.testing.assert_array_equal(a['pose'], b['pose'])
    assert a['depth'] is not None and b['depth'] is None
