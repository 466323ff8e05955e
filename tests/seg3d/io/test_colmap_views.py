"""COLMAP models (text and binary) of the procedural room's cameras give
the same posed views, hence the same lifted features, as its frame
folder; the undistortion rule and the frame checks."""
import os.path as osp

import numpy as np
import pytest
import torch

from fixtures.colmap_writer import (colmap_from_scannet_frames,
                                    write_colmap_model)


@pytest.fixture(scope='module')
def room(tmp_path_factory):
    from ovseg_plugins.seg3d.synthetic import write_oracle_scene
    d = str(tmp_path_factory.mktemp('colmap_room'))
    return write_oracle_scene(d, seed=1, spacing=0.08, views=4,
                              size=(160, 120), dim=8, noise=0.3)


def _lift(xyz, views, scene):
    from ovseg_plugins.apis.geopurify.feature_sources import \
        FeatureMapSource
    from ovseg_plugins.seg3d.lifting import lift_views
    src = FeatureMapSource(scene['features'], scene['text'])
    text = src.text(['wall', 'floor', 'bed', 'table', 'cabinet', 'chair',
                     'sofa', 'lamp'], ['{}'])
    return lift_views(torch.from_numpy(xyz), views, text, src,
                      dict(min_visible=50))


def _frames_without_depth(scene):
    from ovseg_plugins.seg3d.rgbd_frames import RGBDFrames
    out = []
    for v in RGBDFrames(scene['frames'], every=1):
        v.depth = None  # COLMAP images have none: both z-buffer the points
        out.append(v)
    return out


@pytest.mark.parametrize('binary', [False, True], ids=['text', 'binary'])
def test_colmap_views_lift_like_the_frame_folder(room, tmp_path, binary):
    from ovseg_plugins.seg3d.io.colmap_views import ColmapViews
    from ovseg_plugins.seg3d.pointcloud_io import read_point_cloud
    cloud = read_point_cloud(room['ply'])
    model = str(tmp_path / 'sparse' / '0')
    ids = colmap_from_scannet_frames(room['frames'], model, binary)
    views = ColmapViews(model, osp.join(room['frames'], 'color'),
                        xyz=cloud.xyz)
    assert len(views) == len(ids)
    got = list(views)
    ref = _frames_without_depth(room)
    for g, r in zip(got, sorted(ref, key=lambda v: v.id)):
        assert g.id == r.id and g.image_hw == r.image_hw
        np.testing.assert_allclose(g.cam2world, r.cam2world, atol=1e-12)
        np.testing.assert_array_equal(g.image, r.image)
    a = _lift(cloud.xyz, got, room)
    b = _lift(cloud.xyz, ref, room)
    assert a.views == b.views > 0
    assert torch.equal(a.seen, b.seen)
    torch.testing.assert_close(a.fused, b.fused, rtol=0, atol=1e-6)


def test_georeferenced_model_meets_the_shifted_cloud(room, tmp_path):
    """Camera centres in UTM metres, the cloud read with a local origin:
    the views come in the cloud's local frame."""
    from ovseg_plugins.seg3d.io.colmap_views import ColmapViews
    from ovseg_plugins.seg3d.pointcloud_io import read_point_cloud
    off = np.array([612000., 5312000., 100.])
    cloud = read_point_cloud(room['ply'])
    pts = np.concatenate([cloud.xyz + off, cloud.rgb], 1)
    p = str(tmp_path / 'utm.npy')
    np.save(p, pts)
    utm = read_point_cloud(p)
    assert utm.origin.any()
    model = str(tmp_path / 'model')
    colmap_from_scannet_frames(room['frames'], model, world_offset=off)
    views = list(ColmapViews(model, osp.join(room['frames'], 'color'),
                             origin=utm.origin, xyz=utm.xyz))
    ref = sorted(_frames_without_depth(room), key=lambda v: v.id)
    for g, r in zip(views, ref):
        np.testing.assert_allclose(g.cam2world[:3, 3] + utm.origin - off,
                                   r.cam2world[:3, 3], atol=1e-7)


def _one_camera_model(tmp_path, model, params, names=('a.png', )):
    from PIL import Image
    (tmp_path / 'images').mkdir(exist_ok=True)
    for n in names:
        Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(
            tmp_path / 'images' / n)
    pose = np.eye(4)
    write_colmap_model(str(tmp_path / 'sparse' / '0'),
                       [(1, model, 80, 60, params)],
                       [(i + 1, pose, 1, n) for i, n in enumerate(names)])
    return str(tmp_path)


def test_distortion_within_tolerance_is_a_pinhole(tmp_path):
    from ovseg_plugins.seg3d.io.colmap_views import ColmapViews
    proj = _one_camera_model(tmp_path, 'SIMPLE_RADIAL',
                             [70., 40., 30., 1e-4])
    v = next(iter(ColmapViews(proj)))
    np.testing.assert_allclose(v.intrinsic, [[70, 0, 40], [0, 70, 30],
                                             [0, 0, 1]])
    assert v.intrinsic_hw == (60, 80) and v.depth is None


def test_undistort_matches_opencv(tmp_path):
    import cv2

    from ovseg_plugins.seg3d.io.colmap_views import ColmapViews
    proj = _one_camera_model(tmp_path, 'OPENCV',
                             [70., 72., 40., 30., 0.2, -0.05, 0.001, 0.002])
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    from PIL import Image
    Image.fromarray(img).save(tmp_path / 'images' / 'a.png')
    v = next(iter(ColmapViews(proj, undistort=True)))
    K = np.array([[70., 0, 40], [0, 72, 30], [0, 0, 1]])
    ref = cv2.undistort(img, K, np.array([0.2, -0.05, 0.001, 0.002]), None,
                        K)
    np.testing.assert_array_equal(v.image, ref)
    assert not np.array_equal(v.image, img)
