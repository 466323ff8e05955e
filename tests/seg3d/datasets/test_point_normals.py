"""Normals: area-weighted mesh vertex normals against analytic values, the
PLY path through AddPointNormals, and the point (PCA) fallback."""
import numpy as np
import pytest

from mmdet3d.structures import DepthPoints
from ovseg_plugins.seg3d.datasets.transforms.add_point_normals import (
    AddPointNormals, mesh_vertex_normals, pca_normals, read_mesh)


def octahedron():
    verts = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0],
                      [0, 0, 1], [0, 0, -1]], np.float64)
    faces = []
    for a in (0, 1):
        for b in (2, 3):
            for c in (4, 5):
                f = [a, b, c]
                n = np.cross(verts[b] - verts[a], verts[c] - verts[a])
                if n @ verts[f].mean(0) < 0:  # wind counter-clockwise outside
                    f = [a, c, b]
                faces.append(f)
    return verts, np.array(faces)


def write_ply(path, verts, faces):
    from plyfile import PlyData, PlyElement
    v = np.array([tuple(p) for p in verts],
                 dtype=[('x', 'f4'), ('y', 'f4'), ('z', 'f4')])
    f = np.array([(list(t), ) for t in faces],
                 dtype=[('vertex_indices', 'i4', (len(faces[0]), ))])
    PlyData([PlyElement.describe(v, 'vertex'),
             PlyElement.describe(f, 'face')]).write(str(path))


def results_for(xyz, **extra):
    pts = np.concatenate([xyz, np.full((len(xyz), 3), 128.)], 1)
    return dict(points=DepthPoints(pts.astype(np.float32), points_dim=6,
                                   attribute_dims=dict(color=[3, 4, 5])),
                **extra)


def test_octahedron_vertex_normals_are_radial():
    verts, faces = octahedron()
    # each vertex touches 4 congruent faces with normals (±1, ±1, ±1)/√3
    # whose sum points along the vertex: normal = vertex direction
    np.testing.assert_allclose(mesh_vertex_normals(verts, faces), verts,
                               atol=1e-12)


def test_area_weighting_hand_computed():
    # vertex 0 touches a triangle in z=0 (normal +z, area 2) and one in
    # y=0 (normal -y, area 0.5): n ∝ 2·(0,0,1) + 0.5·(0,-1,0)
    verts = np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0], [1, 0, 0], [0, 0, 1]],
                     np.float64)
    faces = np.array([[0, 1, 2], [0, 3, 4]])
    n = mesh_vertex_normals(verts, faces)
    want = np.array([0, -0.5, 2.]) / np.linalg.norm([0, -0.5, 2.])
    np.testing.assert_allclose(n[0], want, atol=1e-12)
    np.testing.assert_allclose(n[1], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(n[4], [0, -1, 0], atol=1e-12)


def test_isolated_vertex_gets_zero_then_pca_fallback(tmp_path):
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [.5, .5, 0]],
                     np.float64)
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    assert not mesh_vertex_normals(verts, faces)[4].any()
    write_ply(tmp_path / 'm.ply', verts, faces)
    r = AddPointNormals(source='mesh', knn=4)(results_for(
        verts, mesh_path=str(tmp_path / 'm.ply')))
    np.testing.assert_allclose(r['points'].tensor[:, 6:9].numpy(),
                               [[0, 0, 1]] * 5, atol=1e-6)


def test_ply_mesh_through_transform_keeps_orientation(tmp_path):
    verts, faces = octahedron()
    write_ply(tmp_path / 'o.ply', verts, faces)
    v, f = read_mesh(str(tmp_path / 'o.ply'))
    np.testing.assert_array_equal(f, faces)
    r = AddPointNormals()(results_for(verts,
                                      mesh_path=str(tmp_path / 'o.ply')))
    assert r['normals_source'] == 'mesh'
    t = r['points'].tensor.numpy()
    assert t.shape == (6, 9)
    assert r['points'].attribute_dims == dict(color=[3, 4, 5],
                                              normal=[6, 7, 8])
    np.testing.assert_allclose(t[:, 6:9], verts, atol=1e-6)  # -z kept
    np.testing.assert_allclose(t[:, 3:6], 128.)


def test_quads_are_triangulated(tmp_path):
    verts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float64)
    write_ply(tmp_path / 'q.ply', verts, [[0, 1, 2, 3]])
    _, f = read_mesh(str(tmp_path / 'q.ply'))
    np.testing.assert_array_equal(f, [[0, 1, 2], [0, 2, 3]])


def test_mesh_mismatch_errors_and_point_fallback(tmp_path):
    verts, faces = octahedron()
    write_ply(tmp_path / 'o.ply', verts, faces)
    with pytest.raises(ValueError, match='6 vertices but the scene has 5'):
        AddPointNormals()(results_for(verts[:5],
                                      mesh_path=str(tmp_path / 'o.ply')))
    with pytest.raises(ValueError, match='axis-aligned'):
        AddPointNormals()(results_for(verts + 1.,
                                      mesh_path=str(tmp_path / 'o.ply')))
    with pytest.raises(FileNotFoundError, match="source='auto'"):
        AddPointNormals(source='mesh')(results_for(
            verts, mesh_path=str(tmp_path / 'missing.ply')))
    # auto: no mesh file -> PCA of the points
    g = np.stack(np.meshgrid(np.arange(5.), np.arange(5.)), -1).reshape(-1, 2)
    plane = np.concatenate([g, np.full((25, 1), 3.)], 1)
    r = AddPointNormals(knn=8)(results_for(
        plane, mesh_path=str(tmp_path / 'missing.ply')))
    assert r['normals_source'] == 'points'
    np.testing.assert_allclose(r['points'].tensor[:, 6:9].numpy(),
                               [[0, 0, 1]] * 25, atol=1e-6)


def test_pca_normals_of_tilted_plane_oriented_up():
    rng = np.random.default_rng(0)
    uv = rng.uniform(-1, 1, (200, 2))
    n = np.array([1., 0, 1]) / np.sqrt(2)
    e1, e2 = np.array([1., 0, -1]) / np.sqrt(2), np.array([0., 1, 0])
    xyz = uv[:, :1] * e1 + uv[:, 1:] * e2
    np.testing.assert_allclose(pca_normals(xyz, 10), np.tile(n, (200, 1)),
                               atol=1e-9)


def test_columns_shift_later_features():
    xyz = np.eye(3) * 2
    pts = np.concatenate([xyz, np.zeros((3, 3)), np.ones((3, 2))], 1)
    res = dict(points=DepthPoints(pts.astype(np.float32), points_dim=8,
                                  attribute_dims=dict(color=[3, 4, 5])),
               normals=np.tile([0, 0, 2.], (3, 1)))
    r = AddPointNormals()(res)
    t = r['points'].tensor.numpy()
    np.testing.assert_allclose(t[:, 6:9], [[0, 0, 1]] * 3)
    np.testing.assert_allclose(t[:, 9:], 1.)
    assert 'normals' not in r


@pytest.mark.parametrize('mode, want', [('columns', [0, 1, 0]),
                                        ('points', [0, 0, 1])])
def test_segmentor_reads_normal_columns(tmp_path, mode, want):
    """GeoPurifySegmentor(normals='columns') takes columns 6..8 (from
    AddPointNormals) and finds the fused features after them; 'points'
    estimates them (a z-plane: +z)."""
    import torch
    from mmengine.registry import init_default_scope

    from mmdet3d.registry import MODELS
    init_default_scope('mmdet3d')
    torch.save(torch.randn(20, 4), str(tmp_path / 'text.pt'))
    seg = MODELS.build(dict(
        type='GeoPurifySegmentor', normals=mode,
        backbone=dict(type='StudentAffinityNet', in_channels=10,
                      hidden_channels=8, embed_dim=4, num_blocks=1),
        class_names=list('abcdefghijklmnopqrst'), fused_channels=4,
        text_embeddings=str(tmp_path / 'text.pt'),
        decode_head=dict(type='AffinityPurifyHead', pooling=dict(knn=4))))
    g = np.stack(np.meshgrid(np.arange(4.), np.arange(4.)), -1).reshape(-1, 2)
    xyz = np.concatenate([g * 0.1, np.zeros((16, 1))], 1)
    fused = np.tile([1., 2., 3., 4.], (16, 1))
    cols = [xyz, np.full((16, 3), 255.)]
    if mode == 'columns':
        cols.append(np.tile([0., 2., 0.], (16, 1)))
    pts = torch.as_tensor(np.concatenate(cols + [fused], 1)).float()
    x, _, _, _ = seg._voxel_inputs(pts)
    np.testing.assert_allclose(x[:, :4].numpy(), fused[:len(x)], atol=1e-6)
    np.testing.assert_allclose(x[:, 4:7].numpy(), 1., atol=1e-6)
    np.testing.assert_allclose(x[:, -3:].numpy(), [want] * len(x),
                               atol=1e-5)
