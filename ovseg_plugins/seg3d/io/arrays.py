"""Array point files: mmdet3d ``.bin`` (float32 rows), ``.npy`` and
ScanNet / OpenScene ``.pth`` tuples."""
from typing import Optional

import numpy as np
from mmengine.logging import print_log

from .cloud import PointCloud, finish_cloud, to_255

__all__ = ['read_bin', 'read_npy', 'read_pth']


def _integer_rgb(rows: np.ndarray) -> bool:
    """Columns 3..5 hold integer colours 0..255 (mmdet3d's .bin files)."""
    c = rows[:, 3:6]
    return bool(np.isfinite(c).all() and (c >= 0).all() and (c <= 255).all()
                and (c == np.round(c)).all())


def unit_colours(c: np.ndarray) -> bool:
    """Colours stored in 0..1 (fractional values, none above 1), which a
    0..255 reader would take for near-black."""
    return bool(c.size and np.isfinite(c).all() and c.min() >= 0
                and c.max() <= 1 and (c != np.round(c)).any())


def read_bin(path: str, load_dim: Optional[int] = None) -> PointCloud:
    """An mmdet3d ``.bin``: float32 rows of ``load_dim`` columns (default
    6: x y z r g b with colours 0..255; colours in 0..1 are rescaled with a
    notice)."""
    dim = load_dim or 6
    a = np.fromfile(path, dtype=np.float32)
    if a.size == 0 or a.size % dim:
        raise ValueError(
            f'{path}: {a.size} float32 values are not a whole number of '
            f'{dim}-column rows; give load_dim (6: xyz rgb, 4: xyz '
            'intensity, ...).')
    if dim != 6 and a.size % 6 == 0 and _integer_rgb(a.reshape(-1, 6)) \
            and not (dim > 6 and _integer_rgb(a.reshape(-1, dim))):
        raise ValueError(
            f'{path}: read as {dim}-column rows, but it is a 6-column '
            'xyz rgb file (every 4th-6th value an integer colour 0..255, '
            f'as mmdet3d writes them); {dim} columns would mix '
            'coordinates and colours. Give load_dim=6 (--load-dim 6, the '
            'default).')
    a = a.reshape(-1, dim)
    rgb = None
    if dim >= 6:
        c = a[:, 3:6]
        lo, hi = float(np.nanmin(c)), float(np.nanmax(c))
        if not (np.isfinite(c).all() and lo >= 0 and hi <= 255):
            raise ValueError(
                f'{path}: columns 4-6 of its {dim}-column rows hold '
                f'[{lo:g}, {hi:g}], not rgb 0..255: the file probably has '
                f'another number of columns than {dim}; give load_dim '
                '(--load-dim) with its real width (6: xyz rgb, 4: xyz '
                'intensity, ...).')
        rgb = c
        if unit_colours(c):
            print_log(f'{path}: colours span [{lo:g}, {hi:g}] (0..1, not the '
                      '0..255 of mmdet3d .bin files): read as 0..255 by '
                      'multiplying by 255', logger='current', level=30)
            rgb = c * 255.
    return finish_cloud(a[:, :3], rgb, path)


def read_npy(path: str) -> PointCloud:
    """An ``.npy`` array ``(N, 3)`` xyz or ``(N, 6+)`` xyz rgb, any numeric
    dtype (float64 coordinates keep their precision until the local origin
    is subtracted). Object (pickled) arrays are refused, never loaded."""
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        if 'allow_pickle' not in str(e):
            raise ValueError(f'could not read {path!r} as a .npy array '
                             f'({e}).') from e
        raise ValueError(
            f'{path}: holds a Python-object (pickled) array, which is never '
            'loaded (unpickling can run code); save the points as a numeric '
            'array: np.save(path, np.asarray(points, dtype=np.float64)) with '
            'shape (N, 3) xyz or (N, 6) xyz rgb (0..255).') from None
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f'{path}: array of dtype {a.dtype}; expected a '
                         'numeric (N, 3) or (N, 6+) array.')
    if a.ndim != 2 or a.shape[1] not in (3, ) and a.shape[1] < 6:
        raise ValueError(f'{path}: array of shape {a.shape}; expected '
                         '(N, 3) xyz or (N, 6+) xyz rgb (0..255).')
    return finish_cloud(a[:, :3], to_255(a[:, 3:6], np.issubdtype(
        a.dtype, np.integer)) if a.shape[1] >= 6 else None, path)


def read_pth(path: str) -> PointCloud:
    """A ScanNet / OpenScene ``.pth`` tuple ``(coords, colors in [-1, 1][,
    normals], labels)``."""
    from ..datasets.transforms.load_openscene_points import \
        load_openscene_tuple
    d = load_openscene_tuple(path)
    return finish_cloud(d['coords'], to_255(d['colors'], False), path,
                        d.get('normals'), d.get('labels'))
