"""Segment a raster of any size, window by window, on one or many processes.

Flow (memory independent of the raster's area)::

    source (file | tile folder | URL) -> RGB plan (semantics.py) and one
    8-bit mapping for the whole raster (rank 0, broadcast)
    -> windows on the model's slide grid (window_grid.py), a contiguous
       share per process (torch.distributed through mmengine's dist helpers)
    -> each window: its crops through the model, per-pixel mean, labels and
       scores -> a part file (window_job.py)
    -> one process per raster assembles the parts into a tiled
       Cloud-Optimised GeoTIFF (+ scores, quick-look, polygons)

A pixel's value comes only from the crops that the model's whole-image slide
inference uses there, so it does not depend on the window size, the number
of processes or which process computed it: no seams, byte-identical labels
from 1, 2 or 4 processes. Finished windows survive a killed run (``resume``).
"""
import contextlib
import os
import os.path as osp
import time
from typing import Dict, Optional, Sequence

import numpy as np

from ovseg_plugins.utils.io import atomic_write
from ...utils import dist
from .assemble import assemble
from .raster_source import open_source
from .run_folder import PARTS, file_identity
from .semantics import plan_rgb
from .slide_model import as_slide_model
from .stretch import stretch_ranges
from .vectorize import write_polygons
from .window_grid import WindowGrid
from .window_job import Progress, WindowJob

# GDAL settings for remote rasters (only where the user set nothing)
REMOTE_GDAL = dict(GDAL_DISABLE_READDIR_ON_OPEN='EMPTY_DIR',
                   GDAL_HTTP_MERGE_CONSECUTIVE_RANGES='YES',
                   VSI_CACHE='TRUE', GDAL_HTTP_MAX_RETRY='2',
                   GDAL_HTTP_RETRY_DELAY='1')


@contextlib.contextmanager
def raster_env(gdal_cache_mb: int = 64):
    """GDAL's block cache capped from the first read on (the statistics pass
    would otherwise keep every block of a raster without overviews) and the
    remote-read settings."""
    import rasterio
    opts = {k: v for k, v in REMOTE_GDAL.items() if k not in os.environ}
    with rasterio.Env(GDAL_CACHEMAX=int(gdal_cache_mb), **opts):
        yield


class RasterRun:
    """One raster on its way through the raster path (all processes build
    the same one, in the same order).

    Args: see :func:`segment_raster`.
    """

    def __init__(self, model, src, out_path: str, class_names, palette,
                 bands, stretch, stretch_percentiles, tile_size, prob_thd,
                 bg_idx, nodata_value, scale, parts_dir, no_georef, tags,
                 identity, group=dist):
        self.model, self.out_path, self.group = model, out_path, group
        self.class_names, self.palette = list(class_names), palette
        self.tags = dict(tags or {})
        self.src = open_source(src, scale)
        try:
            self._prepare(bands, stretch, stretch_percentiles, tile_size,
                          prob_thd, bg_idx, nodata_value, scale, parts_dir,
                          no_georef, identity)
        except BaseException:
            self.src.close()
            raise

    def _prepare(self, bands, stretch, stretch_percentiles, tile_size,
                 prob_thd, bg_idx, nodata_value, scale, parts_dir,
                 no_georef, identity):
        src, C = self.src, len(self.class_names)
        if not src.georeferenced and not no_georef:
            raise ValueError(
                f'{src.path}: no georeference (no CRS, no geotransform, no '
                'GCPs): the label raster would sit at pixel coordinates '
                'with no place on Earth. Segment it as an ordinary image '
                '(without --raster), or give --no-georef (no_georef=True) '
                'to write it anyway.')
        self.plan = plan_rgb(src, bands)
        if nodata_value is None:
            nodata_value = 255 if C <= 254 else 65535
        if 0 <= nodata_value < C:
            raise ValueError(f'nodata_value={nodata_value} is a class index '
                             f'(0..{C - 1}); pick another.')
        self.state = self.group.on_main(self._statistics, stretch,
                                        stretch_percentiles)
        self.parts_dir = parts_dir or osp.join(
            osp.dirname(osp.abspath(self.out_path)), PARTS,
            osp.splitext(osp.basename(self.out_path))[0])
        ident = dict(identity or {}, input=file_identity(src.path),
                     rgb=self.plan.to_dict(), stretch=self.state['ranges'],
                     grid=self.model.describe(), tile_size=tile_size,
                     scale=scale, classes=self.class_names,
                     prob_thd=prob_thd, bg_idx=bg_idx, nodata=nodata_value)
        self.job = WindowJob(self.model, src, self.plan,
                             self.state['ranges'], self.state['fill'],
                             tile_size, prob_thd, bg_idx, nodata_value,
                             self.parts_dir, ident)
        self.tags.setdefault('ovseg_rgb', self.plan.describe())

    def _statistics(self, stretch, percentiles) -> dict:
        """Stretch ranges and the nodata fill colour (one decimated read)."""
        src, plan = self.src, self.plan
        need = src.may_have_nodata or (not plan.is_palette and not (
            np.dtype(src.dtype) == np.uint8 and stretch in ('auto', 'none')))
        ranges, fill = None, [0, 0, 0]
        if not need:
            return dict(ranges=None, fill=fill)
        sample, valid = src.read_overview(plan.bands, 2048)
        if not plan.is_palette:
            ranges = stretch_ranges(sample, valid, src.dtype, stretch,
                                    percentiles)
        if valid.any():
            rgb = plan.to_uint8(sample, ranges)
            fill = [int(v) for v in np.rint(rgb[:, valid].mean(axis=1))]
        return dict(ranges=None if ranges is None else ranges.tolist(),
                    fill=fill)

    def start(self, resume: bool) -> None:
        """Prepare the parts folder (one process, before the windows)."""
        self.job.start_parts(resume)

    def finish(self, scores=None, quicklook=None, quicklook_size=2048,
               polygons=None, polygon_window=4096, stamp=None,
               compress='deflate') -> Dict:
        """Assemble the outputs (one process)."""
        res = assemble(self.job, self.out_path, self.class_names,
                       self.palette, scores, self.tags, compress)
        self.job.remove_parts()
        out = dict(labels=self.out_path, **res)
        if scores:
            out['scores'] = scores
        if quicklook:
            write_quicklook(self.out_path, quicklook, self.palette or [],
                            self.job.nodata_value, quicklook_size, stamp)
            out['quicklook'] = quicklook
        if polygons:
            out['polygons'] = polygons
            out['num_polygons'] = write_polygons(
                self.out_path, polygons, self.class_names, polygon_window,
                scores_path=scores)
        return out

    def summary(self) -> Dict:
        g = self.job.grid
        return dict(height=g.height, width=g.width, bands=self.plan.bands,
                    rgb=self.plan.to_dict(), stretch=self.state['ranges'],
                    windows=len(g), grid=dict(g.describe(),
                                              rule=self.model.grid_rule))

    def close(self) -> None:
        self.src.close()


def segment_raster(model,
                   src,
                   out_path: str,
                   num_classes: Optional[int] = None,
                   class_names: Optional[Sequence[str]] = None,
                   palette: Optional[Sequence[Sequence[int]]] = None,
                   bands: Optional[Sequence[int]] = None,
                   stretch='auto',
                   stretch_percentiles=(2., 98.),
                   tile_size: int = 1024,
                   prob_thd: float = 0.,
                   bg_idx: int = 0,
                   nodata_value: Optional[int] = None,
                   scores: Optional[str] = None,
                   quicklook: Optional[str] = None,
                   quicklook_size: int = 2048,
                   polygons: Optional[str] = None,
                   polygon_window: int = 4096,
                   scale: float = 1.0,
                   resume: bool = False,
                   parts_dir: Optional[str] = None,
                   no_georef: bool = False,
                   gdal_cache_mb: int = 64,
                   compress: str = 'deflate',
                   progress: bool = True,
                   tags: Optional[Dict[str, str]] = None,
                   stamp: Optional[str] = None,
                   identity: Optional[dict] = None,
                   distributed: bool = True) -> Dict:
    """Segment ``src`` into a label Cloud-Optimised GeoTIFF at ``out_path``.

    Every process of a torch.distributed job calls it with the same
    arguments; each computes its share of the windows and one assembles.

    Args:
        model: A segmentor (``OVCLIPSegmentor``, ``SAM3Segmentor``, a stock
            mmseg ``EncoderDecoder``; crops and stride from its
            ``test_cfg``), a :class:`.slide_model.SlideModel`, or a function
            ``(h, w, 3) uint8 RGB -> (C, h, w)`` probabilities applied to
            each window (crop = stride = ``tile_size``).
        src (str | list[str]): A raster file, a URL (``http(s)://``,
            ``s3://``) or GDAL path (``/vsicurl/``, ``/vsis3/``), or a folder
            / list of tiles on one pixel grid (one mosaic).
        out_path (str): The label COG (uint8; uint16 beyond 254 classes)
            with the source's CRS and transform, the palette as its colour
            table and the class names in its tags.
        num_classes (int, optional): C (for a function model).
        class_names (list[str], optional): Default: the model's.
        palette (list, optional): One RGB triple per class.
        bands, stretch, stretch_percentiles: How pixels become RGB (see
            :mod:`.semantics` and :mod:`.stretch`).
        tile_size (int): Pixels read per window (target). Defaults to 1024.
        prob_thd, bg_idx: Winning probability below ``prob_thd`` ->
            ``bg_idx``.
        nodata_value (int, optional): Output nodata; default 255 (65535 for
            uint16 output).
        scores (str, optional): A uint8 COG of the winning probability x 255
            (1..255; 0 = nodata; overviews averaged).
        quicklook (str, optional): Colour PNG (long side <= quicklook_size).
        polygons (str, optional): ``.geojson`` / ``.gpkg`` class polygons
            (with the mean score per polygon when ``scores`` is written).
        scale (float): The model sees the raster at ``scale`` x its
            resolution (GDAL resampling); outputs are at that resolution.
        resume (bool): Keep the finished windows of an interrupted run of
            the same job (``parts_dir``) and compute only the others.
        parts_dir (str, optional): Finished windows. Default:
            ``<out folder>/.ovseg_parts/<out stem>``.
        no_georef (bool): Segment a raster without georeference anyway.
        gdal_cache_mb (int): GDAL block-cache cap (MB).
        progress (bool): Print the RGB decision and a progress bar.
        tags (dict, optional): Extra GeoTIFF tags.
        stamp (str, optional): Text on the quick-look.
        identity (dict, optional): What else the windows depend on (model,
            weights), checked on resume.
        distributed (bool): Share the windows with the other processes of
            the torch.distributed job (if any); False: this process alone.

    Returns:
        dict: paths, size, bands, RGB rule, stretch, grid, windows, seconds,
        windows/s, processes, class and nodata fractions.
    """
    t0 = time.perf_counter()
    if class_names is None:
        if hasattr(model, 'dataset_meta'):
            class_names = model.dataset_meta['classes']
        else:
            class_names = [str(k) for k in range(num_classes)]
    smodel = as_slide_model(model, num_classes or len(class_names),
                            tile_size)
    group = dist if distributed else dist.LOCAL
    rank, world = group.dist_info()
    with raster_env(gdal_cache_mb):
        run = RasterRun(smodel, src, out_path, class_names, palette, bands,
                        stretch, stretch_percentiles, tile_size, prob_thd,
                        bg_idx, nodata_value, scale, parts_dir, no_georef,
                        tags, identity, group)
        try:
            if progress and rank == 0:
                print(f'[segment_raster] {run.src.path}: RGB = '
                      f'{run.plan.describe()}', flush=True)
            group.on_main(run.start, resume)
            mine = WindowGrid.share(len(run.job.grid), rank, world)
            bar = Progress(len(mine), progress, f'segment_raster {rank}')
            t1 = time.perf_counter()
            stats = run.job.run(mine, bar)
            bar.close()
            group.barrier()
            compute_s = time.perf_counter() - t1
            res = group.on_main(run.finish, scores, quicklook,
                                quicklook_size, polygons, polygon_window,
                                stamp, compress)
            all_stats = group.gather(stats)
            res.update(run.summary())
        finally:
            run.close()
    computed = sum(s['computed'] for s in all_stats)
    res.update(computed_windows=computed,
               resumed_windows=sum(s['skipped_done'] for s in all_stats),
               skipped_nodata_windows=sum(s['nodata'] for s in all_stats),
               processes=world, seconds=time.perf_counter() - t0,
               compute_seconds=compute_s,
               windows_per_s=computed / max(compute_s, 1e-9))
    return res


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
    """Colour PNG of a label raster, decimated to ``max_side`` (nearest;
    read from the COG's overviews); ``stamp`` in white on a red band at the
    bottom left."""
    import rasterio
    from PIL import Image
    from rasterio.enums import Resampling

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


__all__ = ['segment_raster', 'RasterRun', 'raster_env', 'colorize',
           'write_quicklook']
