"""PLY in and out (``plyfile``)."""
from typing import Dict, Optional

import numpy as np

from ovseg_plugins.utils.io import atomic_write
from .cloud import PointCloud, finish_cloud, to_255

__all__ = ['read_ply', 'write_ply']


def read_ply(path: str) -> PointCloud:
    """Vertices of a PLY file (point cloud or mesh) in file order.

    Colours from ``red/green/blue`` (or ``r/g/b``, ``diffuse_*``), normals
    from ``nx/ny/nz``, labels from ``label``. Coordinates are read in their
    stored precision (float or double) and shifted to a local origin before
    the cast to float32.
    """
    from plyfile import PlyData
    try:
        ply = PlyData.read(path)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f'could not read PLY file {path!r} '
                         f'({type(e).__name__}: {e}).') from e
    if 'vertex' not in [el.name for el in ply.elements]:
        raise ValueError(f'{path}: no "vertex" element in the PLY file.')
    v = ply['vertex'].data
    names = v.dtype.names or ()
    if not all(k in names for k in 'xyz'):
        raise ValueError(f'{path}: vertex properties {names} lack x, y, z.')
    xyz = np.stack([v['x'], v['y'], v['z']], 1)
    rgb = None
    for keys in (('red', 'green', 'blue'), ('r', 'g', 'b'),
                 ('diffuse_red', 'diffuse_green', 'diffuse_blue')):
        if all(k in names for k in keys):
            c = np.stack([v[k] for k in keys], 1)
            rgb = to_255(c, np.issubdtype(c.dtype, np.integer))
            break
    normals = np.stack([v['nx'], v['ny'], v['nz']], 1) if all(
        k in names for k in ('nx', 'ny', 'nz')) else None
    labels = v['label'] if 'label' in names else None
    return finish_cloud(xyz, rgb, path, normals, labels)


def write_ply(path: str, xyz: np.ndarray, rgb: np.ndarray,
              extra: Optional[Dict[str, np.ndarray]] = None,
              text: bool = False,
              origin: Optional[np.ndarray] = None) -> None:
    """Write a coloured point cloud (binary little-endian PLY) atomically.

    Args:
        path (str): Output file.
        xyz (ndarray): ``(N, 3)`` (local coordinates when ``origin`` is
            given).
        rgb (ndarray): ``(N, 3)`` colours 0..255.
        extra (dict, optional): Per-point scalar properties, e.g.
            ``{'label': (N,) int, 'score': (N,) float}``.
        text (bool): ASCII PLY instead of binary.
        origin (ndarray, optional): ``(3,)`` float64 local origin: when
            non-zero, ``xyz + origin`` is written as ``double`` x, y, z (the
            world coordinates to float64 precision); else float x, y, z.
    """
    from plyfile import PlyData, PlyElement
    n = len(xyz)
    world = origin is not None and bool(np.any(origin))
    ct = 'f8' if world else 'f4'
    fields = [('x', ct), ('y', ct), ('z', ct), ('red', 'u1'),
              ('green', 'u1'), ('blue', 'u1')]
    extra = dict(extra or {})
    for k, v in extra.items():
        v = np.asarray(v)
        if v.shape != (n, ):
            raise ValueError(f'write_ply: property {k!r} has shape '
                             f'{v.shape}, expected ({n},)')
        fields.append((k, 'i4' if np.issubdtype(v.dtype, np.integer)
                       else 'f4'))
    arr = np.empty(n, dtype=fields)
    if world:
        arr['x'], arr['y'], arr['z'] = (np.asarray(xyz, np.float64) +
                                        np.asarray(origin, np.float64)).T
    else:
        arr['x'], arr['y'], arr['z'] = np.asarray(xyz, np.float32).T
    c = np.clip(np.round(np.asarray(rgb, np.float32)), 0, 255).astype(
        np.uint8)
    arr['red'], arr['green'], arr['blue'] = c.T
    for k, v in extra.items():
        arr[k] = v
    el = PlyElement.describe(arr, 'vertex')
    atomic_write(path, lambda t: PlyData([el], text=text).write(t),
                 suffix='.ply')
