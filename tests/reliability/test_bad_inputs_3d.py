"""Bad inputs of the 3D side (GeoPurify): point clouds, per-point features,
scene files, normals, scene lists, the segmentor's inputs. Each case asserts
the exact error type and that the message names the input and the fix, or
the documented handling (docs/bad_inputs.md)."""
import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')

from mmdet3d.structures import DepthPoints  # noqa: E402

from ovseg_plugins.seg3d.datasets.scene_list import read_scene_list  # noqa
from ovseg_plugins.seg3d.datasets.transforms import (  # noqa: E402
    AddPointNormals, LoadOpenScenePoints, LoadPointFeatures)


def _pts(n=50, seed=0, cols=6):
    rng = np.random.default_rng(seed)
    a = rng.random((n, cols)).astype(np.float32)
    if cols >= 6:
        a[:, 3:6] *= 255
    return a


def _results(arr, path='/data/scene0000_00.bin'):
    dims = dict(color=[3, 4, 5]) if arr.shape[1] >= 6 else None
    return dict(lidar_points=dict(lidar_path=path),
                points=DepthPoints(arr, points_dim=arr.shape[1],
                                   attribute_dims=dims))


def _feats(tmp_path, feat, name='scene0000_00', ext='npy'):
    d = tmp_path / 'feats'
    d.mkdir(exist_ok=True)
    if ext == 'npy':
        np.save(d / f'{name}.npy', feat)
    else:
        np.savez(d / f'{name}.npz', feat=feat)
    return str(d)


# ------------------------------------------------------ LoadPointFeatures
def test_point_features_missing(tmp_path):
    (tmp_path / 'feats').mkdir()
    t = LoadPointFeatures(str(tmp_path / 'feats'))
    with pytest.raises(FileNotFoundError) as e:
        t(_results(_pts()))
    msg = str(e.value)
    assert str(tmp_path / 'feats' / 'scene0000_00') + '.npz/.npy' in msg
    assert 'tools/geopurify/lift_features.py' in msg and 'feature_root' in msg


def test_point_features_row_count_mismatch(tmp_path):
    root = _feats(tmp_path, np.zeros((49, 8), np.float32))
    with pytest.raises(ValueError) as e:
        LoadPointFeatures(root)(_results(_pts(50)))
    msg = str(e.value)
    assert 'scene0000_00: features (49, 8) do not match the scene\'s 50 ' \
        'points' in msg and 'regenerate them' in msg


def test_point_features_channel_mismatch(tmp_path):
    root = _feats(tmp_path, np.zeros((50, 4), np.float32), ext='npz')
    with pytest.raises(ValueError) as e:
        LoadPointFeatures(root, expected_dim=8)(_results(_pts(50)))
    assert 'scene0000_00: 4 channels, expected 8' in str(e.value)


@pytest.mark.parametrize('bad', [np.nan, np.inf], ids=['nan', 'inf'])
def test_point_features_nan_inf(tmp_path, bad):
    f = np.zeros((50, 8), np.float32)
    f[3, 2] = bad
    root = _feats(tmp_path, f)
    with pytest.raises(ValueError) as e:
        LoadPointFeatures(root)(_results(_pts(50)))
    msg = str(e.value)
    assert 'scene0000_00: features contain NaN/inf' in msg
    assert 'lift_features.py' in msg


def test_empty_point_cloud(tmp_path):
    root = _feats(tmp_path, np.zeros((0, 8), np.float32))
    with pytest.raises(ValueError) as e:
        LoadPointFeatures(root)(_results(np.zeros((0, 6), np.float32)))
    msg = str(e.value)
    assert '/data/scene0000_00.bin: the point cloud is empty' in msg
    assert 'remove the scene' in msg


def test_single_point_cloud(tmp_path):
    root = _feats(tmp_path, np.zeros((1, 8), np.float32))
    with pytest.raises(ValueError) as e:
        LoadPointFeatures(root)(_results(_pts(1)))
    msg = str(e.value)
    assert '/data/scene0000_00.bin: the point cloud has only 1 point' in msg
    assert 'remove the scene' in msg


def test_nan_point_coordinates(tmp_path):
    a = _pts(50)
    a[7, 1] = np.nan
    root = _feats(tmp_path, np.zeros((50, 8), np.float32))
    with pytest.raises(ValueError) as e:
        LoadPointFeatures(root)(_results(a))
    msg = str(e.value)
    assert '/data/scene0000_00.bin: points contain NaN/inf' in msg
    assert 'regenerate the point file' in msg


def test_points_without_colours_read_as_xyzrgb(tmp_path):
    """An x,y,z-only .bin read with load_dim=6 (mmdet3d's loader) silently
    halves the points; LoadPointFeatures catches it and names load_dim."""
    from mmdet3d.datasets.transforms import LoadPointsFromFile
    p = tmp_path / 'scene0000_00.bin'
    _pts(50, cols=3).tofile(p)
    res = LoadPointsFromFile(coord_type='DEPTH', load_dim=6,
                             use_dim=[0, 1, 2, 3, 4, 5], use_color=True)(
        dict(lidar_points=dict(lidar_path=str(p))))
    assert len(res['points']) == 25
    root = _feats(tmp_path, np.zeros((50, 8), np.float32))
    with pytest.raises(ValueError) as e:
        LoadPointFeatures(root)(res)
    msg = str(e.value)
    assert 'do not match the scene\'s 25 points' in msg
    assert 'load_dim/use_dim of LoadPointsFromFile' in msg


# --------------------------------------------- OpenScene scene files (.pth)
def _scene(tmp_path, data, name='scene.pth'):
    p = tmp_path / name
    torch.save(data, p)
    return str(p)


def _open(path):
    return LoadOpenScenePoints(with_seg=False)(
        dict(lidar_points=dict(lidar_path=path)))


def test_scene_file_truncated(tmp_path):
    p = _scene(tmp_path, (np.zeros((10, 3)), np.zeros((10, 3))))
    with open(p, 'r+b') as f:
        f.truncate(60)
    with pytest.raises(ValueError) as e:
        _open(p)
    assert f'could not read scene file {p!r}' in str(e.value)
    assert 're-run the preprocessing' in str(e.value)


def test_scene_file_empty_cloud(tmp_path):
    p = _scene(tmp_path, (np.zeros((0, 3)), np.zeros((0, 3))))
    with pytest.raises(ValueError) as e:
        _open(p)
    assert f'{p}: the scene has no points' in str(e.value)


def test_scene_file_nan_coordinates(tmp_path):
    xyz = np.zeros((10, 3))
    xyz[0, 0] = np.nan
    p = _scene(tmp_path, (xyz, np.zeros((10, 3))))
    with pytest.raises(ValueError) as e:
        _open(p)
    assert f"{p}: field 'coords' has non-finite" in str(e.value)


def test_scene_file_colours_in_another_range(tmp_path):
    p = _scene(tmp_path, (np.zeros((10, 3)), np.full((10, 3), 200.)))
    with pytest.raises(ValueError) as e:
        _open(p)
    msg = str(e.value)
    assert p in msg and "color_range='[-1,1]'" in msg
    assert "try LoadOpenScenePoints(color_range='[0,255]')" in msg


def test_scene_file_without_colours(tmp_path):
    p = _scene(tmp_path, (np.zeros((10, 3)), ))
    with pytest.raises(ValueError) as e:
        _open(p)
    assert p in str(e.value) and 'expected a tuple (coords, colors' in str(
        e.value)


# ------------------------------------------------------------- normals
def test_normals_points_without_colours():
    with pytest.raises(ValueError) as e:
        AddPointNormals()(_results(_pts(20, cols=3)))
    assert 'needs [x, y, z, r, g, b] points, got 3 columns' in str(e.value)
    assert 'load colours first' in str(e.value)


def test_normals_missing_from_file_when_required():
    with pytest.raises(FileNotFoundError) as e:
        AddPointNormals(source='file')(_results(_pts(20)))
    msg = str(e.value)
    assert 'no normals in the scene file' in msg
    assert "use source='auto' to fall back to point normals" in msg


def test_normals_missing_fall_back_to_pca():
    res = AddPointNormals(source='auto')(_results(_pts(20)))
    assert res['normals_source'] == 'points'
    n = res['points'].tensor[:, 6:9]
    assert torch.allclose(n.norm(dim=1), torch.ones(20), atol=1e-5)
    assert (n[:, 2] >= 0).all()  # oriented towards +z


def test_normals_mesh_of_another_scene(tmp_path):
    ply = tmp_path / 'mesh.ply'
    ply.write_text('ply\nformat ascii 1.0\nelement vertex 3\n'
                   'property float x\nproperty float y\nproperty float z\n'
                   'element face 1\n'
                   'property list uchar int vertex_indices\nend_header\n'
                   '0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n')
    res = _results(_pts(20))
    res['mesh_path'] = str(ply)
    with pytest.raises(ValueError) as e:
        AddPointNormals(source='mesh')(res)
    msg = str(e.value)
    assert f'{ply}: mesh has 3 vertices but the scene has 20 points' in msg
    assert "AddPointNormals(source='points')" in msg


# ---------------------------------------------------------- scene lists
@pytest.mark.parametrize('text,frag', [
    ('# only a comment\n\n', 'the scene list is empty'),
    ('scene0000_00\nscene0001_00\nscene0000_00\n',
     "scenes listed more than once: ['scene0000_00']"),
], ids=['empty', 'duplicate'])
def test_scene_list_file(tmp_path, text, frag):
    p = tmp_path / 'split.txt'
    p.write_text(text)
    with pytest.raises(ValueError) as e:
        read_scene_list(str(p))
    assert f'{p}: {frag}' in str(e.value)


def test_scene_list_missing(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        read_scene_list('nope.txt', data_root=str(tmp_path))
    assert "'nope.txt'" in str(e.value) and 'one scene name per line' in str(
        e.value)


def test_scene_list_names_scenes_the_data_does_not_have():
    """The authors' 20-scene list on your own data: the error says which
    key gives another list."""
    from ovseg_plugins.seg3d.datasets.scene_list import filter_by_scene_list
    infos = [dict(scene_name='scene0000_00')]
    with pytest.raises(FileNotFoundError) as e:
        filter_by_scene_list(infos, ['scene0000_00', 'scene0191_00'],
                             'scannet_infos_train.pkl')
    msg = str(e.value)
    assert "1 scene(s) of the scene list are not in scannet_infos_train.pkl:" \
        " ['scene0191_00']" in msg
    assert 'train_dataloader.dataset.scene_list=my_list.txt' in msg


# -------------------------------------------------------- the segmentor
def _geopurify(tmp_path, emb_shape=(3, 8), **kw):
    from mmdet3d.registry import MODELS

    from fixtures.tiny_models import tiny_geopurify_cfg
    torch.save(torch.randn(*emb_shape), tmp_path / 'text.pt')
    return MODELS.build(tiny_geopurify_cfg(
        tmp_path / 'text.pt', head=dict(knn=4, iterations=1), **kw))


def test_segmentor_points_without_feature_columns(tmp_path):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    model = _geopurify(tmp_path)
    with pytest.raises(ValueError) as e:
        model.purify(torch.from_numpy(_pts(30)))
    msg = str(e.value)
    assert 'points have 6 columns, GeoPurify needs 14' in msg
    assert 'add LoadPointFeatures to the pipeline' in msg


def test_segmentor_text_embeddings_of_another_vocabulary(tmp_path):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    with pytest.raises(ValueError) as e:
        _geopurify(tmp_path, emb_shape=(20, 8))
    msg = str(e.value)
    assert 'text embeddings have shape (20, 8), expected (3 queries, 8)' in msg
    assert 'match the vocabulary' in msg


def test_scene_with_fewer_points_than_k():
    """A 5-point scene with K=16 neighbours: K is clipped to N-1."""
    import warnings

    from ovseg_plugins.seg3d.models.decode_heads import knn_indices
    xyz = torch.rand(5, 3, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        nbr = knn_indices(xyz, 16, 64)
    assert nbr.shape == (5, 4)
    assert not (nbr == torch.arange(5)[:, None]).any()  # self excluded
    assert all(sorted(r) == sorted(set(range(5)) - {i})
               for i, r in enumerate(nbr.tolist()))


# ------------------------------------------------- the teacher export
def _export_tool():
    import os.path as osp
    import sys

    from conftest import REPO_ROOT
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'geopurify'))
    try:
        import export_teacher_features as tool
    finally:
        sys.path.pop(0)
    return tool


def _export_tiny(tmp_path, *args):
    from conftest import shared_data_path
    from fixtures.tiny_configs import (tiny_geopurify_config,
                                       write_oracle_features)
    root = shared_data_path('scannet')
    write_oracle_features(root, tmp_path)
    cfg = tiny_geopurify_config(tmp_path, root)
    return _export_tool().main([cfg, '--no-progress', *args])


def test_teacher_export_into_the_fused_features(tmp_path):
    """Teacher export aimed at the fused-feature folder (would overwrite
    the 2D features training reads)."""
    with pytest.raises(ValueError, match='a folder the config reads other '
                       'inputs from; give another output folder'):
        _export_tiny(tmp_path, '--out-dir', str(tmp_path / 'fused'))
    assert sorted(p.name for p in (tmp_path / 'fused').iterdir()) == [
        'scene0000_00.npz']


def test_teacher_export_teacher_file_missing(tmp_path):
    """Teacher export with a --teacher config file that does not exist."""
    with pytest.raises(FileNotFoundError, match="--teacher 'nope.py': no "
                       'such file; give a teacher config file or a '
                       'registered type name'):
        _export_tiny(tmp_path, '--teacher', 'nope.py')


def test_teacher_export_for_an_online_teacher_config():
    """Teacher export for a config whose pipeline reads no teacher
    features (online teacher): nothing to export without --out-dir."""
    from conftest import REPO_ROOT
    cfg = f'{REPO_ROOT}/configs/geopurify/scannet_online_teacher.py'
    with pytest.raises(ValueError, match='its train pipeline reads no '
                       'teacher features .* give --out-dir to export'):
        _export_tool().main([cfg, '--no-progress'])


# The rows of docs/bad_inputs.md (written by tools/misc/bad_inputs_doc.py):
# test (with its parametrize id) -> (section, input, behaviour).
BAD_INPUTS_DOC = {
    'test_empty_point_cloud': (
        '3d',
        'Empty point cloud (0 points) — was "empty point cloud" without the '
        'file',
        '`ValueError`: "<lidar_path>: the point cloud is empty (0 points); '
        'remove the scene from the info file / scene list or regenerate it" '
        '(new)'),
    'test_single_point_cloud': (
        '3d',
        'Point cloud with a single point (kNN and normals need 2) — was '
        '"kNN needs at least 2 points, got 1" without the file',
        '`ValueError`: "<lidar_path>: the point cloud has only 1 point; '
        "GeoPurify's neighbourhoods (normals, kNN pooling) need at least 2: "
        'remove the scene from the info file / scene list or regenerate it" '
        '(new)'),
    'test_nan_point_coordinates': (
        '3d',
        'NaN coordinates in the point file — was "point coordinates contain '
        'NaN/inf" without the file',
        '`ValueError`: "<lidar_path>: points contain NaN/inf (coordinates '
        'or colours); regenerate the point file" (new)'),
    'test_point_features_nan_inf[nan]': (
        '3d',
        'NaN in the fused / teacher features',
        '`ValueError`: "<file>: features contain NaN/inf; regenerate them '
        '(tools/geopurify/lift_features.py or the teacher export)"'),
    'test_point_features_nan_inf[inf]': (
        '3d',
        'inf in the features',
        'same `ValueError`'),
    'test_points_without_colours_read_as_xyzrgb': (
        '3d',
        'Points without colours (x,y,z `.bin`) read with `load_dim=6` — '
        'mmdet3d silently halves the cloud',
        '`ValueError` from `LoadPointFeatures`: "features (50, 8) do not '
        "match the scene's 25 points; ... (or fix load_dim/use_dim of "
        'LoadPointsFromFile: a point file without colours read with '
        'load_dim=6 gives half the points)"'),
    'test_normals_points_without_colours': (
        '3d',
        'Points without colours given to `AddPointNormals`',
        '`ValueError`: "AddPointNormals needs [x, y, z, r, g, b] points, '
        'got 3 columns; load colours first"'),
    'test_scene_file_without_colours': (
        '3d',
        'OpenScene scene file without colours (1-tuple)',
        '`ValueError` naming the file: "expected a tuple (coords, colors[, '
        'normals], labels)"'),
    'test_normals_missing_from_file_when_required': (
        '3d',
        "Normals required from the file but absent (`source='file'`)",
        '`FileNotFoundError`: "no normals in the scene file; use '
        'source=\'auto\' to fall back to point normals"'),
    'test_normals_missing_fall_back_to_pca': (
        '3d',
        "Normals missing (`source='auto'`)",
        'handled: PCA normals of the 16 nearest points, unit length, '
        "oriented to +z (`normals_source='points'`)"),
    'test_normals_mesh_of_another_scene': (
        '3d',
        'Mesh of another scene for the normals',
        '`ValueError`: "<mesh>: mesh has 3 vertices but the scene has 20 '
        'points; ... Use AddPointNormals(source=\'points\')"'),
    'test_point_features_missing': (
        '3d',
        'Per-point features file missing',
        '`FileNotFoundError`: "point features not found: '
        '<root>/<scene>.npz/.npy; run tools/geopurify/lift_features.py ..., '
        'or fix feature_root"'),
    'test_point_features_row_count_mismatch': (
        '3d',
        'Features for another point file (49 rows for 50 points)',
        '`ValueError`: "<file>: features (49, 8) do not match the scene\'s '
        '50 points; regenerate them for this point file"'),
    'test_point_features_channel_mismatch': (
        '3d',
        'Features with the wrong width',
        '`ValueError`: "<file>: 4 channels, expected 8"'),
    'test_scene_file_truncated': (
        '3d',
        'Truncated OpenScene scene file',
        '`ValueError`: "could not read scene file \'<path>\' (...); it may '
        'be truncated - re-run the preprocessing"'),
    'test_scene_file_empty_cloud': (
        '3d',
        'OpenScene scene with no points',
        '`ValueError`: "<path>: the scene has no points"'),
    'test_scene_file_nan_coordinates': (
        '3d',
        'NaN coordinates in an OpenScene scene file',
        '`ValueError`: "<path>: field \'coords\' has non-finite or '
        'non-numeric values"'),
    'test_scene_file_colours_in_another_range': (
        '3d',
        'Colours in another range than `color_range`',
        '`ValueError` naming the file, the range found and the setting to '
        'use: "try LoadOpenScenePoints(color_range=\'[0,255]\')"'),
    'test_scene_list_file[empty]': (
        '3d',
        'Empty scene list',
        '`ValueError`: "<file>: the scene list is empty."'),
    'test_scene_list_file[duplicate]': (
        '3d',
        'Scene listed twice',
        '`ValueError`: "<file>: scenes listed more than once: '
        '[\'scene0000_00\']"'),
    'test_scene_list_missing': (
        '3d',
        'Scene list file missing',
        '`FileNotFoundError` naming it and data_root, "one scene name per '
        'line ... tools/geopurify/select_scenes.py"'),
    'test_segmentor_points_without_feature_columns': (
        '3d',
        'Points without the feature columns given to the segmentor',
        '`ValueError`: "points have 6 columns, GeoPurify needs 14 (...): '
        'add LoadPointFeatures to the pipeline"'),
    'test_segmentor_text_embeddings_of_another_vocabulary': (
        '3d',
        'Text embeddings of another vocabulary (20 rows for 3 classes)',
        '`ValueError`: "text embeddings have shape (20, 8), expected (3 '
        'queries, 8) to match the vocabulary and the fused features"'),
    'test_scene_with_fewer_points_than_k': (
        '3d',
        'Scene with fewer points than the K neighbours (5 points, K=16)',
        'handled: K is clipped to N-1 (all other points), self excluded'),
}
