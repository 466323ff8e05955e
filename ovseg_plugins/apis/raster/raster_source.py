"""Windowed readers: one raster (local, remote or virtual), or a folder of
tiles on one pixel grid.

Both expose the same small interface used by the raster engine:
``width``, ``height``, ``count``, ``crs``, ``transform``, ``dtype``,
``colorinterp``, ``descriptions``, ``tags``, ``colormap(band)``,
``georeferenced`` and ``read(bands, window) -> (array, valid)``, where
``array`` is ``(len(bands), h, w)`` in the source dtype and ``valid`` is
``(h, w)`` bool (False where any selected band is nodata / masked, NaN or
infinite in a floating-point source, or outside every tile of a mosaic).
Reading goes through rasterio (GDAL), one window at a time, so memory does
not grow with the raster; remote rasters (``http(s)://``, ``s3://``,
``/vsicurl/``, ``/vsis3/``, other ``/vsi*`` paths) are read through GDAL's
virtual file systems with HTTP range requests (no full download).
"""
import glob
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np

RASTER_EXTS = ('.tif', '.tiff', '.vrt', '.img', '.jp2', '.png', '.jpg',
               '.jpeg', '.bmp')
REMOTE_PREFIXES = ('http://', 'https://', 's3://', '/vsi')


def _rasterio():
    try:
        import rasterio
    except ImportError as e:  # pragma: no cover - rasterio is a requirement
        raise ImportError(
            'Large-raster inference needs rasterio (pip install rasterio; its '
            'wheels bundle GDAL).') from e
    return rasterio


def is_remote(path) -> bool:
    """``http(s)://``, ``s3://`` URLs and GDAL ``/vsi*`` paths."""
    return isinstance(path, str) and path.startswith(REMOTE_PREFIXES)


def gdal_path(path: str) -> str:
    """The GDAL path of ``path``: ``http(s)://`` -> ``/vsicurl/...``,
    ``s3://bucket/key`` -> ``/vsis3/bucket/key``; others unchanged."""
    if path.startswith(('http://', 'https://')):
        return '/vsicurl/' + path
    if path.startswith('s3://'):
        return '/vsis3/' + path[len('s3://'):]
    return path


def remote_hint(path: str) -> str:
    if path.startswith(('s3://', '/vsis3/')):
        return ('check the bucket and key, and the credentials (AWS_PROFILE '
                'or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; '
                'AWS_NO_SIGN_REQUEST=YES for public buckets)')
    return 'check the URL (open it in a browser or with curl -I) and the network'


class _BlockCache:
    """Reads of a remote raster assembled from whole blocks of its own tile
    grid, each fetched once and kept (LRU, ``OVSEG_REMOTE_CACHE_MB``, 128
    MB): neighbouring windows share their margins, and GDAL's reads over
    several tile rows of a /vsicurl/ file bypass its block cache (every
    overlap would be downloaded again)."""

    def __init__(self, src, block_shape):
        import collections
        import os
        bh, bw = block_shape
        if bh < 16:  # striped file: bands of 256 rows
            bh, bw = 256, src.width
        self.src, self.shape = src, (bh, bw)
        self.cache = collections.OrderedDict()
        self.budget = int(os.environ.get('OVSEG_REMOTE_CACHE_MB',
                                         128)) << 20
        self.size = 0

    def _block(self, bands, by, bx):
        key = (bands, by, bx)
        hit = self.cache.get(key)
        if hit is not None:
            self.cache.move_to_end(key)
            return hit
        bh, bw = self.shape
        y0, x0 = by * bh, bx * bw
        hit = self.src._read_raw(bands, (y0, min(y0 + bh, self.src.height),
                                         x0, min(x0 + bw, self.src.width)))
        self.cache[key] = hit
        self.size += hit[0].nbytes + hit[1].nbytes
        while self.size > self.budget and len(self.cache) > 1:
            _, old = self.cache.popitem(last=False)
            self.size -= old[0].nbytes + old[1].nbytes
        return hit

    def read(self, bands, window):
        y0, y1, x0, x1 = window
        bh, bw = self.shape
        arr = np.empty((len(bands), y1 - y0, x1 - x0), self.src.dtype)
        masks = np.empty((len(bands), y1 - y0, x1 - x0), np.uint8)
        for by in range(y0 // bh, (y1 - 1) // bh + 1):
            for bx in range(x0 // bw, (x1 - 1) // bw + 1):
                a, m = self._block(bands, by, bx)
                a0, a1 = max(y0, by * bh), min(y1, by * bh + a.shape[1])
                b0, b1 = max(x0, bx * bw), min(x1, bx * bw + a.shape[2])
                src = (slice(None), slice(a0 - by * bh, a1 - by * bh),
                       slice(b0 - bx * bw, b1 - bx * bw))
                dst = (slice(None), slice(a0 - y0, a1 - y0),
                       slice(b0 - x0, b1 - x0))
                arr[dst], masks[dst] = a[src], m[src]
        return arr, masks


class RasterSource:
    """One raster read window by window.

    Args:
        path (str): Any GDAL-readable raster (GeoTIFF, PNG, JPEG, VRT...), a
            URL (``http(s)://``, ``s3://``) or a GDAL virtual path
            (``/vsicurl/``, ``/vsis3/``...).
    """

    def __init__(self, path: str):
        rasterio = _rasterio()
        remote = is_remote(path)
        if not remote and not osp.isfile(path):
            raise FileNotFoundError(f'Raster not found: {path!r}.')
        try:
            self._ds = rasterio.open(gdal_path(path))
        except rasterio.errors.RasterioIOError as e:
            if remote:
                raise OSError(
                    f'Cannot read the remote raster {path!r} ({e}): '
                    f'{remote_hint(path)}.') from e
            raise ValueError(
                f'Cannot read {path!r} as a raster ({e}); give a GeoTIFF or '
                'another GDAL-readable image.') from e
        ds = self._ds
        self.path, self.remote = path, remote
        self.width, self.height, self.count = ds.width, ds.height, ds.count
        self.crs, self.transform = ds.crs, ds.transform
        self.dtype = np.dtype(ds.dtypes[0])
        self.nodata = ds.nodata
        self.colorinterp = [c.name for c in ds.colorinterp]
        self.descriptions = list(ds.descriptions)
        self.tags = ds.tags()
        self.georeferenced = not (ds.crs is None and not ds.gcps[0] and
                                  ds.transform == rasterio.Affine.identity())
        self._float = np.issubdtype(self.dtype, np.floating)
        from rasterio.enums import MaskFlags
        # may a pixel be invalid (nodata, mask, alpha, NaN)?
        self.may_have_nodata = self._float or any(
            flags != [MaskFlags.all_valid] for flags in ds.mask_flag_enums)
        if remote:
            self._blocks = _BlockCache(self, ds.block_shapes[0])

    def colormap(self, band: int):
        try:
            return self._ds.colormap(band)
        except ValueError:  # no colour table
            return None

    def _valid(self, arr, masks):
        valid = (masks > 0).all(axis=0)
        if self._float:  # NaN / inf are nodata, tagged or not
            valid &= np.isfinite(arr).all(axis=0)
        return valid

    def _read_raw(self, bands, window):
        from rasterio.windows import Window
        y0, y1, x0, x1 = window
        win = Window(x0, y0, x1 - x0, y1 - y0)
        return (self._ds.read(list(bands), window=win),
                self._ds.read_masks(list(bands), window=win))

    def read(self, bands: Sequence[int],
             window: Tuple[int, int, int, int]
             ) -> Tuple[np.ndarray, np.ndarray]:
        """Read ``window = (y0, y1, x0, x1)`` of the 1-based ``bands``."""
        if self.remote:
            arr, masks = self._blocks.read(tuple(bands), window)
        else:
            arr, masks = self._read_raw(bands, window)
        return arr, self._valid(arr, masks)

    def read_overview(self, bands: Sequence[int],
                      max_side: int) -> Tuple[np.ndarray, np.ndarray]:
        """A decimated read (long side <= ``max_side``) for statistics."""
        s = min(1.0, max_side / max(self.width, self.height))
        shape = (max(1, round(self.height * s)), max(1, round(self.width * s)))
        arr = self._ds.read(list(bands), out_shape=(len(bands), ) + shape)
        masks = self._ds.read_masks(list(bands),
                                    out_shape=(len(bands), ) + shape)
        return arr, self._valid(arr, masks)

    def close(self) -> None:
        self._ds.close()


class MosaicSource:
    """A folder (or list) of tiles on one pixel grid, read as one raster.

    The tiles must share CRS, pixel size, band count and dtype, and their
    origins must lie on one pixel grid (as tiles cut from one scene do); the
    mosaic spans their union and pixels outside every tile are invalid. Where
    tiles overlap, the first tile (sorted by name) wins. Nothing is
    resampled: bring tiles onto one grid first (e.g. ``gdalwarp -tap``).

    Args:
        paths (str | list[str]): A folder (its raster files, sorted) or files.
    """

    def __init__(self, paths):
        if isinstance(paths, str):
            if not osp.isdir(paths):
                raise FileNotFoundError(f'Tile folder not found: {paths!r}.')
            folder = paths
            paths = sorted(
                p for p in glob.glob(osp.join(folder, '*'))
                if p.lower().endswith(RASTER_EXTS))
            if not paths:
                raise ValueError(
                    f'No raster tiles ({", ".join(RASTER_EXTS)}) in '
                    f'{folder!r}.')
        self.tiles: List[RasterSource] = [RasterSource(p) for p in paths]
        if len(self.tiles) > 1:
            for t in self.tiles:
                if not t.georeferenced:
                    raise ValueError(
                        f'Tile {t.path!r} has no georeference (no CRS, no '
                        'geotransform): a mosaic places tiles by their '
                        'geotransforms, so all of them would land on the '
                        'same pixels. Segment the folder without --mosaic '
                        '(each image on its own), or georeference the tiles '
                        '(world files, gdal_translate -a_ullr -a_srs).')
        first = self.tiles[0]
        self.path = osp.dirname(first.path)
        self.crs, self.count, self.dtype = first.crs, first.count, first.dtype
        self.nodata = first.nodata
        self.colorinterp = first.colorinterp
        self.descriptions, self.tags = first.descriptions, first.tags
        self.colormap = first.colormap
        self.remote = any(t.remote for t in self.tiles)
        self.georeferenced = all(t.georeferenced for t in self.tiles)
        self.may_have_nodata = True  # gaps between tiles
        t0 = first.transform
        if t0.b != 0 or t0.d != 0:
            raise ValueError(f'{first.path}: rotated rasters are not '
                             'supported in a mosaic.')
        resx, resy = t0.a, t0.e
        offsets = []
        for t in self.tiles:
            tr = t.transform
            problems = []
            if t.crs != self.crs:
                problems.append(f'CRS {t.crs} != {self.crs}')
            if t.count != self.count or t.dtype != self.dtype:
                problems.append(f'{t.count} bands of {t.dtype} != '
                                f'{self.count} of {self.dtype}')
            if not (np.isclose(tr.a, resx) and np.isclose(tr.e, resy)
                    and tr.b == 0 and tr.d == 0):
                problems.append(f'pixel size {(tr.a, tr.e)} != '
                                f'{(resx, resy)}')
            ox = (tr.c - t0.c) / resx
            oy = (tr.f - t0.f) / resy
            if abs(ox - round(ox)) > 1e-3 or abs(oy - round(oy)) > 1e-3:
                problems.append('origin off the first tile\'s pixel grid')
            if problems:
                raise ValueError(
                    f'Tile {t.path!r} does not fit the mosaic of '
                    f'{first.path!r}: {"; ".join(problems)}. Reproject / '
                    'resample the tiles onto one grid first (e.g. gdalwarp '
                    '-tap -tr).')
            offsets.append((int(round(oy)), int(round(ox))))
        y_min = min(o[0] for o in offsets)
        x_min = min(o[1] for o in offsets)
        self.offsets = [(oy - y_min, ox - x_min) for oy, ox in offsets]
        self.height = max(o[0] + t.height
                          for o, t in zip(self.offsets, self.tiles))
        self.width = max(o[1] + t.width
                         for o, t in zip(self.offsets, self.tiles))
        from rasterio.transform import Affine
        self.transform = Affine(resx, 0, t0.c + x_min * resx, 0, resy,
                                t0.f + y_min * resy)

    def read(self, bands: Sequence[int],
             window: Tuple[int, int, int, int]
             ) -> Tuple[np.ndarray, np.ndarray]:
        y0, y1, x0, x1 = window
        arr = np.zeros((len(bands), y1 - y0, x1 - x0), self.dtype)
        valid = np.zeros((y1 - y0, x1 - x0), bool)
        filled = np.zeros_like(valid)
        for (oy, ox), t in zip(self.offsets, self.tiles):
            ty0, ty1 = max(y0, oy), min(y1, oy + t.height)
            tx0, tx1 = max(x0, ox), min(x1, ox + t.width)
            if ty0 >= ty1 or tx0 >= tx1:
                continue
            a, v = t.read(bands, (ty0 - oy, ty1 - oy, tx0 - ox, tx1 - ox))
            sl = (slice(ty0 - y0, ty1 - y0), slice(tx0 - x0, tx1 - x0))
            take = v & ~filled[sl]  # first tile wins where tiles overlap
            arr[(slice(None), ) + sl][:, take] = a[:, take]
            valid[sl] |= take
            filled[sl] |= take
        return arr, valid

    def read_overview(self, bands: Sequence[int],
                      max_side: int) -> Tuple[np.ndarray, np.ndarray]:
        """Concatenated decimated reads of every tile (statistics only)."""
        per = max(16, max_side // max(1, int(np.sqrt(len(self.tiles)))))
        arrs, masks = zip(*(t.read_overview(bands, per) for t in self.tiles))
        return (np.concatenate([a.reshape(len(bands), -1) for a in arrs],
                               axis=1)[:, None],
                np.concatenate([m.reshape(-1) for m in masks])[None])

    def close(self) -> None:
        for t in self.tiles:
            t.close()


class ScaledSource:
    """A raster seen at ``scale`` times its resolution (the model's input
    resolution): windows are read through GDAL's resampling (average when
    shrinking, bilinear when enlarging; masks nearest), the transform's pixel
    size is divided by ``scale``. Outputs are written at this resolution.

    Args:
        src (RasterSource): One raster (build a VRT of a tile folder first).
        scale (float): > 0.
    """

    resampled = True

    def __init__(self, src: 'RasterSource', scale: float):
        from rasterio.transform import Affine
        if not isinstance(src, RasterSource):
            raise ValueError(
                'scale != 1 reads one raster through GDAL\'s resampling; for '
                'a tile folder build a VRT first (gdalbuildvrt tiles.vrt '
                'tiles/*.tif) and give the .vrt.')
        if not scale > 0:
            raise ValueError(f'scale={scale}: give a factor > 0.')
        self.src, self.scale = src, float(scale)
        for k in ('path', 'remote', 'count', 'crs', 'dtype', 'nodata',
                  'colorinterp', 'descriptions', 'tags', 'georeferenced',
                  'may_have_nodata', 'colormap', 'read_overview', 'close'):
            setattr(self, k, getattr(src, k))
        self.height = max(1, round(src.height * scale))
        self.width = max(1, round(src.width * scale))
        self.transform = src.transform * Affine.scale(
            src.width / self.width, src.height / self.height)

    def read(self, bands, window):
        from rasterio.enums import Resampling
        from rasterio.windows import Window
        y0, y1, x0, x1 = window
        fy, fx = self.src.height / self.height, self.src.width / self.width
        win = Window(x0 * fx, y0 * fy, (x1 - x0) * fx, (y1 - y0) * fy)
        shape = (len(bands), y1 - y0, x1 - x0)
        ds = self.src._ds
        arr = ds.read(list(bands), window=win, out_shape=shape,
                      resampling=Resampling.average if self.scale < 1 else
                      Resampling.bilinear)
        masks = ds.read_masks(list(bands), window=win, out_shape=shape,
                              resampling=Resampling.nearest)
        return arr, self.src._valid(arr, masks)


def open_source(src, scale: float = 1.0):
    """A :class:`RasterSource` for a file, a :class:`MosaicSource` for a
    folder or a list of files; a :class:`ScaledSource` for ``scale != 1``."""
    s = _open_source(src)
    if scale != 1:
        try:
            return ScaledSource(s, scale)
        except ValueError:
            s.close()
            raise
    return s


def _open_source(src):
    """A :class:`RasterSource` for a file, a :class:`MosaicSource` for a
    folder or a list of files."""
    if isinstance(src, (list, tuple)):
        return MosaicSource(list(src))
    if isinstance(src, str) and not is_remote(src) and osp.isdir(src):
        return MosaicSource(src)
    return RasterSource(src)
