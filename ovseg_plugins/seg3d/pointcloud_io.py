"""Read and write user point clouds: .ply, .pcd, mmdet3d .bin, .npy and
ScanNet / OpenScene .pth.

Every reader keeps the file's point order and count (outputs are aligned
with the input row by row) and refuses clouds with non-finite coordinates
instead of silently dropping rows. PLY goes through ``plyfile``; PCD (ASCII
and binary, the two formats PCL writes by default) through the small
reader below, as no maintained pure-Python PCD package is a dependency.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np

from ovseg_plugins.utils.io import atomic_write

__all__ = ['PointCloud', 'read_point_cloud', 'read_ply', 'read_pcd',
           'write_ply', 'class_palette', 'SUPPORTED_FORMATS']

SUPPORTED_FORMATS = ('.ply', '.pcd', '.bin', '.npy', '.pth')


@dataclass
class PointCloud:
    """A point cloud as read from a file.

    Attributes:
        xyz (ndarray): ``(N, 3)`` float32 coordinates.
        rgb (ndarray): ``(N, 3)`` float32 colours in 0..255 (128 grey when
            the file has none; see ``has_color``).
        has_color (bool): Whether the file stored colours.
        normals (ndarray, optional): ``(N, 3)`` float32.
        labels (ndarray, optional): ``(N,)`` int64 labels stored in the file.
        path (str): Source file ('' for arrays).
    """
    xyz: np.ndarray
    rgb: np.ndarray
    has_color: bool = True
    normals: Optional[np.ndarray] = None
    labels: Optional[np.ndarray] = None
    path: str = ''

    @property
    def points(self) -> np.ndarray:
        """``(N, 6)`` float32 xyz + rgb (0..255)."""
        return np.concatenate([self.xyz, self.rgb], 1).astype(np.float32)

    def __len__(self) -> int:
        return len(self.xyz)


def _finish(xyz, rgb, path, normals=None, labels=None) -> PointCloud:
    xyz = np.ascontiguousarray(xyz, dtype=np.float32)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f'{path}: coordinates have shape {xyz.shape}, '
                         'expected (N, 3).')
    if len(xyz) == 0:
        raise ValueError(f'{path}: the point cloud has no points.')
    bad = ~np.isfinite(xyz).all(1)
    if bad.any():
        raise ValueError(
            f'{path}: {int(bad.sum())} of {len(xyz)} points have NaN/inf '
            'coordinates (e.g. an organised sensor cloud); remove them first '
            '(outputs are aligned with the input points row by row).')
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
    return PointCloud(xyz, rgb, has_color, normals, labels, path)


def _to_255(c: np.ndarray, integer: bool) -> np.ndarray:
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


def read_ply(path: str) -> PointCloud:
    """Vertices of a PLY file (point cloud or mesh) in file order.

    Colours from ``red/green/blue`` (or ``r/g/b``, ``diffuse_*``), normals
    from ``nx/ny/nz``, labels from ``label``.
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
            rgb = _to_255(c, np.issubdtype(c.dtype, np.integer))
            break
    normals = np.stack([v['nx'], v['ny'], v['nz']], 1) if all(
        k in names for k in ('nx', 'ny', 'nz')) else None
    labels = v['label'] if 'label' in names else None
    return _finish(xyz, rgb, path, normals, labels)


_PCD_TYPES = {('F', 4): np.float32, ('F', 8): np.float64, ('U', 1): np.uint8,
              ('U', 2): np.uint16, ('U', 4): np.uint32, ('U', 8): np.uint64,
              ('I', 1): np.int8, ('I', 2): np.int16, ('I', 4): np.int32,
              ('I', 8): np.int64}


def read_pcd(path: str) -> PointCloud:
    """A PCL ``.pcd`` file, ``DATA ascii`` or ``DATA binary``.

    Colours from a packed ``rgb`` / ``rgba`` field (float or uint32) or
    separate ``r g b`` fields; normals from ``normal_x/y/z``; labels from
    ``label``.
    """
    with open(path, 'rb') as f:
        raw = f.read()
    header, pos = {}, 0
    while True:
        end = raw.find(b'\n', pos)
        if end < 0:
            raise ValueError(f'{path}: truncated PCD header (no DATA line).')
        line = raw[pos:end].decode('ascii', 'replace').strip()
        pos = end + 1
        if not line or line.startswith('#'):
            continue
        key, _, val = line.partition(' ')
        header[key.upper()] = val.split()
        if key.upper() == 'DATA':
            break
    for k in ('FIELDS', 'SIZE', 'TYPE'):
        if k not in header:
            raise ValueError(f'{path}: PCD header has no {k} line.')
    fields = header['FIELDS']
    counts = [int(c) for c in header.get('COUNT', ['1'] * len(fields))]
    sizes = [int(s) for s in header['SIZE']]
    types = header['TYPE']
    if not (len(fields) == len(sizes) == len(types) == len(counts)):
        raise ValueError(f'{path}: FIELDS/SIZE/TYPE/COUNT lengths differ.')
    n = int(header.get('POINTS', [0])[0]) or int(
        header.get('WIDTH', ['0'])[0]) * int(header.get('HEIGHT', ['1'])[0])
    mode = header['DATA'][0].lower()
    dtype = []
    for name, s, t, c in zip(fields, sizes, types, counts):
        if (t.upper(), s) not in _PCD_TYPES:
            raise ValueError(f'{path}: unsupported PCD field {name!r} type '
                             f'{t}{s}.')
        dt = _PCD_TYPES[(t.upper(), s)]
        dtype.append((name, dt) if c == 1 else (name, dt, (c, )))
    dtype = np.dtype(dtype)
    if mode == 'binary':
        need = n * dtype.itemsize
        if len(raw) - pos < need:
            raise ValueError(f'{path}: binary PCD data has '
                             f'{len(raw) - pos} bytes, {need} expected for '
                             f'{n} points (truncated file?).')
        data = np.frombuffer(raw, dtype=dtype, count=n, offset=pos)
    elif mode == 'ascii':
        rows = [ln.split() for ln in raw[pos:].decode('ascii').splitlines()
                if ln.strip()]
        if len(rows) != n:
            raise ValueError(f'{path}: {len(rows)} data rows, header says '
                             f'{n} points.')
        data = np.zeros(n, dtype=dtype)
        col = 0
        table = np.array(rows, dtype=object) if n else np.zeros((0, 0))
        for name, c in zip(fields, counts):
            vals = table[:, col:col + c].astype(np.float64)
            if name in ('rgb', 'rgba') and dtype[name] == np.float32:
                # packed colours are written as the float's decimal text
                vals = vals.astype(np.float32)
            data[name] = vals[:, 0] if c == 1 else vals
            col += c
    else:
        raise ValueError(
            f'{path}: PCD "DATA {mode}" is not supported (ascii and binary '
            'are); re-save it uncompressed, e.g. with PCL '
            '`pcl_convert_pcd_ascii_binary in.pcd out.pcd 1` or Open3D '
            '`o3d.io.write_point_cloud(out, pcd, compressed=False)`.')
    names = dtype.names
    if not all(k in names for k in 'xyz'):
        raise ValueError(f'{path}: PCD fields {names} lack x, y, z.')
    xyz = np.stack([data['x'], data['y'], data['z']], 1)
    rgb = None
    packed = next((k for k in ('rgb', 'rgba') if k in names), None)
    if packed is not None:
        u = np.ascontiguousarray(data[packed])
        u = u.view(np.uint32) if u.dtype.itemsize == 4 else u.astype(
            np.uint32)
        rgb = np.stack([(u >> 16) & 255, (u >> 8) & 255, u & 255], 1)
    elif all(k in names for k in 'rgb'):
        c = np.stack([data['r'], data['g'], data['b']], 1)
        rgb = _to_255(c, np.issubdtype(c.dtype, np.integer))
    normals = np.stack([data['normal_x'], data['normal_y'], data['normal_z']],
                       1) if all(k in names for k in
                                 ('normal_x', 'normal_y', 'normal_z')) else \
        None
    labels = data['label'] if 'label' in names else None
    return _finish(xyz, rgb, path, normals, labels)


def _integer_rgb(rows: np.ndarray) -> bool:
    """Columns 3..5 hold integer colours 0..255 (mmdet3d's .bin files)."""
    c = rows[:, 3:6]
    return bool(np.isfinite(c).all() and (c >= 0).all() and (c <= 255).all()
                and (c == np.round(c)).all())


def read_point_cloud(path: str, load_dim: Optional[int] = None) -> PointCloud:
    """Read a point cloud by extension.

    Args:
        path (str): ``.ply``, ``.pcd``, ``.bin`` (mmdet3d float32 rows:
            ``load_dim`` columns, xyz first, rgb 0..255 in 3..5 when
            ``load_dim >= 6``), ``.npy`` (``(N, 3)`` or ``(N, 6+)`` xyz rgb)
            or ``.pth`` (ScanNet / OpenScene tuple ``(coords, colors in
            [-1, 1][, normals], labels)``).
        load_dim (int, optional): Columns of a ``.bin`` file. Defaults to 6.

    Returns:
        PointCloud: in the file's point order.
    """
    if not isinstance(path, str) or not osp.isfile(path):
        raise FileNotFoundError(f'point cloud not found: {path!r}')
    ext = osp.splitext(path)[1].lower()
    if ext == '.ply':
        return read_ply(path)
    if ext == '.pcd':
        return read_pcd(path)
    if ext == '.bin':
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
        return _finish(a[:, :3], a[:, 3:6] if dim >= 6 else None, path)
    if ext == '.npy':
        a = np.load(path, allow_pickle=False)
        if a.ndim != 2 or a.shape[1] not in (3, ) and a.shape[1] < 6:
            raise ValueError(f'{path}: array of shape {a.shape}; expected '
                             '(N, 3) xyz or (N, 6+) xyz rgb (0..255).')
        return _finish(a[:, :3], _to_255(a[:, 3:6], np.issubdtype(
            a.dtype, np.integer)) if a.shape[1] >= 6 else None, path)
    if ext == '.pth':
        from .datasets.transforms.load_openscene_points import \
            load_openscene_tuple
        d = load_openscene_tuple(path)
        return _finish(d['coords'], _to_255(d['colors'], False), path,
                       d.get('normals'), d.get('labels'))
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


def write_ply(path: str, xyz: np.ndarray, rgb: np.ndarray,
              extra: Optional[Dict[str, np.ndarray]] = None,
              text: bool = False) -> None:
    """Write a coloured point cloud (binary little-endian PLY) atomically.

    Args:
        path (str): Output file.
        xyz (ndarray): ``(N, 3)``.
        rgb (ndarray): ``(N, 3)`` colours 0..255.
        extra (dict, optional): Per-point scalar properties, e.g.
            ``{'label': (N,) int, 'score': (N,) float}``.
        text (bool): ASCII PLY instead of binary.
    """
    from plyfile import PlyData, PlyElement
    n = len(xyz)
    fields = [('x', 'f4'), ('y', 'f4'), ('z', 'f4'), ('red', 'u1'),
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
    arr['x'], arr['y'], arr['z'] = np.asarray(xyz, np.float32).T
    c = np.clip(np.round(np.asarray(rgb, np.float32)), 0, 255).astype(
        np.uint8)
    arr['red'], arr['green'], arr['blue'] = c.T
    for k, v in extra.items():
        arr[k] = v
    el = PlyElement.describe(arr, 'vertex')
    atomic_write(path, lambda t: PlyData([el], text=text).write(t),
                 suffix='.ply')


def legend_names(classes: Sequence[Sequence[str]]) -> list:
    """Display name per class: its synonyms joined by ``/``."""
    return ['/'.join(s) if not isinstance(s, str) else s for s in classes]
