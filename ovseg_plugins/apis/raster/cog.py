"""Cloud-Optimised GeoTIFF output and a check of its layout.

:func:`to_cog` turns a finished tiled GeoTIFF into a COG with GDAL's COG
driver (GDAL >= 3.1, bundled with rasterio's wheels): 256 px tiles,
overviews down to one tile (``RESAMPLING``: nearest for labels, average for
scores; nodata excluded from averages), the IFDs before the image data,
nodata, colour table, tags and band descriptions kept.

:func:`cog_layout_problems` checks the properties GDAL's
``validate_cloud_optimized_geotiff.py`` checks, reading the TIFF structure
itself (the script ships with GDAL's Python utilities, not with rasterio):
the main image is tiled; images larger than 512 px have overviews; every
IFD comes before the image data (IFDs in increasing order, main image
first); the overviews' tiles are stored before the main image's (smallest
overview first) and each image's tiles in row-major order; GDAL's
structural-metadata ghost header says ``LAYOUT=IFDS_BEFORE_DATA``.
"""
import struct
from typing import List

from ovseg_plugins.utils.io import atomic_write

TILE = 256


def to_cog(src_path: str, dst_path: str, resampling: str,
           compress: str = 'deflate') -> None:
    """Write ``src_path`` (a GeoTIFF) as a COG at ``dst_path``
    (atomically)."""
    from rasterio.shutil import copy

    def write(tmp):
        copy(src_path, tmp, driver='COG', BLOCKSIZE=TILE,
             COMPRESS=compress.upper(), RESAMPLING=resampling.upper(),
             OVERVIEWS='AUTO', BIGTIFF='IF_SAFER')

    atomic_write(dst_path, write, suffix='.tif')


_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8,
          11: 4, 12: 8, 16: 8, 17: 8, 18: 8}


def _ifds(f):
    """``[(ifd offset, {tag: values})]`` of a TIFF or BigTIFF, in order."""
    head = f.read(16)
    end = {b'II': '<', b'MM': '>'}[head[:2]]
    big = struct.unpack(end + 'H', head[2:4])[0] == 43
    off = struct.unpack(end + ('Q' if big else 'I'),
                        head[8:16] if big else head[4:8])[0]
    out = []
    while off:
        f.seek(off)
        n = struct.unpack(end + ('Q' if big else 'H'),
                          f.read(8 if big else 2))[0]
        tags = {}
        for _ in range(n):
            e = f.read(20 if big else 12)
            tag, typ = struct.unpack(end + 'HH', e[:4])
            cnt = struct.unpack(end + ('Q' if big else 'I'),
                                e[4:12] if big else e[4:8])[0]
            raw = e[12:20] if big else e[8:12]
            size = _TYPES.get(typ, 1) * cnt
            fmt = {1: 'B', 2: 'H', 4: 'I', 8: 'Q'}[_TYPES.get(typ, 1)] \
                if typ not in (2, 7) else 'B'
            if size > len(raw):
                pos = f.tell()
                f.seek(struct.unpack(end + ('Q' if big else 'I'), raw)[0])
                raw = f.read(size)
                f.seek(pos)
            if tag in (322, 323, 324, 325, 256, 257, 254) or typ == 2:
                vals = struct.unpack(end + fmt * cnt, raw[:size]) \
                    if typ != 2 else raw[:size]
                tags[tag] = vals
        out.append((off, tags))
        off = struct.unpack(end + ('Q' if big else 'I'),
                            f.read(8 if big else 4))[0]
    return out


def cog_layout_problems(path: str) -> List[str]:
    """What makes ``path`` not a valid COG (empty list: valid)."""
    with open(path, 'rb') as f:
        ifds = _ifds(f)
        f.seek(0)
        ghost = f.read(1024)
    problems = []
    main = ifds[0][1]
    if 322 not in main:
        problems.append('the main image is not tiled')
    w, h = main.get(256, (0, ))[0], main.get(257, (0, ))[0]
    images = [t for _, t in ifds if not t.get(254, (0, ))[0] & 4]  # no masks
    if max(w, h) > 512 and len(images) < 2:
        problems.append(f'{w}x{h} px without overviews')
    offsets = [o for o, _ in ifds]
    data_start = min((min(t[324]) for _, t in ifds if t.get(324)),
                     default=None)
    if offsets != sorted(offsets):
        problems.append('the IFDs are not in increasing order')
    if data_start is not None and max(offsets) > data_start:
        problems.append('an IFD comes after image data (IFDs must come '
                        'first)')
    firsts = [min(t[324]) for t in images if t.get(324)]
    if firsts != sorted(firsts, reverse=True):
        problems.append('the images\' tiles are not stored smallest '
                        'overview first, main image last')
    for t in images:
        offs = [o for o, n in zip(t.get(324, ()), t.get(325, ())) if n]
        if offs != sorted(offs):
            problems.append('tiles of an image are not in row-major order')
            break
    if b'LAYOUT=IFDS_BEFORE_DATA' not in ghost:
        problems.append("no GDAL structural metadata 'LAYOUT="
                        "IFDS_BEFORE_DATA' (ghost header)")
    return problems


__all__ = ['to_cog', 'cog_layout_problems']
