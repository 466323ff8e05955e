"""Every reader subtracts a float64 local origin before the float32 cast:
georeferenced coordinates come back (``xyz_world``) to the precision the
file stored; clouds near 0 keep the origin (0, 0, 0) and are read as
before."""
import numpy as np
import pytest
import torch

from ovseg_plugins.seg3d.io.cloud import LOCAL_LIMIT, choose_origin
from ovseg_plugins.seg3d.pointcloud_io import read_point_cloud, write_ply


def _utm(n=3000, seed=0):
    """A 120 x 80 x 25 m block at UTM scale, millimetre values (float64)."""
    rng = np.random.default_rng(seed)
    xyz = np.stack([rng.integers(0, 120_000, n), rng.integers(0, 80_000, n),
                    rng.integers(0, 25_000, n)], 1) * 1e-3
    xyz += np.array([455_123., 5_411_987., 312.])
    rgb = rng.integers(0, 256, (n, 3))
    return xyz, rgb


def _write_pcd_f8(path, xyz, rgb):
    packed = ((rgb[:, 0].astype(np.uint32) << 16) |
              (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2])
    head = ('VERSION 0.7\nFIELDS x y z rgb\nSIZE 8 8 8 4\nTYPE F F F U\n'
            f'COUNT 1 1 1 1\nWIDTH {len(xyz)}\nHEIGHT 1\nPOINTS {len(xyz)}\n'
            'DATA binary\n')
    rows = np.empty(len(xyz), [('x', '<f8'), ('y', '<f8'), ('z', '<f8'),
                               ('rgb', '<u4')])
    rows['x'], rows['y'], rows['z'] = xyz.T
    rows['rgb'] = packed
    with open(path, 'wb') as f:
        f.write(head.encode() + rows.tobytes())


@pytest.mark.parametrize('fmt', ['npy', 'ply', 'pcd', 'pth'])
def test_float64_files_keep_their_precision(tmp_path, fmt):
    xyz, rgb = _utm()
    p = str(tmp_path / f'utm.{fmt}')
    if fmt == 'npy':
        np.save(p, np.concatenate([xyz, rgb], 1))
    elif fmt == 'ply':
        o = np.array([455_000., 5_411_000., 0.])
        write_ply(p, xyz - o, rgb, origin=o)
    elif fmt == 'pcd':
        _write_pcd_f8(p, xyz, rgb)
    else:
        torch.save((xyz, rgb / 127.5 - 1, np.zeros(len(xyz), int)), p)
    pc = read_point_cloud(p)
    assert pc.origin.any() and pc.xyz.dtype == np.float32
    assert np.abs(pc.xyz).max() < 100  # local frame: half the extent
    err = np.abs(pc.xyz_world - xyz).max()
    assert err < 1e-5, err  # float32 of a +-60 m frame; the file has 1 mm
    assert np.abs(xyz.astype(np.float32) - xyz).max() > 0.1  # naive cast
    np.testing.assert_allclose(pc.rgb, rgb, atol=1e-3)


def test_float32_bin_is_shifted_exactly(tmp_path):
    """A float32 .bin already lost precision in the file; the shift loses
    nothing more (world coordinates are the file's float32 values)."""
    xyz, rgb = _utm(500)
    a = np.concatenate([xyz, rgb], 1).astype(np.float32)
    p = str(tmp_path / 'utm.bin')
    a.tofile(p)
    pc = read_point_cloud(p)
    np.testing.assert_array_equal(pc.xyz_world, a[:, :3].astype(np.float64))


def test_clouds_near_zero_keep_origin_zero(tmp_path):
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-LOCAL_LIMIT, LOCAL_LIMIT, (200, 3))
    assert not choose_origin(xyz).any()
    p = str(tmp_path / 'room.npy')
    np.save(p, xyz.astype(np.float32))
    pc = read_point_cloud(p)
    assert not pc.origin.any()
    np.testing.assert_array_equal(pc.xyz, xyz.astype(np.float32))


def test_openscene_pipeline_shifts_float64_scenes(tmp_path):
    """LoadOpenScenePoints (training / testing pipelines) shifts a float64
    UTM scene and records the origin, like the readers."""
    pytest.importorskip('mmdet3d')
    from ovseg_plugins.seg3d.datasets.transforms import LoadOpenScenePoints
    xyz, rgb = _utm(400)
    p = str(tmp_path / 'scene.pth')
    torch.save((xyz, rgb / 127.5 - 1), p)
    res = LoadOpenScenePoints(with_seg=False)(
        dict(lidar_points=dict(lidar_path=p)))
    pts = res['points'].tensor.numpy()
    back = pts[:, :3].astype(np.float64) + res['coord_origin']
    assert np.abs(back - xyz).max() < 1e-5
    # a ScanNet-scale scene is unchanged
    torch.save((xyz - xyz.min(0), rgb / 127.5 - 1), p)
    res = LoadOpenScenePoints(with_seg=False)(
        dict(lidar_points=dict(lidar_path=p)))
    assert not res['coord_origin'].any()
    np.testing.assert_array_equal(res['points'].tensor.numpy()[:, :3],
                                  (xyz - xyz.min(0)).astype(np.float32))
