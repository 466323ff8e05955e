"""Read and write user point clouds: .ply, .pcd, mmdet3d .bin, .npy,
ScanNet / OpenScene .pth and LAS / LAZ (the readers live in
:mod:`ovseg_plugins.seg3d.io`; this module dispatches by extension).

Every reader keeps the file's point order and count (outputs are aligned
with the input row by row), refuses clouds with non-finite coordinates
instead of silently dropping rows, and subtracts a float64 local origin
before anything is cast to float32 (``PointCloud.origin``; outputs add it
back), so georeferenced coordinates keep the file's own precision.
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np

from .io.arrays import read_bin, read_npy, read_pth
from .io.cloud import PointCloud, finish_cloud
from .io.las import read_las
from .io.pcd import read_pcd
from .io.ply import read_ply, write_ply
from .visualization.palette import class_palette

__all__ = ['PointCloud', 'read_point_cloud', 'read_ply', 'read_pcd',
           'read_las', 'write_ply', 'class_palette', 'SUPPORTED_FORMATS',
           'finish_cloud']

SUPPORTED_FORMATS = ('.ply', '.pcd', '.bin', '.npy', '.pth', '.las', '.laz')
# kept for callers of the former private name
_finish = finish_cloud


def read_point_cloud(path: str, load_dim: Optional[int] = None) -> PointCloud:
    """Read a point cloud by extension.

    Args:
        path (str): ``.ply``, ``.pcd``, ``.bin`` (mmdet3d float32 rows:
            ``load_dim`` columns, xyz first, rgb 0..255 in 3..5 when
            ``load_dim >= 6``), ``.npy`` (``(N, 3)`` or ``(N, 6+)`` xyz
            rgb), ``.pth`` (ScanNet / OpenScene tuple ``(coords, colors in
            [-1, 1][, normals], labels)``) or ``.las`` / ``.laz``.
        load_dim (int, optional): Columns of a ``.bin`` file. Defaults to 6.

    Returns:
        PointCloud: in the file's point order, local coordinates
        (``xyz``) and their float64 ``origin``.
    """
    if not isinstance(path, str) or not osp.isfile(path):
        raise FileNotFoundError(f'point cloud not found: {path!r}')
    ext = osp.splitext(path)[1].lower()
    if ext == '.ply':
        return read_ply(path)
    if ext == '.pcd':
        return read_pcd(path)
    if ext == '.bin':
        return read_bin(path, load_dim)
    if ext == '.npy':
        return read_npy(path)
    if ext == '.pth':
        return read_pth(path)
    if ext in ('.las', '.laz'):
        return read_las(path)
    raise ValueError(f'{path}: unsupported point-cloud format {ext!r}; use '
                     f'one of {", ".join(SUPPORTED_FORMATS)}.')


def legend_names(classes: Sequence[Sequence[str]]) -> list:
    """Display name per class: its synonyms joined by ``/``."""
    return ['/'.join(s) if not isinstance(s, str) else s for s in classes]
