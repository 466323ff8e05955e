"""Segment a raster of any size window by window into a label GeoTIFF.

Flow (memory independent of the raster's area)::

    source (file | tile folder) --read one block (tile_size², + overlap)-->
    bands -> stretch to uint8 RGB (one global mapping) -> predict_fn ->
    class probabilities (C, h, w) -> weighted by a ramp over the overlaps ->
    accumulated per "cell" (the rectangles cut by all block edges) ->
    a cell whose every covering block is done is final: argmax of the
    blended probabilities (prob_thd -> bg_idx), nodata where the source is
    nodata -> written to its window of the output GeoTIFF -> freed.

Blocks are scanned along the raster's longer side, so the cells alive at once
are one overlap strip across the shorter side: memory is the model + one
block + ``overlap x min(H, W) x (C + 1) x 4`` bytes (+ GDAL's block cache,
capped by ``gdal_cache_mb``).
"""
import math
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ovseg_plugins.utils.io import atomic_write
from .raster_source import open_source
from .semantics import plan_rgb
from .stretch import stretch_ranges
from .vectorize import write_polygons

PredictFn = Callable[[np.ndarray], np.ndarray]


def block_starts(length: int, tile: int, overlap: int) -> List[Tuple[int,
                                                                    int]]:
    """Evenly spaced ``(start, end)`` blocks covering ``[0, length)``.

    ``n = ceil((length - overlap) / (tile - overlap))`` blocks of ``tile``
    pixels (one block when ``length <= tile``); neighbours overlap by at
    least ``overlap``.
    """
    if tile <= overlap or overlap < 0:
        raise ValueError(f'tile_size={tile} must exceed overlap={overlap} '
                         '(and overlap must be >= 0).')
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    starts = [round(i * (length - tile) / (n - 1)) for i in range(n)]
    return [(s, s + tile) for s in starts]


def ramp_weights(blocks: Sequence[Tuple[int, int]], k: int) -> np.ndarray:
    """1-D blending weights of block ``k``: rising over the overlap with the
    previous block, falling over the overlap with the next, 1 elsewhere
    (also at the raster's edges); strictly positive."""
    s, e = blocks[k]
    w = np.ones(e - s, np.float32)
    t = np.arange(e - s, dtype=np.float32) + 0.5
    if k > 0:
        L = blocks[k - 1][1] - s
        if L > 0:
            w = np.minimum(w, t / L)
    if k + 1 < len(blocks):
        L = e - blocks[k + 1][0]
        if L > 0:
            w = np.minimum(w, (e - s - t) / L)
    return w


def _cells(blocks):
    """Sorted cut points and, per block, its cell index range."""
    cuts = sorted({v for b in blocks for v in b})
    idx = {v: i for i, v in enumerate(cuts)}
    return cuts, [(idx[s], idx[e]) for s, e in blocks]


class _Progress:
    """tqdm bar in windows/s with ETA (a plain line per 10 % without
    tqdm)."""

    def __init__(self, total: int, enabled: bool, desc: str):
        self.bar, self.total, self.done = None, total, 0
        self.enabled, self.t0 = enabled, time.perf_counter()
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, unit='window', desc=desc,
                                file=sys.stderr, dynamic_ncols=True)
            except ImportError:
                self.bar = None

    def update(self):
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.enabled and (self.done * 10 // self.total >
                               (self.done - 1) * 10 // self.total):
            dt = time.perf_counter() - self.t0
            rate = self.done / max(dt, 1e-9)
            eta = (self.total - self.done) / max(rate, 1e-9)
            print(f'{self.done}/{self.total} windows, {rate:.2f} windows/s, '
                  f'ETA {eta:.0f}s', file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def segment_raster(predict_fn: PredictFn,
                   src,
                   out_path: str,
                   num_classes: int,
                   class_names: Optional[Sequence[str]] = None,
                   palette: Optional[Sequence[Sequence[int]]] = None,
                   bands: Optional[Sequence[int]] = None,
                   stretch='auto',
                   stretch_percentiles: Tuple[float, float] = (2., 98.),
                   tile_size: int = 1024,
                   overlap: int = 128,
                   prob_thd: float = 0.,
                   bg_idx: int = 0,
                   nodata_value: Optional[int] = None,
                   quicklook: Optional[str] = None,
                   quicklook_size: int = 2048,
                   polygons: Optional[str] = None,
                   polygon_window: int = 4096,
                   gdal_cache_mb: int = 64,
                   compress: str = 'deflate',
                   progress: bool = True,
                   tags: Optional[Dict[str, str]] = None,
                   stamp: Optional[str] = None) -> Dict:
    """Segment ``src`` into a single-band label GeoTIFF at ``out_path``.

    Args:
        predict_fn (callable): ``(h, w, 3)`` uint8 RGB -> ``(C, h, w)``
            class probabilities (numpy or torch).
        src (str | list[str]): A raster file, or a folder / list of tiles on
            one pixel grid (mosaicked into one output).
        out_path (str): The label GeoTIFF (uint8; uint16 beyond 254 classes),
            with the source's CRS and transform, the palette as its colour
            table and the class names in its tags.
        num_classes (int): C.
        class_names (list[str], optional): Stored in the tags / polygons.
        palette (list, optional): One RGB triple per class.
        bands (list[int], optional): 1-based bands read as R, G, B.
        stretch: See :mod:`.stretch`. Defaults to 'auto'.
        stretch_percentiles (tuple): For the percentile stretch.
        tile_size (int): Block side fed to ``predict_fn``. Defaults to 1024.
        overlap (int): Minimum overlap of neighbouring blocks, blended.
            Defaults to 128.
        prob_thd (float): Blended winning probability below this ->
            ``bg_idx``.
        bg_idx (int): Background class.
        nodata_value (int, optional): Output nodata; defaults to 255 (65535
            for uint16 output). Written where the source is nodata/masked.
        quicklook (str, optional): Colour PNG (long side <= quicklook_size,
            nodata transparent).
        polygons (str, optional): ``.geojson`` or ``.gpkg`` class polygons.
        polygon_window (int): Polygons are traced per window of this size
            (cut at its grid on larger rasters).
        gdal_cache_mb (int): GDAL block-cache cap (MB) for the whole run.
        compress (str): GeoTIFF compression. Defaults to 'deflate'.
        progress (bool): Progress bar (windows/s, ETA) on stderr.
        tags (dict, optional): Extra GeoTIFF metadata tags (e.g. that the
            model ran with random weights).
        stamp (str, optional): Text written on the quick-look (red band,
            bottom left).

    Returns:
        dict: paths, size, windows, seconds, windows_per_s, class pixel
        fractions.
    """
    import rasterio
    # The cap must hold from the first GDAL read on: the statistics pass
    # reads every block of a raster without overviews, and GDAL's default
    # cache (5 % of RAM) would keep them (peak RSS growing with the raster).
    with rasterio.Env(GDAL_CACHEMAX=int(gdal_cache_mb)):
        return _segment_raster(predict_fn, src, out_path, num_classes,
                               class_names, palette, bands, stretch,
                               stretch_percentiles, tile_size, overlap,
                               prob_thd, bg_idx, nodata_value, quicklook,
                               quicklook_size, polygons, polygon_window,
                               compress, progress, tags, stamp)


def _segment_raster(predict_fn, src, out_path, num_classes, class_names,
                    palette, bands, stretch, stretch_percentiles, tile_size,
                    overlap, prob_thd, bg_idx, nodata_value, quicklook,
                    quicklook_size, polygons, polygon_window, compress,
                    progress, tags=None, stamp=None):
    import rasterio
    from rasterio.windows import Window
    src_obj = open_source(src) if not hasattr(src, 'read') else src
    try:
        H, W = src_obj.height, src_obj.width
        plan = plan_rgb(src_obj, bands)
        if progress:  # the decision, before any inference
            print(f'[segment_raster] {src_obj.path}: RGB = {plan.describe()}',
                  flush=True)
        band_idx = plan.bands
        ranges = None
        if not plan.is_palette:
            sample, sample_valid = src_obj.read_overview(band_idx, 2048)
            ranges = stretch_ranges(sample, sample_valid, src_obj.dtype,
                                    stretch, stretch_percentiles)
            del sample, sample_valid
        out_dtype = 'uint8' if num_classes <= 254 else 'uint16'
        if nodata_value is None:
            nodata_value = 255 if out_dtype == 'uint8' else 65535
        if 0 <= nodata_value < num_classes:
            raise ValueError(f'nodata_value={nodata_value} is a class index '
                             f'(0..{num_classes - 1}); pick another.')
        C = num_classes
        ys = block_starts(H, tile_size, overlap)
        xs = block_starts(W, tile_size, overlap)
        ycuts, yblk = _cells(ys)
        xcuts, xblk = _cells(xs)
        wy = [ramp_weights(ys, i) for i in range(len(ys))]
        wx = [ramp_weights(xs, j) for j in range(len(xs))]
        # coverage count of every cell
        cy = np.zeros(len(ycuts) - 1, int)
        cx = np.zeros(len(xcuts) - 1, int)
        for a, b in yblk:
            cy[a:b] += 1
        for a, b in xblk:
            cx[a:b] += 1
        order = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
        if W < H:  # scan along the longer side: the live strip spans W
            order = [(i, j) for j in range(len(xs)) for i in range(len(ys))]
        profile = dict(driver='GTiff', width=W, height=H, count=1,
                       dtype=out_dtype, crs=src_obj.crs,
                       transform=src_obj.transform, nodata=nodata_value,
                       tiled=True, blockxsize=256, blockysize=256,
                       compress=compress, BIGTIFF='IF_SAFER')
        if src_obj.crs is None:
            profile.pop('crs')
        counts = np.zeros(C + 1, np.int64)  # last: nodata
        cells: Dict[Tuple[int, int], list] = {}
        stats = dict(windows=len(order), skipped_nodata_windows=0)
        t0 = time.perf_counter()

        def write(tmp):
            with rasterio.open(tmp, 'w', **profile) as dst:
                if out_dtype == 'uint8' and palette is not None:
                    cmap = {i: tuple(int(v) for v in c) + (255, )
                            for i, c in enumerate(palette)}
                    dst.write_colormap(1, cmap)
                dst.update_tags(
                    classes=','.join(class_names or []),
                    num_classes=str(C), ovseg_nodata=str(nodata_value),
                    **{k: str(v) for k, v in (tags or {}).items()})
                if class_names:
                    dst.set_band_description(1, 'class index: ' + '; '.join(
                        f'{i}={n}' for i, n in enumerate(class_names)))
                bar = _Progress(len(order), progress, 'segment_raster')
                for i, j in order:
                    y0, y1 = ys[i]
                    x0, x1 = xs[j]
                    arr, valid = src_obj.read(band_idx, (y0, y1, x0, x1))
                    probs = None
                    if valid.any():
                        rgb = plan.to_uint8(arr, ranges)
                        if not valid.all():  # fill nodata with the mean
                            mean = rgb[:, valid].mean(axis=1).round()
                            rgb[:, ~valid] = mean.astype(np.uint8)[:, None]
                        probs = predict_fn(
                            np.ascontiguousarray(rgb.transpose(1, 2, 0)))
                        if hasattr(probs, 'detach'):
                            probs = probs.detach().float().cpu().numpy()
                        probs = np.asarray(probs, np.float32)
                        if probs.shape != (C, y1 - y0, x1 - x0):
                            raise RuntimeError(
                                f'predict_fn returned {probs.shape}, expected '
                                f'{(C, y1 - y0, x1 - x0)}.')
                        w2 = wy[i][:, None] * wx[j][None, :]
                    else:
                        stats['skipped_nodata_windows'] += 1
                    for a in range(*yblk[i]):
                        for b in range(*xblk[j]):
                            cy0, cy1 = ycuts[a], ycuts[a + 1]
                            cx0, cx1 = xcuts[b], xcuts[b + 1]
                            cell = cells.get((a, b))
                            if cell is None:
                                h, w = cy1 - cy0, cx1 - cx0
                                cell = cells[(a, b)] = [
                                    np.zeros((C, h, w), np.float32),
                                    np.zeros((h, w), np.float32),
                                    valid[cy0 - y0:cy1 - y0,
                                          cx0 - x0:cx1 - x0].copy(),
                                    int(cy[a] * cx[b])
                                ]
                            if probs is not None:
                                sl = (slice(cy0 - y0, cy1 - y0),
                                      slice(cx0 - x0, cx1 - x0))
                                ww = w2[sl]
                                cell[0] += probs[(slice(None), ) + sl] * ww
                                cell[1] += ww
                            cell[3] -= 1
                            if cell[3] == 0:
                                labels = _finalise(cell, prob_thd, bg_idx,
                                                   nodata_value, out_dtype)
                                counts[:C] += np.bincount(
                                    labels[cell[2]].ravel(),
                                    minlength=C)[:C]
                                counts[C] += int((~cell[2]).sum())
                                dst.write(labels[None], window=Window(
                                    cx0, cy0, cx1 - cx0, cy1 - cy0))
                                del cells[(a, b)]
                    bar.update()
                bar.close()
                assert not cells, 'internal: unfinished cells'

        atomic_write(out_path, write, suffix='.tif')
        seconds = time.perf_counter() - t0
        result = dict(
            labels=out_path, height=H, width=W, bands=band_idx,
            rgb=plan.to_dict(),
            stretch=None if ranges is None else ranges.tolist(),
            windows=stats['windows'],
            skipped_nodata_windows=stats['skipped_nodata_windows'],
            seconds=seconds, windows_per_s=stats['windows'] / max(seconds,
                                                                  1e-9),
            class_fraction={
                (class_names[k] if class_names else str(k)):
                float(counts[k] / max(1, counts[:C].sum()))
                for k in range(C)
            },
            nodata_fraction=float(counts[C] / max(1, counts.sum())))
        if quicklook:
            write_quicklook(out_path, quicklook, palette or [], nodata_value,
                            quicklook_size, stamp)
            result['quicklook'] = quicklook
        if polygons:
            result['polygons'] = polygons
            result['num_polygons'] = write_polygons(
                out_path, polygons, class_names, polygon_window)
        return result
    finally:
        if src_obj is not src:
            src_obj.close()


def _finalise(cell, prob_thd, bg_idx, nodata_value, out_dtype):
    num, den, valid = cell[0], cell[1], cell[2]
    probs = num / np.maximum(den, 1e-12)[None]
    labels = probs.argmax(axis=0)
    if prob_thd > 0:
        labels[probs.max(axis=0) < prob_thd] = bg_idx
    labels = labels.astype(out_dtype)
    labels[~valid] = nodata_value
    return labels


def colorize(labels: np.ndarray, palette: Sequence[Sequence[int]],
             nodata_value: Optional[int] = None) -> np.ndarray:
    """``(h, w)`` labels -> ``(h, w, 4)`` RGBA (nodata transparent)."""
    lut = np.zeros((max(int(labels.max()) + 1, len(palette), 1), 4), np.uint8)
    for i, c in enumerate(palette):
        lut[i, :3] = c
        lut[i, 3] = 255
    if nodata_value is not None and nodata_value < len(lut):
        lut[nodata_value] = 0
    return lut[labels]


def write_quicklook(label_path: str, png_path: str,
                    palette: Sequence[Sequence[int]], nodata_value: int,
                    max_side: int = 2048, stamp: Optional[str] = None) -> None:
    """Colour PNG of a label raster, decimated to ``max_side`` (nearest);
    ``stamp`` in white on a red band at the bottom left."""
    import rasterio
    from rasterio.enums import Resampling
    from PIL import Image

    from ovseg_plugins.utils.picture_stamp import draw_stamp
    with rasterio.open(label_path) as ds:
        s = min(1.0, max_side / max(ds.width, ds.height))
        shape = (max(1, round(ds.height * s)), max(1, round(ds.width * s)))
        labels = ds.read(1, out_shape=shape, resampling=Resampling.nearest)
    img = Image.fromarray(colorize(labels, palette, nodata_value), 'RGBA')
    if stamp:
        draw_stamp(img, stamp)
    atomic_write(png_path, lambda p: img.save(p, format='PNG'),
                 suffix='.png')


__all__ = ['segment_raster', 'block_starts', 'ramp_weights', 'colorize',
           'write_quicklook']
