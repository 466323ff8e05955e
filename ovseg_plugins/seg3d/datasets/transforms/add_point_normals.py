import os.path as osp
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from .point_checks import check_point_columns


def read_mesh(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` float64 and triangles ``(F, 3)`` int64 of a mesh.

    ``.ply`` is read with plyfile (vertex order kept; polygons are
    fan-triangulated); other formats with ``trimesh.load(process=False)``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'mesh not found: {path!r}')
    if path.endswith('.ply'):
        from plyfile import PlyData
        try:
            ply = PlyData.read(path)
            v = ply['vertex']
            verts = np.stack([v['x'], v['y'], v['z']], 1).astype(np.float64)
            names = ply['face'].data.dtype.names
        except Exception as e:  # noqa: BLE001
            raise ValueError(f'{path}: not a PLY mesh with vertex x/y/z and '
                             f'a face element ({type(e).__name__}: {e}).') \
                from e
        key = 'vertex_indices' if 'vertex_indices' in names else \
            'vertex_index' if 'vertex_index' in names else None
        if key is None:
            raise ValueError(f'{path}: face element has no vertex_indices.')
        tris = []
        for f in ply['face'][key]:
            f = np.asarray(f, np.int64)
            for k in range(1, len(f) - 1):
                tris.append((f[0], f[k], f[k + 1]))
        faces = np.asarray(tris, np.int64).reshape(-1, 3)
    else:
        import trimesh
        m = trimesh.load(path, process=False, force='mesh')
        verts = np.asarray(m.vertices, np.float64)
        faces = np.asarray(m.faces, np.int64).reshape(-1, 3)
    if len(faces) and (faces.min() < 0 or faces.max() >= len(verts)):
        raise ValueError(f'{path}: face indices out of range of the '
                         f'{len(verts)} vertices.')
    return verts, faces


def mesh_vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals ``(V, 3)``: the sum of the (unnormalised,
    hence area-weighted) normals of the triangles around each vertex,
    normalised. Orientation follows the face winding (counter-clockwise =
    outward). Vertices in no (non-degenerate) face get zeros."""
    verts = np.asarray(verts, np.float64)
    faces = np.asarray(faces, np.int64)
    vn = np.zeros_like(verts)
    if len(faces):
        v0, v1, v2 = (verts[faces[:, i]] for i in range(3))
        fn = np.cross(v1 - v0, v2 - v0)  # |fn| = 2 * area
        for i in range(3):
            np.add.at(vn, faces[:, i], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return np.where(norm > 0, vn / np.maximum(norm, 1e-30), 0.)


def pca_normals(xyz: np.ndarray, knn: int = 16,
                chunk: int = 65536) -> np.ndarray:
    """Unit normals ``(N, 3)`` from the PCA of each point's ``knn`` nearest
    neighbours (itself included, found with scipy's k-d tree), oriented
    towards +z (:func:`ovseg_plugins.seg3d.ops.local_pca.estimate_normals`,
    the routine the segmentor uses)."""
    import torch
    from scipy.spatial import cKDTree

    from ...ops.local_pca import estimate_normals
    xyz = np.asarray(xyz, np.float64)
    n = len(xyz)
    if n < 3:
        out = np.zeros((n, 3))
        out[:, 2] = 1.
        return out
    k = min(knn, n)
    tree = cKDTree(xyz)
    out = np.empty((n, 3))
    for s in range(0, n, chunk):
        _, idx = tree.query(xyz[s:s + chunk], k=k)
        out[s:s + chunk] = estimate_normals(
            torch.from_numpy(xyz), torch.from_numpy(idx)).numpy()
    return out


@TRANSFORMS.register_module()
class AddPointNormals(BaseTransform):
    """Insert per-point unit normals as point columns 6..8.

    Points become ``[x, y, z, r, g, b, nx, ny, nz, ...]`` (later columns,
    e.g. features appended by ``LoadPointFeatures``, shift by 3); use with
    ``GeoPurifySegmentor(normals='columns')``. Sources, in order for
    ``source='auto'``:

    1. ``results['normals']`` (from the scene file, e.g. GeoPurify
       Matterport 4-tuples);
    2. area-weighted vertex normals of the mesh at ``results['mesh_path']``
       when that file exists (its vertices must be the points, in order;
       e.g. ScanNet ``*_vh_clean_2.ply``);
    3. PCA of the ``knn`` nearest points, oriented to +z.

    Vertices in no face fall back to PCA. Adds ``normals_source``
    (``'file'`` / ``'mesh'`` / ``'points'``) to the results.

    Args:
        source (str): ``'auto'``, ``'file'``, ``'mesh'`` or ``'points'``.
        knn (int): Neighbours of the PCA estimate. Defaults to 16.
        vertex_tol (float): Max |vertex - point| (m) accepted between the
            mesh and the points. Defaults to 1e-3.
    """

    def __init__(self, source: str = 'auto', knn: int = 16,
                 vertex_tol: float = 1e-3):
        if source not in ('auto', 'file', 'mesh', 'points'):
            raise ValueError("source must be 'auto', 'file', 'mesh' or "
                             f"'points', got {source!r}.")
        self.source = source
        self.knn = knn
        self.vertex_tol = vertex_tol

    def _mesh_normals(self, path: str, xyz: np.ndarray) -> np.ndarray:
        verts, faces = read_mesh(path)
        if len(verts) != len(xyz):
            raise ValueError(
                f'{path}: mesh has {len(verts)} vertices but the scene has '
                f'{len(xyz)} points; mesh normals need the point file made '
                'from this mesh (same vertex order). Use '
                "AddPointNormals(source='points') otherwise.")
        err = np.abs(verts - xyz).max() if len(xyz) else 0.
        if err > self.vertex_tol:
            raise ValueError(
                f'{path}: mesh vertices differ from the points by up to '
                f'{err:.3g} m (> vertex_tol={self.vertex_tol}); the points '
                'were transformed (e.g. axis-aligned) or belong to another '
                "scene. Use AddPointNormals(source='points').")
        n = mesh_vertex_normals(verts, faces)
        bad = ~np.any(n != 0, axis=1)
        if bad.any():
            n[bad] = pca_normals(xyz, self.knn)[bad]
        return n

    def transform(self, results: dict) -> dict:
        pts = results['points']
        t = pts.tensor.numpy()
        if t.shape[1] < 6:
            raise ValueError(
                f'AddPointNormals needs [x, y, z, r, g, b] points, got '
                f'{t.shape[1]} columns; load colours first.')
        check_point_columns(pts, results.get('lidar_points', {}).get(
            'lidar_path', 'AddPointNormals input points'))
        xyz = t[:, :3].astype(np.float64)
        mesh = results.get('mesh_path')
        if self.source in ('auto', 'file') and 'normals' in results:
            n, src = np.asarray(results['normals'], np.float64), 'file'
            if n.shape != xyz.shape:
                raise ValueError(f'normals {n.shape} do not match the '
                                 f'{len(xyz)} points.')
            n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True),
                               1e-12)
        elif self.source in ('auto', 'mesh') and mesh and osp.isfile(mesh):
            # mesh vertices are in the file's frame: add the local origin
            # LoadOpenScenePoints subtracted
            n, src = self._mesh_normals(mesh, xyz + np.asarray(
                results.get('coord_origin', np.zeros(3)))), 'mesh'
        elif self.source in ('auto', 'points'):
            n, src = pca_normals(xyz, self.knn), 'points'
        else:
            raise FileNotFoundError(
                f"AddPointNormals(source={self.source!r}): no "
                f"{'normals in the scene file' if self.source == 'file' else 'mesh at ' + repr(mesh)}"  # noqa: E501
                "; use source='auto' to fall back to point normals.")
        merged = np.concatenate([t[:, :6], n.astype(np.float32), t[:, 6:]],
                                1)
        dims = {}
        for k, v in (pts.attribute_dims or {}).items():
            dims[k] = (v + 3 if v >= 6 else v) if isinstance(v, int) else \
                [d + 3 if d >= 6 else d for d in v]
        dims['normal'] = [6, 7, 8]
        results['points'] = type(pts)(merged, points_dim=merged.shape[1],
                                      attribute_dims=dims)
        results['normals_source'] = src
        results.pop('normals', None)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(source={self.source!r}, '
                f'knn={self.knn})')
