"""Assemble the finished windows of a raster into its outputs (one process,
one window in memory at a time): the label COG (colour table, class names,
nodata), optionally the score COG, the quick-look and the polygons."""
import os
import os.path as osp
import tempfile
from typing import Dict, Optional, Sequence

import numpy as np

from .cog import to_cog
from .window_job import WindowJob, load_part, part_path


def _write_tiled(path: str, profile: dict, job: WindowJob, band: str,
                 counts: Optional[np.ndarray] = None, meta=None) -> None:
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(path, 'w', **profile) as dst:
        if meta is not None:
            meta(dst)
        for w in range(len(job.grid)):
            labels, scores = load_part(part_path(job.parts_dir, w))
            y0, y1, x0, x1 = job.grid.region(w)
            arr = labels if band == 'labels' else scores
            if counts is not None:
                counts += np.bincount(arr.ravel().astype(np.int64),
                                      minlength=len(counts))[:len(counts)]
            dst.write(arr[None], window=Window(x0, y0, x1 - x0, y1 - y0))


def assemble(job: WindowJob, out_path: str, class_names: Sequence[str],
             palette: Optional[Sequence[Sequence[int]]] = None,
             scores_path: Optional[str] = None,
             tags: Optional[Dict[str, str]] = None,
             compress: str = 'deflate') -> Dict:
    """Write the outputs of a job whose windows are all finished.

    Returns:
        dict: class and nodata pixel fractions, output paths.
    """
    missing = [w for w in range(len(job.grid))
               if not osp.isfile(part_path(job.parts_dir, w))]
    if missing:
        raise RuntimeError(
            f'{out_path}: {len(missing)} of {len(job.grid)} windows are not '
            f'finished (e.g. window {missing[0]}); a process died? Run the '
            'same command again with --resume.')
    src, C = job.src, len(class_names)
    nodata = job.nodata_value
    profile = dict(driver='GTiff', width=src.width, height=src.height,
                   count=1, dtype=np.dtype(job.label_dtype).name,
                   crs=src.crs, transform=src.transform, nodata=nodata,
                   tiled=True, blockxsize=256, blockysize=256,
                   compress=compress, BIGTIFF='IF_SAFER')
    if src.crs is None:
        profile.pop('crs')
    counts = np.zeros(max(C, nodata) + 1, np.int64)

    def meta(dst):
        if job.label_dtype == np.uint8 and palette is not None:
            dst.write_colormap(1, {i: tuple(int(v) for v in c) + (255, )
                                   for i, c in enumerate(palette)})
        dst.update_tags(classes=','.join(class_names), num_classes=str(C),
                        ovseg_nodata=str(nodata),
                        **{k: str(v) for k, v in (tags or {}).items()})
        dst.set_band_description(1, 'class index: ' + '; '.join(
            f'{i}={n}' for i, n in enumerate(class_names)))

    d = osp.dirname(osp.abspath(out_path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix='.tif', dir=d)
    os.close(fd)
    try:
        _write_tiled(tmp, profile, job, 'labels', counts, meta)
        to_cog(tmp, out_path, 'nearest', compress)
        if scores_path:
            sp = dict(profile, dtype='uint8', nodata=0)

            def smeta(dst):
                dst.update_tags(ovseg_scores='winning class probability x '
                                '255 (1..255); 0 = nodata')
                dst.set_band_description(1, 'score: winning class '
                                         'probability x 255')

            _write_tiled(tmp, sp, job, 'scores', meta=smeta)
            to_cog(tmp, scores_path, 'average', compress)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    valid = counts[:C].sum()
    return dict(
        class_fraction={class_names[k]: float(counts[k] / max(1, valid))
                        for k in range(C)},
        nodata_fraction=float(counts[nodata] / max(1, counts.sum())))
