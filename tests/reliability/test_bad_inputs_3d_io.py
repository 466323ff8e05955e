"""Bad inputs of the 3D readers and loaders: LAS / LAZ, georeferenced
coordinates in float32 loaders, colour ranges, pickled arrays, degenerate
clouds, scene-list encodings. Each case asserts the exact error type and
that the message names the file and the fix, or the documented handling
(docs/bad_inputs.md)."""
import logging

import numpy as np
import pytest

pytest.importorskip('mmdet3d')

from rel_helpers import check_error, load_tool  # noqa: E402
from ovseg_plugins.seg3d.datasets.scene_list import read_scene_list  # noqa
from ovseg_plugins.seg3d.pointcloud_io import read_point_cloud  # noqa: E402


def _logged(fn):
    """``fn()`` with mmengine's 'current' logger captured: (result, text)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    records = []

    class H(logging.Handler):
        def emit(self, r):
            records.append(r.getMessage())

    h = H()
    logger.addHandler(h)
    try:
        out = fn()
    finally:
        logger.removeHandler(h)
    return out, '\n'.join(records)


def _grid(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 5, (n, 3))


# ------------------------------------------------------------- LAS / LAZ
def test_las_point_format_without_colour(tmp_path):
    """LAS point format 1 (no RGB) with intensity: grey levels from the
    intensity, said in the log."""
    pytest.importorskip('laspy')
    from fixtures.las_files import utm_points, write_las
    inten = np.random.default_rng(0).integers(100, 3000, 500)
    p = str(tmp_path / 'lidar.las')
    write_las(p, utm_points(500), point_format=1, intensity=inten)
    pc, log = _logged(lambda: read_point_cloud(p))
    assert not pc.has_color and pc.source['colour'] == 'intensity'
    lo, hi = np.percentile(inten, [1, 99])
    np.testing.assert_allclose(pc.rgb[:, 0], np.clip(
        (inten - lo) / (hi - lo), 0, 1) * 255, atol=1e-3)
    assert f'{p}: no colours in this point format: grey levels from ' \
        'intensity' in log


def test_las_without_colour_or_intensity(tmp_path):
    """LAS point format 0 with constant intensity: mid-grey points, said in
    the log."""
    pytest.importorskip('laspy')
    from fixtures.las_files import utm_points, write_las
    p = str(tmp_path / 'bare.las')
    write_las(p, utm_points(300), point_format=0)
    pc, log = _logged(lambda: read_point_cloud(p))
    assert not pc.has_color and (pc.rgb == 128).all()
    assert 'no colours and no varying intensity: mid-grey points' in log


def test_las_colours_in_8_bit(tmp_path):
    """8-bit colour values in the 16-bit LAS fields: taken as they are."""
    pytest.importorskip('laspy')
    from fixtures.las_files import utm_points, write_las
    rgb = np.random.default_rng(1).integers(0, 256, (300, 3))
    p = str(tmp_path / 'c8.las')
    write_las(p, utm_points(300), rgb=rgb)
    pc, log = _logged(lambda: read_point_cloud(p))
    np.testing.assert_array_equal(pc.rgb, rgb)
    assert 'colours are all <= 255: taken as 8-bit values' in log


def test_las_truncated(tmp_path):
    pytest.importorskip('laspy')
    from fixtures.las_files import utm_points, write_las
    p = tmp_path / 'cut.laz'
    write_las(str(p), utm_points(3000))
    data = p.read_bytes()
    p.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError) as e:
        read_point_cloud(str(p))
    check_error(e.value, ValueError,
                (f'could not read LAS/LAZ file {str(p)!r}', 'Re-export it'))


def test_las_labels_for_another_file(tmp_path):
    pytest.importorskip('laspy')
    from fixtures.las_files import utm_points, write_las

    from ovseg_plugins.seg3d.io.las import write_las_labels
    src = str(tmp_path / 'tile.las')
    write_las(src, utm_points(100))
    with pytest.raises(ValueError) as e:
        write_las_labels(str(tmp_path / 'o.las'), src, np.zeros(90, int),
                         np.zeros(90), ['a'])
    assert f'{src}: 100 points but 90 labels / 90 scores: the results ' \
        'belong to another file' in str(e.value)


# --------------------------------------------------- degenerate clouds
@pytest.mark.parametrize('bad', [np.nan, np.inf], ids=['nan', 'inf'])
def test_ply_with_non_finite_coordinates(tmp_path, bad):
    from ovseg_plugins.seg3d.pointcloud_io import write_ply
    xyz = _grid(50)
    xyz[7, 2] = bad
    p = str(tmp_path / 'scan.ply')
    write_ply(p, xyz, np.zeros((50, 3)))
    with pytest.raises(ValueError) as e:
        read_point_cloud(p)
    assert f'{p}: 1 of 50 points have NaN/inf coordinates' in str(e.value)
    assert 'remove them first' in str(e.value)


def test_all_identical_points(tmp_path):
    p = str(tmp_path / 'flat.npy')
    np.save(p, np.tile([[612345.5, 5312345.25, 80.]], (40, 1)))
    with pytest.raises(ValueError) as e:
        read_point_cloud(p)
    msg = str(e.value)
    assert f'{p}: all 40 points have the same coordinates' in msg
    assert 'nothing to segment' in msg and 're-export it' in msg


def test_npy_of_python_objects(tmp_path):
    """An object-dtype .npy (numpy's pickle message named no file)."""
    p = str(tmp_path / 'points.npy')
    np.save(p, np.array([[0., 1., 2.], None], dtype=object),
            allow_pickle=True)
    with pytest.raises(ValueError) as e:
        read_point_cloud(p)
    msg = str(e.value)
    assert f'{p}: holds a Python-object (pickled) array, which is never ' \
        'loaded' in msg and 'np.save(path, np.asarray(points, ' \
        'dtype=np.float64))' in msg


# --------------------------------------------------------- colour ranges
def test_bin_colours_in_0_1_read_by_the_reader(tmp_path):
    """A GeoPurify-style .bin with colours in 0..1 given to the inference
    reader: rescaled to 0..255, said in the log."""
    a = np.concatenate([_grid(60), np.random.default_rng(2).random(
        (60, 3))], 1).astype(np.float32)
    p = str(tmp_path / 'scene.bin')
    a.tofile(p)
    pc, log = _logged(lambda: read_point_cloud(p))
    np.testing.assert_allclose(pc.rgb, a[:, 3:6] * 255, rtol=1e-6)
    assert f'{p}: colours span' in log and 'read as 0..255 by ' \
        'multiplying by 255' in log


def _bin_pipeline(tmp_path, pts):
    """mmdet3d's LoadPointsFromFile (xyz rgb) then our LoadPointFeatures."""
    from mmdet3d.datasets.transforms import LoadPointsFromFile

    from ovseg_plugins.seg3d.datasets.transforms import LoadPointFeatures
    p = tmp_path / 'scene0000_00.bin'
    pts.astype(np.float32).tofile(p)
    (tmp_path / 'feats').mkdir()
    np.save(tmp_path / 'feats' / 'scene0000_00.npy',
            np.zeros((len(pts), 4), np.float32))
    res = LoadPointsFromFile(coord_type='DEPTH', load_dim=6,
                             use_dim=[0, 1, 2, 3, 4, 5], use_color=True)(
        dict(lidar_points=dict(lidar_path=str(p))))
    return str(p), lambda: LoadPointFeatures(str(tmp_path / 'feats'))(res)


def test_bin_colours_in_0_1_in_a_training_pipeline(tmp_path):
    a = np.concatenate([_grid(60), np.random.default_rng(2).random(
        (60, 3))], 1)
    p, run = _bin_pipeline(tmp_path, a)
    with pytest.raises(ValueError) as e:
        run()
    msg = str(e.value)
    assert f'{p}: colours span' in msg and 'stored in 0..1' in msg
    assert 'Rewrite the file with colours x 255' in msg


def test_utm_coordinates_in_a_float32_bin_pipeline(tmp_path):
    """UTM coordinates in a float32 .bin read by mmdet3d's loader: refused
    (the file resolves them to 0.5 m), not truncated silently."""
    a = np.concatenate([_grid(60) + [455000., 5411000., 0.],
                        np.full((60, 3), 100.)], 1)
    p, run = _bin_pipeline(tmp_path, a)
    with pytest.raises(ValueError) as e:
        run()
    msg = str(e.value)
    assert f'{p}: coordinates reach' in msg and 'stored as float32 ' \
        '(spacing 0.5 m there)' in msg
    assert 'Subtract a local origin (float64) before writing the point ' \
        'file' in msg


def test_utm_coordinates_before_point_normals(tmp_path):
    from mmdet3d.structures import DepthPoints

    from ovseg_plugins.seg3d.datasets.transforms import AddPointNormals
    a = np.concatenate([_grid(60) + [0., 5411000., 0.],
                        np.full((60, 3), 100.)], 1).astype(np.float32)
    res = dict(lidar_points=dict(lidar_path='/data/tile.bin'),
               points=DepthPoints(a, points_dim=6,
                                  attribute_dims=dict(color=[3, 4, 5])))
    with pytest.raises(ValueError) as e:
        AddPointNormals()(res)
    assert '/data/tile.bin: coordinates reach' in str(e.value)


# ------------------------------------------------------------ scene lists
def test_scene_list_in_latin1(tmp_path):
    p = tmp_path / 'split.txt'
    p.write_bytes('scene0000_00\nsalle_à_manger\n'.encode('latin-1'))
    with pytest.raises(ValueError) as e:
        read_scene_list(str(p))
    check_error(e.value, ValueError,
                (f"{p}: line 2 is not UTF-8 text (byte b'\\xe0'",
                 'save the scene list as UTF-8'))


def test_scene_list_with_a_byte_order_mark(tmp_path):
    """A UTF-8 scene list saved with a byte-order mark: the mark is not
    part of the first scene id."""
    p = tmp_path / 'split.txt'
    p.write_bytes(b'\xef\xbb\xbfscene0000_00\nscene0001_00\n')
    assert read_scene_list(str(p)) == ['scene0000_00', 'scene0001_00']


def test_scene_list_in_utf16(tmp_path):
    p = tmp_path / 'split.txt'
    p.write_bytes('scene0000_00\n'.encode('utf-16'))
    with pytest.raises(ValueError) as e:
        read_scene_list(str(p))
    assert f'{p}: the scene list is UTF-16' in str(e.value)
    assert 'save it as UTF-8 text' in str(e.value)



# ------------------------------------------------------------ COLMAP
def _colmap(tmp_path, model='PINHOLE', params=(70., 70., 40., 30.),
            names=('a.png', 'b.png'), files=('a.png', 'b.png'),
            binary=False, size=(80, 60), pose_z=-3.):
    """A two-image COLMAP project looking down +z from (0, 0, pose_z)."""
    from PIL import Image

    from fixtures.colmap_writer import write_colmap_model
    (tmp_path / 'images').mkdir()
    for f in files:
        Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(
            tmp_path / 'images' / f)
    pose = np.eye(4)
    pose[2, 3] = pose_z
    write_colmap_model(str(tmp_path / 'sparse' / '0'),
                       [(1, model, 80, 60, list(params))],
                       [(i + 1, pose, 1, n) for i, n in enumerate(names)],
                       binary)
    return str(tmp_path)


def _colmap_views(*a, **k):
    from ovseg_plugins.seg3d.io.colmap_views import ColmapViews
    return ColmapViews(*a, **k)


def test_colmap_image_names_not_in_the_image_folder(tmp_path):
    proj = _colmap(tmp_path, files=('IMG_0001.JPG', ))
    with pytest.raises(FileNotFoundError) as e:
        _colmap_views(proj)
    msg = str(e.value)
    assert "none of the 2 image names of the model (e.g. ['a.png', " \
        "'b.png']) is in" in msg and "(has e.g. ['IMG_0001.JPG'])" in msg
    assert 'give the folder COLMAP was run on (--image_path)' in msg


def test_colmap_some_images_missing(tmp_path):
    """A COLMAP model with one of its two images missing from the folder:
    lifted from the others, said in the log."""
    proj = _colmap(tmp_path, files=('a.png', ))
    v, log = _logged(lambda: _colmap_views(proj))
    assert v.names == ['a.png']
    assert '1 of 2 images are not in' in log and "(e.g. ['b.png']): " \
        'lifting from the other 1' in log


def test_colmap_cameras_that_see_no_point(tmp_path):
    """Cameras looking away from the cloud (model and cloud in different
    frames, e.g. a cloud georeferenced after the reconstruction)."""
    proj = _colmap(tmp_path)
    xyz = _grid(200) + [0., 0., -10.]  # behind both cameras
    with pytest.raises(ValueError) as e:
        _colmap_views(proj, xyz=xyz)
    msg = str(e.value)
    assert 'none of the 2 cameras has a point of the cloud in front of it ' \
        'and inside its image' in msg
    assert 'not in the same coordinate frame' in msg and 'colmap ' \
        'model_aligner' in msg


def test_colmap_distorted_camera(tmp_path):
    proj = _colmap(tmp_path, model='SIMPLE_RADIAL', params=(70., 40., 30.,
                                                            0.05))
    with pytest.raises(ValueError) as e:
        _colmap_views(proj)
    msg = str(e.value)
    assert 'camera 1 (SIMPLE_RADIAL) distorts the image by up to 1.3 px ' \
        '(> 0.5 px)' in msg
    assert 'Run colmap image_undistorter' in msg and 'undistort=True' in msg


def test_colmap_fisheye_camera(tmp_path):
    proj = _colmap(tmp_path, model='OPENCV_FISHEYE',
                   params=(70., 70., 40., 30., 0.1, 0., 0., 0.))
    with pytest.raises(ValueError) as e:
        _colmap_views(proj)
    assert 'camera 1 is OPENCV_FISHEYE; supported are SIMPLE_PINHOLE, ' \
        'PINHOLE, SIMPLE_RADIAL, RADIAL, OPENCV' in str(e.value)


def test_colmap_truncated_binary_model(tmp_path):
    proj = _colmap(tmp_path, binary=True)
    p = tmp_path / 'sparse' / '0' / 'images.bin'
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(ValueError) as e:
        _colmap_views(proj)
    assert f'{p}: truncated' in str(e.value) and 'colmap model_converter' \
        in str(e.value)


def test_colmap_images_of_another_aspect_ratio(tmp_path):
    """Images of another shape than the COLMAP camera (a resized export):
    the lifting's one intrinsics rule refuses them."""
    from ovseg_plugins.seg3d.lifting import view_intrinsics
    proj = _colmap(tmp_path, size=(80, 80))
    v = next(iter(_colmap_views(proj)))
    with pytest.raises(ValueError) as e:
        view_intrinsics(v)
    msg = str(e.value)
    assert 'cameras.txt camera 1: intrinsics for a 80x60 frame (given) do ' \
        'not fit the 80x80 frames read' in msg


# The rows of docs/bad_inputs.md (written by tools/misc/bad_inputs_doc.py):
# ------------------------------------------------------------- blocks
def test_blocks_of_no_size():
    from ovseg_plugins.apis.geopurify.chunked import plan_blocks
    with pytest.raises(ValueError, match=r'^block_size must be > 0 metres, '
                       r'got 0$'):
        plan_blocks(_grid(), 0, 0)


def test_blocks_overlap_wider_than_a_block():
    from ovseg_plugins.apis.geopurify.chunked import plan_blocks
    with pytest.raises(ValueError, match=r'^overlap must be within \[0, '
                       r'block_size / 2 = 1.0\] metres, got 3.0$'):
        plan_blocks(_grid(), 2., 3.)


def test_blocks_max_points_below_one():
    from ovseg_plugins.apis.geopurify.chunked import plan_blocks
    with pytest.raises(ValueError, match=r'^max_points must be >= 1 \(points '
                       r'per block\), got 0$'):
        plan_blocks(_grid(), 2., 0.5, max_points=0)


@pytest.mark.parametrize('flags', [['--block-max-points', '500000'],
                                   ['--launcher', 'pytorch']],
                         ids=['max_points', 'launcher'])
def test_blocks_options_without_block_size(flags, tmp_path):
    """Block options without --block-size are refused before anything
    runs (torchrun processes would each run the whole scene)."""
    demo = load_tool('demo/pointcloud_demo')
    with pytest.raises(SystemExit) as e:
        demo.main([str(tmp_path / 'scene.ply'), '--classes', 'a;b',
                   '--random-clip'] + flags)
    assert str(e.value) == (
        '--block-max-points and --launcher apply to runs in blocks: add '
        '--block-size M (without it every process would run the whole '
        'scene)')


def test_blocks_launcher_unknown():
    from ovseg_plugins.apis.geopurify.chunked import init_block_processes
    with pytest.raises(ValueError, match=r"^launcher must be 'none' or "
                       r"'pytorch' \(torchrun\), got 'slurm'$"):
        init_block_processes('slurm')


def test_blocks_one_too_sparse_for_the_views():
    """A scene whose far tile holds a handful of points: the view rule's
    error names the block and both options."""
    import torch

    from ovseg_plugins.apis import GeoPurifyInferencer
    from ovseg_plugins.apis.geopurify.chunked import segment_in_blocks
    rng = np.random.default_rng(0)
    dense = np.concatenate([rng.uniform(0, 4, (3000, 2)),
                            rng.uniform(0, 1, (3000, 1))], 1)
    sparse = np.concatenate([rng.uniform(8.5, 9, (12, 2)),
                             rng.uniform(0, 1, (12, 1))], 1)
    pts = np.concatenate([np.concatenate([dense, sparse]),
                          rng.uniform(0, 255, (3012, 3))], 1)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 3, generator=g)
    inf = GeoPurifyInferencer(
        'a;b', feature_model=lambda img: torch.einsum(
            'dc,hwc->dhw', w, torch.as_tensor(img).float()[::8, ::8] / 255),
        text_embeddings=lambda q: torch.randn(len(q), 8, generator=g),
        views=4, render_size=(160, 120), show_progress=False,
        lift_cfg=dict(min_visible=50))
    inf.model.decode_head.pooling.knn = 8
    with pytest.raises(ValueError) as e:
        segment_in_blocks(inf, pts, block_size=4., overlap=0.5)
    msg = str(e.value)
    assert msg.startswith('block 2 of 2 (tile (1, 1), 12 points with '
                          'context): <array> [block 1]: the cloud is too '
                          'small or too sparse for the view rule: 12 points')
    assert 'Lower lift_cfg=dict(min_visible=...)' in msg
    assert msg.endswith('With blocks, larger ones (block_size, now 4.0 m) '
                        'hold more points per view.')


# test (with its parametrize id) -> (section, input, behaviour).
BAD_INPUTS_DOC = {
    'test_las_point_format_without_colour': (
        '3d',
        'LAS point format without colour (0, 1, 4, 6, 9), with intensity',
        'handled: grey levels from the intensity (1st-99th percentile '
        'stretched), `has_color=False`; logged "<file>: no colours in this '
        'point format: grey levels from intensity (... stretched to '
        '0..255)"'),
    'test_las_without_colour_or_intensity': (
        '3d',
        'LAS without colour and without varying intensity',
        'handled: mid-grey points; logged "no colours and no varying '
        'intensity: mid-grey points (views rendered from them carry no '
        'appearance)"'),
    'test_las_colours_in_8_bit': (
        '3d',
        '8-bit colour values in the 16-bit LAS colour fields',
        'handled: taken as 0..255 values (16-bit ones are divided by 257); '
        'logged "colours are all <= 255: taken as 8-bit values stored in '
        'the 16-bit LAS fields"'),
    'test_las_truncated': (
        '3d',
        'Truncated LAZ file',
        '`ValueError`: "could not read LAS/LAZ file \'<path>\' (...); is it '
        'a complete LAS 1.0-1.4 / LAZ file? Re-export it (e.g. PDAL '
        'translate, LAStools las2las)"'),
    'test_las_labels_for_another_file': (
        '3d',
        'Labels written back into a LAS file with another point count',
        '`ValueError`: "<file>: 100 points but 90 labels / 90 scores: the '
        'results belong to another file"; nothing written'),
    'test_ply_with_non_finite_coordinates[nan]': (
        '3d',
        'NaN coordinates in a .ply',
        '`ValueError`: "<file>: 1 of 50 points have NaN/inf coordinates '
        '(...); remove them first (outputs are aligned with the input '
        'points row by row)"'),
    'test_ply_with_non_finite_coordinates[inf]': (
        '3d', 'inf coordinates in a .ply', 'same `ValueError`'),
    'test_all_identical_points': (
        '3d',
        'Every point at the same coordinates',
        '`ValueError`: "<file>: all 40 points have the same coordinates '
        '(...): nothing to segment (a wrong scale, offset or column order '
        'when the file was written?); check the file in a viewer and '
        're-export it"'),
    'test_npy_of_python_objects': (
        '3d',
        'Object-dtype (pickled) `.npy` point file — was numpy\'s "Object '
        'arrays cannot be loaded when allow_pickle=False" without the file',
        '`ValueError`: "<file>: holds a Python-object (pickled) array, '
        'which is never loaded (unpickling can run code); save the points '
        'as a numeric array: np.save(path, np.asarray(points, '
        'dtype=np.float64)) ..."'),
    'test_bin_colours_in_0_1_read_by_the_reader': (
        '3d',
        '`.bin` with colours in 0..1 given to the inference reader '
        '(`read_point_cloud`, `GeoPurifyInferencer`, `pointcloud_demo.py`) '
        '— was read as near-black 0..255 colours',
        'handled: multiplied by 255; logged "<file>: colours span [...] '
        '(0..1, not the 0..255 of mmdet3d .bin files): read as 0..255 by '
        'multiplying by 255"'),
    'test_bin_colours_in_0_1_in_a_training_pipeline': (
        '3d',
        '`.bin` with colours in 0..1 in a training / testing pipeline '
        '(`LoadPointsFromFile` + `LoadPointFeatures`) — was accepted as '
        '0..255',
        '`ValueError`: "<file>: colours span [...]: stored in 0..1, but '
        'the point files are read as 0..255 (...). Rewrite the file with '
        'colours x 255 ..."'),
    'test_utm_coordinates_in_a_float32_bin_pipeline': (
        '3d',
        'UTM coordinates in a float32 `.bin` in a training / testing '
        'pipeline — were truncated to 0.5 m silently',
        '`ValueError`: "<file>: coordinates reach 5411004.x m, stored as '
        'float32 (spacing 0.5 m there): ... Subtract a local origin '
        '(float64) before writing the point file ..."'),
    'test_utm_coordinates_before_point_normals': (
        '3d',
        'UTM float32 coordinates given to `AddPointNormals`',
        'same `ValueError` naming the point file'),
    'test_scene_list_in_latin1': (
        '3d',
        'Scene list saved in Latin-1 — was a bare UnicodeDecodeError',
        '`ValueError`: "<file>: line 2 is not UTF-8 text (byte b\'\\xe0\'; '
        'a Latin-1 / Windows-1252 file?); save the scene list as UTF-8, '
        'e.g. iconv -f latin1 -t utf-8 ..."'),
    'test_scene_list_with_a_byte_order_mark': (
        '3d',
        'Scene list with a UTF-8 byte-order mark — the first scene id '
        'started with U+FEFF',
        'handled: the mark is dropped (`scene0000_00`)'),
    'test_scene_list_in_utf16': (
        '3d',
        'Scene list saved as UTF-16',
        '`ValueError`: "<file>: the scene list is UTF-16 (byte-order mark '
        '...); save it as UTF-8 text"'),
    'test_colmap_image_names_not_in_the_image_folder': (
        '3d',
        'COLMAP model whose image names do not match the image folder',
        '`FileNotFoundError`: "<model>: none of the 2 image names of the '
        'model (e.g. [...]) is in <folder> (has e.g. [...]): give the folder '
        'COLMAP was run on (--image_path), or for an undistorted model its '
        'images/ folder"'),
    'test_colmap_some_images_missing': (
        '3d',
        'COLMAP model with some of its images missing from the folder',
        'handled: lifted from the others; logged "<model>: 1 of 2 images '
        'are not in <folder> (e.g. [...]): lifting from the other 1"'),
    'test_colmap_cameras_that_see_no_point': (
        '3d',
        'COLMAP cameras that see no point of the cloud (model and cloud in '
        'different frames)',
        '`ValueError`: "<model>: none of the 2 cameras has a point of the '
        'cloud in front of it and inside its image: the model and the cloud '
        'are not in the same coordinate frame (...). Give the cloud this '
        'model reconstructed (e.g. dense/fused.ply) or the model aligned to '
        'the cloud (colmap model_aligner)"'),
    'test_colmap_distorted_camera': (
        '3d',
        'COLMAP camera with lens distortion beyond 0.5 px',
        '`ValueError`: "<cameras file>: camera 1 (SIMPLE_RADIAL) distorts '
        'the image by up to 1.3 px (> 0.5 px): the lifting needs pinhole '
        'images. Run colmap image_undistorter and give its output folder, '
        'or undistort=True (--colmap-undistort) to undistort the images '
        'with OpenCV"'),
    'test_colmap_fisheye_camera': (
        '3d',
        'COLMAP fisheye camera model',
        '`ValueError`: "<cameras file>: camera 1 is OPENCV_FISHEYE; '
        'supported are SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL, '
        'OPENCV. Undistort the images with colmap image_undistorter"'),
    'test_colmap_truncated_binary_model': (
        '3d',
        'Truncated COLMAP `images.bin`',
        '`ValueError`: "<file>: truncated (needs N more bytes at offset M); '
        're-export the model (colmap model_converter)"'),
    'test_colmap_images_of_another_aspect_ratio': (
        '3d',
        'COLMAP images of another aspect ratio than their camera',
        '`ValueError` from the lifting\'s intrinsics rule: "<cameras file> '
        'camera 1: intrinsics for a 80x60 frame (given) do not fit the 80x80 '
        'frames read"'),
    'test_blocks_of_no_size': (
        '3d',
        'Large scene in blocks: `block_size` of 0 or less',
        '`ValueError`: "block_size must be > 0 metres, got 0"'),
    'test_blocks_overlap_wider_than_a_block': (
        '3d',
        'Large scene in blocks: overlap wider than half a block',
        '`ValueError`: "overlap must be within [0, block_size / 2 = 1.0] '
        'metres, got 3.0"'),
    'test_blocks_max_points_below_one': (
        '3d',
        'Large scene in blocks: `max_points` (`--block-max-points`) below 1',
        '`ValueError`: "max_points must be >= 1 (points per block), got 0"'),
    'test_blocks_options_without_block_size': (
        '3d',
        'Large scene in blocks: `pointcloud_demo.py --block-max-points` or '
        '`--launcher pytorch` without `--block-size`',
        'exit with "--block-max-points and --launcher apply to runs in '
        'blocks: add --block-size M (without it every process would run the '
        'whole scene)"'),
    'test_blocks_launcher_unknown': (
        '3d',
        'Large scene in blocks: a launcher other than `none` / `pytorch`',
        '`ValueError`: "launcher must be \'none\' or \'pytorch\' '
        '(torchrun), got \'slurm\'"'),
    'test_blocks_one_too_sparse_for_the_views': (
        '3d',
        'Large scene in blocks: a block too sparse for the view rule',
        '`ValueError`: "block 2 of 2 (tile (1, 1), 12 points with context): '
        '<cloud> [block 1]: the cloud is too small or too sparse for the view '
        'rule: ... Lower lift_cfg=dict(min_visible=...) (e.g. to N) ... With '
        'blocks, larger ones (block_size, now 4.0 m) hold more points per '
        'view."'),
}
