"""COLMAP models (text and binary) read back the cameras and poses they
were written from; the undistortion rule refuses or undistorts."""
import numpy as np
import pytest

from fixtures.colmap_writer import write_colmap_model
from ovseg_plugins.seg3d.io.colmap import (find_colmap_model,
                                           qvec_to_rotation,
                                           read_colmap_model)


def _random_pose(rng):
    a = rng.normal(size=(3, 3))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    T = np.eye(4)
    T[:3, :3] = q
    T[:3, 3] = rng.uniform(-5, 5, 3) + [612000., 5312000., 80.]
    return T


CAMS = [(1, 'PINHOLE', 640, 480, [500., 510., 320.5, 239.5]),
        (2, 'SIMPLE_RADIAL', 800, 600, [700., 400., 300., 1e-7]),
        (3, 'OPENCV', 320, 240, [250., 252., 160., 120., 0.01, -0.002,
                                 1e-4, -2e-4]),
        (4, 'SIMPLE_PINHOLE', 100, 100, [90., 50., 50.])]


@pytest.mark.parametrize('binary', [False, True], ids=['text', 'binary'])
def test_model_round_trip(tmp_path, binary):
    rng = np.random.default_rng(0)
    poses = [_random_pose(rng) for _ in range(6)]
    images = [(i + 1, p, 1 + i % 4, f'img_{i:03d}.jpg')
              for i, p in enumerate(poses)]
    write_colmap_model(str(tmp_path / 'sparse' / '0'), CAMS, images, binary)
    model, imgs = find_colmap_model(str(tmp_path))
    assert model == str(tmp_path / 'sparse' / '0') and imgs is None
    cams, ims = read_colmap_model(model)
    for cid, name, w, h, params in CAMS:
        c = cams[cid]
        assert (c.model, c.width, c.height) == (name, w, h)
        np.testing.assert_array_equal(c.params, params)
    assert sorted(ims) == [1, 2, 3, 4, 5, 6]
    for iid, pose, cid, name in images:
        im = ims[iid]
        assert im.name == name and im.camera_id == cid
        # camera centres to 1e-9 m at UTM scale; rotations to 1e-12
        np.testing.assert_allclose(im.cam2world()[:3, :3], pose[:3, :3],
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(im.cam2world()[:3, 3], pose[:3, 3],
                                   rtol=0, atol=1e-8)


def test_quaternion_convention():
    """(w, x, y, z) Hamilton: 90 degrees about z maps x to y."""
    c = np.cos(np.pi / 4)
    R = qvec_to_rotation([c, 0, 0, c])
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_distortion_measure_at_the_corners():
    """SIMPLE_RADIAL moves a corner by k·r³·f pixels (r its normalised
    radius)."""
    from ovseg_plugins.seg3d.io.colmap import ColmapCamera
    f, w, h = 700., 800, 600
    r = np.hypot(400 / f, 300 / f)
    for px in (0.2, 2.):
        k = px / (r**3 * f)
        cam = ColmapCamera(1, 'SIMPLE_RADIAL', w, h,
                           np.array([f, 400., 300., k]))
        assert cam.max_distortion_px() == pytest.approx(px, rel=1e-9)
    assert ColmapCamera(1, 'PINHOLE', w, h, np.array(
        [f, f, 400., 300.])).max_distortion_px() == 0
