"""PCL ``.pcd`` files (ASCII and binary, the two formats PCL writes by
default), read by the small parser below: no maintained pure-Python PCD
package is a dependency."""
import numpy as np

from .cloud import PointCloud, finish_cloud, to_255

__all__ = ['read_pcd']

_PCD_TYPES = {('F', 4): np.float32, ('F', 8): np.float64, ('U', 1): np.uint8,
              ('U', 2): np.uint16, ('U', 4): np.uint32, ('U', 8): np.uint64,
              ('I', 1): np.int8, ('I', 2): np.int16, ('I', 4): np.int32,
              ('I', 8): np.int64}


def _header(raw: bytes, path: str):
    """``(header dict, data offset)`` of a PCD file."""
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
            return header, pos


def read_pcd(path: str) -> PointCloud:
    """A PCL ``.pcd`` file, ``DATA ascii`` or ``DATA binary``.

    Colours from a packed ``rgb`` / ``rgba`` field (float or uint32) or
    separate ``r g b`` fields; normals from ``normal_x/y/z``; labels from
    ``label``. Double (``F 8``) coordinates keep their precision until the
    local origin is subtracted.
    """
    with open(path, 'rb') as f:
        raw = f.read()
    header, pos = _header(raw, path)
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
        rgb = to_255(c, np.issubdtype(c.dtype, np.integer))
    normals = np.stack([data['normal_x'], data['normal_y'], data['normal_z']],
                       1) if all(k in names for k in
                                 ('normal_x', 'normal_y', 'normal_z')) else \
        None
    labels = data['label'] if 'label' in names else None
    return finish_cloud(xyz, rgb, path, normals, labels)
