"""The point cloud every reader returns, and the local-origin rule.

Survey and photogrammetry clouds carry georeferenced coordinates in the
hundreds of thousands to millions of metres (UTM eastings / northings). A
float32 holds 24 bits of mantissa: at 5,000,000 m its spacing is 0.5 m, so
casting such coordinates to float32 loses decimetres without a word. Every
reader therefore keeps the coordinates in float64 until a **local origin**
(float64, see :func:`choose_origin`) has been subtracted; only the local
coordinates (within the scene's own extent) become float32. Outputs add the
origin back (``PointCloud.xyz_world``), so coordinates return to the file's
own precision.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np
from mmengine.logging import print_log

__all__ = ['PointCloud', 'finish_cloud', 'choose_origin', 'LOCAL_LIMIT',
           'FLOAT32_LIMIT', 'check_float32_coordinates', 'to_255']

#: Clouds whose coordinates all lie within this many metres of 0 keep the
#: origin (0, 0, 0): float32 resolves them to 0.12 mm or better, and indoor
#: scenes (ScanNet, S3DIS, rendered rooms) are read exactly as before.
LOCAL_LIMIT = 1024.
#: Beyond this magnitude float32 coordinates are spaced by 1 mm or more
#: (2 ** 14 m): point data stored as float32 this far from its origin has
#: already lost precision (loaders that cannot shift refuse it).
FLOAT32_LIMIT = 16384.


def choose_origin(xyz: np.ndarray) -> np.ndarray:
    """The local origin of a cloud: ``(0, 0, 0)`` when every coordinate is
    within :data:`LOCAL_LIMIT` of 0, else the centre of its bounding box
    rounded to whole metres (whole metres keep voxel grids of 1 m divisors,
    e.g. 2 cm, aligned with the world grid).

    Args:
        xyz (ndarray): ``(N, 3)`` finite coordinates (any float dtype).

    Returns:
        ndarray: ``(3,)`` float64.
    """
    lo = xyz.min(0).astype(np.float64)
    hi = xyz.max(0).astype(np.float64)
    if max(np.abs(lo).max(), np.abs(hi).max()) <= LOCAL_LIMIT:
        return np.zeros(3)
    return np.round((lo + hi) / 2)


def check_float32_coordinates(xyz, where: str) -> None:
    """Refuse float32 coordinates too far from 0 to be exact (a point file
    of a georeferenced cloud written without a local origin): their spacing
    is already 1 mm or more, and every later step would compute on them.

    Args:
        xyz: ``(N, 3)`` array or tensor (already float32).
        where (str): The file or component named in the error.

    Raises:
        ValueError: Naming ``where``, the magnitude, the float32 spacing
            there and the fix.
    """
    big = float(np.abs(np.asarray(xyz[:, :3], np.float64)).max()) \
        if len(xyz) else 0.
    if big >= FLOAT32_LIMIT:
        step = float(np.spacing(np.float32(big)))
        raise ValueError(
            f'{where}: coordinates reach {big:.10g} m, stored as float32 '
            f'(spacing {step:.3g} m there): georeferenced coordinates lose '
            'precision in float32. Subtract a local origin (float64) before '
            'writing the point file, e.g. pc = read_point_cloud(path) gives '
            'local pc.xyz and pc.origin; or read the source file (.las/.laz, '
            'float64 .ply/.npy) with read_point_cloud / pointcloud_demo.py, '
            'which shift it themselves.')


def to_255(c: np.ndarray, integer: bool) -> np.ndarray:
    """Colours to 0..255: integer types as stored, floats in [0, 1] scaled,
    floats in [-1, 1] (OpenScene) mapped, larger floats kept."""
    c = c.astype(np.float32)
    if integer or c.size == 0:
        return c
    lo, hi = float(c.min()), float(c.max())
    if lo < 0 and lo >= -1 - 1e-6 and hi <= 1 + 1e-6:
        return (c + 1) * 127.5
    if hi <= 1 + 1e-6:
        return c * 255
    return c


@dataclass
class PointCloud:
    """A point cloud as read from a file.

    Attributes:
        xyz (ndarray): ``(N, 3)`` float32 LOCAL coordinates (the world
            coordinates minus ``origin``).
        rgb (ndarray): ``(N, 3)`` float32 colours in 0..255 (128 grey when
            the file has none; see ``has_color``).
        has_color (bool): Whether the file stored colours.
        normals (ndarray, optional): ``(N, 3)`` float32.
        labels (ndarray, optional): ``(N,)`` int64 labels stored in the file.
        path (str): Source file ('' for arrays).
        origin (ndarray): ``(3,)`` float64 local origin (zeros for clouds
            near 0, see :func:`choose_origin`).
        attributes (dict): Other per-point fields kept from the file, e.g.
            LAS ``intensity`` / ``classification`` ``(N,)``.
        source (dict): What the writers need to write results back in the
            file's own format (e.g. LAS header scale / offset / CRS).
    """
    xyz: np.ndarray
    rgb: np.ndarray
    has_color: bool = True
    normals: Optional[np.ndarray] = None
    labels: Optional[np.ndarray] = None
    path: str = ''
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    attributes: Dict[str, np.ndarray] = field(default_factory=dict)
    source: dict = field(default_factory=dict)

    @property
    def points(self) -> np.ndarray:
        """``(N, 6)`` float32 local xyz + rgb (0..255)."""
        return np.concatenate([self.xyz, self.rgb], 1).astype(np.float32)

    @property
    def xyz_world(self) -> np.ndarray:
        """``(N, 3)`` float64 world coordinates (``xyz + origin``)."""
        return self.xyz.astype(np.float64) + self.origin

    def __len__(self) -> int:
        return len(self.xyz)


def finish_cloud(xyz, rgb, path: str, normals=None, labels=None,
                 attributes: Optional[dict] = None,
                 source: Optional[dict] = None) -> PointCloud:
    """Check the arrays read from ``path`` and build the :class:`PointCloud`
    (the local origin is subtracted in float64 before the cast to float32).

    Raises:
        ValueError: Wrong shapes, no points, non-finite coordinates or
            colours, or every point at the same place - naming ``path``.
    """
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f'{path}: coordinates have shape {xyz.shape}, '
                         'expected (N, 3).')
    if len(xyz) == 0:
        raise ValueError(f'{path}: the point cloud has no points.')
    if not np.issubdtype(xyz.dtype, np.floating):
        xyz = xyz.astype(np.float64)
    bad = ~np.isfinite(xyz).all(1)
    if bad.any():
        raise ValueError(
            f'{path}: {int(bad.sum())} of {len(xyz)} points have NaN/inf '
            'coordinates (e.g. an organised sensor cloud); remove them first '
            '(outputs are aligned with the input points row by row).')
    if len(xyz) > 1 and (xyz == xyz[0]).all():
        raise ValueError(
            f'{path}: all {len(xyz)} points have the same coordinates '
            f'{tuple(float(v) for v in xyz[0])}: nothing to segment (a '
            'wrong scale, offset or column order when the file was '
            'written?); check the file in a viewer and re-export it.')
    origin = choose_origin(xyz)
    local = (xyz.astype(np.float64) - origin).astype(np.float32) if \
        origin.any() else np.ascontiguousarray(xyz, dtype=np.float32)
    if origin.any():
        half = float(np.abs(local).max())
        note = '' if xyz.dtype != np.float32 else (
            f'; the file stores float32 coordinates, so it already had only '
            f'{float(np.spacing(np.float32(np.abs(xyz).max()))):.3g} m '
            'resolution')
        print_log(f'{path}: local origin {tuple(origin.tolist())} m '
                  f'subtracted in float64 (added back on output){note}',
                  logger='current')
        if half >= FLOAT32_LIMIT:
            print_log(
                f'{path}: the cloud spans {2 * half:.0f} m around its origin; '
                f'float32 resolves its local coordinates to '
                f'{float(np.spacing(np.float32(half))):.3g} m at the edges: '
                'split it into tiles for millimetre work', logger='current',
                level=30)
    has_color = rgb is not None
    if rgb is None:
        rgb = np.full((len(xyz), 3), 128., np.float32)
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.shape != xyz.shape or not np.isfinite(rgb).all():
        raise ValueError(f'{path}: colours have shape {rgb.shape} or '
                         f'non-finite values; expected finite (N, 3).')
    if normals is not None:
        normals = np.asarray(normals, np.float32)
    if labels is not None:
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
    return PointCloud(local, rgb, has_color, normals, labels, path, origin,
                      dict(attributes or {}), dict(source or {}))
