"""Point-cloud readers/writers: every format gives the same points in the
same order; bad files fail naming the file."""
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import shared_data_path
from ovseg_plugins.seg3d.pointcloud_io import (read_point_cloud, write_ply)


def _cloud(n=57, seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-3, 3, (n, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (n, 3)).astype(np.uint8)
    return xyz, rgb


def _write_pcd(path, xyz, rgb, binary):
    """An independent few-line PCL writer (packed float rgb)."""
    packed = ((rgb[:, 0].astype(np.uint32) << 16) |
              (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]).view(np.float32)
    head = ('# .PCD v0.7\nVERSION 0.7\nFIELDS x y z rgb\nSIZE 4 4 4 4\n'
            'TYPE F F F F\nCOUNT 1 1 1 1\n'
            f'WIDTH {len(xyz)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n'
            f'POINTS {len(xyz)}\nDATA {"binary" if binary else "ascii"}\n')
    rows = np.concatenate([xyz, packed[:, None]], 1).astype(np.float32)
    with open(path, 'wb') as f:
        f.write(head.encode())
        if binary:
            f.write(rows.tobytes())
        else:
            for r in rows:
                f.write((' '.join(repr(float(v)) for v in r) +
                         '\n').encode())


@pytest.mark.parametrize('fmt', ['ply', 'ply_ascii', 'pcd_ascii',
                                 'pcd_binary', 'bin', 'npy', 'pth'])
def test_each_format_reads_the_same_points_in_order(tmp_path, fmt):
    xyz, rgb = _cloud()
    path = str(tmp_path / f'cloud.{fmt.split("_")[0]}')
    if fmt.startswith('ply'):
        write_ply(path, xyz, rgb, text=fmt == 'ply_ascii')
    elif fmt.startswith('pcd'):
        _write_pcd(path, xyz, rgb, binary=fmt == 'pcd_binary')
    elif fmt == 'bin':
        np.concatenate([xyz, rgb.astype(np.float32)], 1).tofile(path)
    elif fmt == 'npy':
        np.save(path, np.concatenate([xyz, rgb.astype(np.float32)], 1))
    else:  # OpenScene / ScanNet tuple: colours in [-1, 1]
        lab = np.arange(len(xyz)) % 20
        torch.save((xyz, rgb / 127.5 - 1, lab), path)
    pc = read_point_cloud(path)
    assert len(pc) == len(xyz) and pc.has_color
    np.testing.assert_allclose(pc.xyz, xyz, rtol=0, atol=1e-6)
    np.testing.assert_allclose(pc.rgb, rgb, rtol=0, atol=1e-3)
    if fmt == 'pth':
        np.testing.assert_array_equal(pc.labels, np.arange(len(xyz)) % 20)


def test_ply_round_trip_keeps_order_count_and_properties(tmp_path):
    xyz, rgb = _cloud(1000, 1)
    lab = np.random.default_rng(2).integers(0, 7, 1000)
    score = np.linspace(0, 1, 1000, dtype=np.float32)
    p = str(tmp_path / 'out.ply')
    write_ply(p, xyz, rgb, dict(label=lab, score=score))
    pc = read_point_cloud(p)
    np.testing.assert_array_equal(pc.xyz, xyz)  # float32 exact
    np.testing.assert_array_equal(pc.rgb, rgb)
    np.testing.assert_array_equal(pc.labels, lab)
    from plyfile import PlyData
    v = PlyData.read(p)['vertex'].data
    np.testing.assert_array_equal(v['score'], score)
    assert [f for f in osp.os.listdir(tmp_path) if f.startswith('.tmp')] \
        == []  # atomic write left no temp file


def test_colourless_cloud_is_grey_and_flagged(tmp_path):
    xyz, _ = _cloud()
    p = str(tmp_path / 'xyz.npy')
    np.save(p, xyz)
    pc = read_point_cloud(p)
    assert not pc.has_color and (pc.rgb == 128).all()


def test_bad_inputs_name_the_file(tmp_path):
    xyz, rgb = _cloud()
    xyz[3] = np.nan
    p = str(tmp_path / 'nan.npy')
    np.save(p, np.concatenate([xyz, rgb.astype(np.float32)], 1))
    with pytest.raises(ValueError, match='nan.npy.*NaN'):
        read_point_cloud(p)
    b = str(tmp_path / 'odd.bin')
    np.zeros(7, np.float32).tofile(b)
    with pytest.raises(ValueError, match='odd.bin.*load_dim'):
        read_point_cloud(b)
    c = str(tmp_path / 'c.pcd')
    with open(c, 'w') as f:
        f.write('FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n'
                'POINTS 1\nDATA binary_compressed\n')
    with pytest.raises(ValueError, match='c.pcd.*binary_compressed'):
        read_point_cloud(c)
    with pytest.raises(FileNotFoundError, match='missing.ply'):
        read_point_cloud(str(tmp_path / 'missing.ply'))
    with pytest.raises(ValueError, match='unsupported'):
        open(tmp_path / 'x.xyz', 'w').close()
        read_point_cloud(str(tmp_path / 'x.xyz'))
    open(tmp_path / 'x.las', 'w').close()  # LAS is supported: a clear error
    with pytest.raises(ValueError, match='could not read LAS/LAZ file'):
        read_point_cloud(str(tmp_path / 'x.las'))


def test_bin_read_with_the_wrong_width_is_refused(tmp_path):
    """The real 6-column (xyz rgb) ScanNet .bin read as 4 or 7 columns: the
    value count divides, but coordinates and colours would mix -> refused;
    a colour column outside 0..255 is refused too."""
    pts = np.fromfile(shared_data_path('scannet_demo', 'scene0000_00.bin'),
                      np.float32).reshape(-1, 6)[:700]
    p = str(tmp_path / 's.bin')
    pts.tofile(p)
    assert read_point_cloud(p).points.shape == (700, 6)
    for dim in (4, 7):
        with pytest.raises(ValueError) as e:
            read_point_cloud(p, load_dim=dim)
        msg = str(e.value)
        assert f's.bin: read as {dim}-column rows, but it is a 6-column ' \
            'xyz rgb file' in msg and '--load-dim 6' in msg
    # a real 4-column file (xyz + float intensity) still reads
    q = str(tmp_path / 'lidar.bin')
    lidar = np.concatenate([pts[:600, :3], np.random.default_rng(0).random(
        (600, 1), np.float32)], 1)
    lidar.tofile(q)
    assert len(read_point_cloud(q, load_dim=4)) == 600
    bad = pts.copy()
    bad[5, 4] = 300.5
    bad.tofile(p)
    with pytest.raises(ValueError, match=r'columns 4-6 .* hold \[.*300\.5\]'
                       r', not rgb 0\.\.255'):
        read_point_cloud(p)
