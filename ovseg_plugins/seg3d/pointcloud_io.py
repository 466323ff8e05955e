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


def class_palette(num_classes: int, seed: int = 0) -> np.ndarray:
    """``(num_classes, 3)`` uint8 distinct colours (a fixed qualitative
    table, then seeded random colours)."""
    base = np.array([
        [174, 199, 232], [152, 223, 138], [31, 119, 180], [255, 187, 120],
        [188, 189, 34], [140, 86, 75], [255, 152, 150], [214, 39, 40],
        [197, 176, 213], [148, 103, 189], [196, 156, 148], [23, 190, 207],
        [247, 182, 210], [219, 219, 141], [255, 127, 14], [158, 218, 229],
        [44, 160, 44], [112, 128, 144], [227, 119, 194], [82, 84, 163]
    ], np.uint8)
    if num_classes <= len(base):
        return base[:num_classes].copy()
    rng = np.random.default_rng(seed)
    extra = rng.integers(0, 256, (num_classes - len(base), 3), dtype=np.uint8)
    return np.concatenate([base, extra])


def legend_names(classes: Sequence[Sequence[str]]) -> list:
    """Display name per class: its synonyms joined by ``/``."""
    return ['/'.join(s) if not isinstance(s, str) else s for s in classes]
