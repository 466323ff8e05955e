"""LAS / LAZ in and out: UTM-scale millimetre coordinates come back to the
file's own precision, colours / intensity / classification are read, and the
labelled output is the input file (same records, header scale / offset,
CRS) plus pred_class / pred_score."""
import json

import numpy as np
import pytest

laspy = pytest.importorskip('laspy')

from fixtures.las_files import UTM_WKT, utm_points, write_las  # noqa: E402
from ovseg_plugins.seg3d.io.las import (CLASS_VLR, read_las,  # noqa: E402
                                        write_las_labels)
from ovseg_plugins.seg3d.pointcloud_io import (read_point_cloud,  # noqa
                                               write_ply)


def _rgb16(n, seed=1):
    return np.random.default_rng(seed).integers(0, 65536, (n, 3))


@pytest.mark.parametrize('ext', ['las', 'laz'])
def test_utm_millimetres_round_trip_within_the_file_scale(tmp_path, ext):
    ints = utm_points()
    p = str(tmp_path / f'tile.{ext}')
    truth = write_las(p, ints, rgb=_rgb16(len(ints)))
    pc = read_point_cloud(p)
    assert pc.xyz.dtype == np.float32 and pc.origin.dtype == np.float64
    # the local origin: bounding-box centre, whole metres
    np.testing.assert_array_equal(pc.origin, np.round(
        (truth.min(0) + truth.max(0)) / 2))
    err = np.abs(pc.xyz_world - truth).max()
    assert err <= 1e-3  # the file's scale
    assert err < 1e-4  # in fact float32 rounding of a +-100 m local frame
    # the naive float32 cast the readers avoid loses decimetres here
    assert np.abs(truth.astype(np.float32) - truth).max() > 0.1
    assert pc.source['crs'] == UTM_WKT and pc.source['scales'] == [1e-3] * 3


def test_colours_16_and_8_bit(tmp_path):
    ints = utm_points(500)
    rgb16 = _rgb16(500)
    p16 = str(tmp_path / 'c16.las')
    write_las(p16, ints, rgb=rgb16)
    np.testing.assert_allclose(read_las(p16).rgb, rgb16 / 257., rtol=1e-6)
    rgb8 = rgb16 // 257  # 8-bit values in the 16-bit fields
    p8 = str(tmp_path / 'c8.las')
    write_las(p8, ints, rgb=rgb8)
    pc = read_las(p8)
    assert pc.has_color
    np.testing.assert_array_equal(pc.rgb, rgb8)


def test_intensity_and_classification_are_kept(tmp_path):
    ints = utm_points(300)
    rng = np.random.default_rng(3)
    inten = rng.integers(0, 4000, 300)
    cls = rng.choice([2, 5, 6, 9], 300)
    p = str(tmp_path / 'a.las')
    write_las(p, ints, point_format=3, rgb=_rgb16(300), intensity=inten,
              classification=cls, wkt=None)
    pc = read_las(p)
    np.testing.assert_array_equal(pc.attributes['intensity'], inten)
    np.testing.assert_array_equal(pc.attributes['classification'], cls)
    assert pc.source['point_format'] == 3 and pc.source['crs'] is None


@pytest.mark.parametrize('src_ext,dst_ext', [('las', 'las'), ('laz', 'laz'),
                                             ('las', 'laz')])
def test_labelled_output_is_the_input_plus_two_dimensions(tmp_path, src_ext,
                                                          dst_ext):
    ints = utm_points(1500)
    rng = np.random.default_rng(4)
    src = str(tmp_path / f'in.{src_ext}')
    write_las(src, ints, rgb=_rgb16(1500), intensity=rng.integers(
        0, 4000, 1500), classification=rng.choice([2, 6], 1500))
    lab = rng.integers(0, 5, 1500)
    sc = rng.random(1500).astype(np.float32)
    dst = str(tmp_path / f'out.{dst_ext}')
    write_las_labels(dst, src, lab, sc, ['road', 'roof', 'tree', 'car',
                                         'grass'], chunk=400)
    with laspy.open(src) as f:
        a, ha = f.read(), f.header
    with laspy.open(dst) as f:
        b, hb = f.read(), f.header
    assert hb.point_count == 1500
    for dim in ('X', 'Y', 'Z', 'intensity', 'classification', 'red',
                'green', 'blue', 'gps_time', 'return_number'):
        np.testing.assert_array_equal(np.asarray(b[dim]), np.asarray(a[dim]))
    np.testing.assert_array_equal(b.pred_class, lab)
    np.testing.assert_array_equal(b.pred_score, sc)
    np.testing.assert_array_equal(hb.scales, ha.scales)
    np.testing.assert_array_equal(hb.offsets, ha.offsets)
    wkt = [v for v in hb.vlrs if (v.user_id, v.record_id) ==
           ('LASF_Projection', 2112)]
    assert len(wkt) == 1 and wkt[0].string.rstrip('\x00') == UTM_WKT
    names = [v for v in hb.vlrs if (v.user_id, v.record_id) == CLASS_VLR]
    assert json.loads(bytes(names[0].record_data)) == [
        'road', 'roof', 'tree', 'car', 'grass']
    # coordinates read back from the output: same precision as the input
    np.testing.assert_allclose(read_las(dst).xyz_world,
                               read_las(src).xyz_world, rtol=0, atol=0)
    # a second run over its own output overwrites the two dimensions
    dst2 = str(tmp_path / f'out2.{dst_ext}')
    write_las_labels(dst2, dst, lab[::-1].copy(), sc, ['a'])
    with laspy.open(dst2) as f:
        c = f.read()
    np.testing.assert_array_equal(c.pred_class, lab[::-1])
    assert [d.name for d in c.point_format.extra_dimensions] == [
        'pred_class', 'pred_score']


def test_labels_of_another_file_are_refused(tmp_path):
    src = str(tmp_path / 'in.las')
    write_las(src, utm_points(100))
    with pytest.raises(ValueError, match='in.las: 100 points but 99 labels'):
        write_las_labels(str(tmp_path / 'o.las'), src, np.zeros(99, int),
                         np.zeros(99), ['a'])
    assert not (tmp_path / 'o.las').exists()


def test_ply_output_keeps_world_coordinates(tmp_path):
    ints = utm_points(800)
    src = str(tmp_path / 'in.las')
    truth = write_las(src, ints, rgb=_rgb16(800))
    pc = read_las(src)
    out = str(tmp_path / 'labels.ply')
    write_ply(out, pc.xyz, pc.rgb, dict(label=np.zeros(800, np.int32)),
              origin=pc.origin)
    from plyfile import PlyData
    v = PlyData.read(out)['vertex'].data
    assert v['x'].dtype == np.float64  # world coordinates as double
    back = np.stack([v['x'], v['y'], v['z']], 1)
    assert np.abs(back - truth).max() <= 1e-3
    np.testing.assert_allclose(read_point_cloud(out).xyz_world, back,
                               rtol=0, atol=1e-4)
