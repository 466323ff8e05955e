"""One raster segmented window by window: the part of the raster path that
every process runs on its own share of windows.

Flow of one window (memory: one window, independent of the raster)::

    crops of the grid covering the window (window_grid.py)
      -> read their union through GDAL (bands of the RGB plan)
      -> 8-bit RGB (semantics.py / stretch.py; nodata pixels get one fill
         colour, the same for the whole raster)
      -> per crop: the model's values (slide_model.py; a column of crops
         shared with the next window of the same row is reused, batched the
         same way, so the values never depend on who computed them)
      -> per pixel: the mean over its crops -> class probabilities
      -> labels (prob_thd -> bg_idx), winning-probability score (uint8)
      -> a part file ``<parts>/<window>.npz`` (written atomically)

A window whose part exists is finished: a resumed run skips it. The parts
are assembled into the outputs by :mod:`.assemble`.
"""
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, Iterable, Optional, Sequence

import numpy as np
import torch

from ovseg_plugins.utils.io import atomic_write
from .window_grid import WindowGrid

JOB_FILE = 'job.json'


class Progress:
    """tqdm bar in windows/s with ETA (a plain line per 10 % without
    tqdm)."""

    def __init__(self, total: int, enabled: bool, desc: str):
        self.bar, self.total, self.done = None, max(1, total), 0
        self.enabled, self.t0 = enabled and total > 0, time.perf_counter()
        if self.enabled:
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


def part_path(parts_dir: str, w: int) -> str:
    return osp.join(parts_dir, f'w{w:07d}.npz')


def save_part(path: str, labels: np.ndarray, scores: np.ndarray) -> None:
    """One finished window (atomic: a part either exists whole or not)."""
    atomic_write(path, lambda tmp: np.savez(tmp, labels=labels,
                                            scores=scores), suffix='.npz')


def load_part(path: str):
    with np.load(path, allow_pickle=False) as z:
        return z['labels'], z['scores']


class WindowJob:
    """The windows of one raster.

    Args:
        model: A slide model (:mod:`.slide_model`).
        src: An open raster source (:mod:`.raster_source`).
        plan: The RGB plan (:mod:`.semantics`).
        ranges (ndarray, optional): Stretch ranges ``(B, 2)``.
        fill (list[int]): RGB fill colour of nodata pixels.
        tile_size (int): Pixels read per window (target).
        prob_thd, bg_idx: Background rule.
        nodata_value (int): Output nodata label.
        parts_dir (str): Where finished windows are stored.
        identity (dict): What the parts depend on (checked on resume).
    """

    def __init__(self, model, src, plan, ranges, fill: Sequence[int],
                 tile_size: int, prob_thd: float, bg_idx: int,
                 nodata_value: int, parts_dir: str, identity: dict):
        self.model, self.src, self.plan = model, src, plan
        self.ranges = None if ranges is None else np.asarray(ranges)
        self.fill = np.asarray(fill, np.uint8)
        self.grid = WindowGrid(src.height, src.width, model.crop,
                               model.stride, tile_size)
        self.prob_thd, self.bg_idx = prob_thd, bg_idx
        self.nodata_value = nodata_value
        self.label_dtype = np.uint8 if nodata_value <= 255 else np.uint16
        self.parts_dir, self.identity = parts_dir, identity
        self.cache_columns = not getattr(src, 'resampled', False)

    # ------------------------------------------------------------ parts
    def start_parts(self, resume: bool) -> None:
        """Create the parts folder (or, resuming, check it belongs to this
        job). Call on one rank before the others compute."""
        job_file = osp.join(self.parts_dir, JOB_FILE)
        if resume and osp.isfile(job_file):
            with open(job_file) as f:
                old = json.load(f)
            if old != json.loads(json.dumps(self.identity, default=str)):
                raise ValueError(
                    f'{self.parts_dir}: the finished windows were computed '
                    'by another command (model, classes, input or window '
                    'settings differ); run without --resume (or with '
                    '--overwrite) to start again.')
            return
        if osp.isdir(self.parts_dir):
            for f in os.listdir(self.parts_dir):
                os.remove(osp.join(self.parts_dir, f))
        os.makedirs(self.parts_dir, exist_ok=True)

        def write(tmp):
            with open(tmp, 'w') as f:
                json.dump(self.identity, f, default=str, sort_keys=True)

        atomic_write(job_file, write, suffix='.json')

    def remove_parts(self) -> None:
        """Delete the parts (after assembly); an emptied parent goes too."""
        import shutil
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        parent = osp.dirname(self.parts_dir)
        if osp.basename(parent) == '.ovseg_parts' and osp.isdir(parent) \
                and not os.listdir(parent):
            os.rmdir(parent)

    def done_windows(self):
        return {w for w in range(len(self.grid))
                if osp.isfile(part_path(self.parts_dir, w))}

    # ------------------------------------------------------------ compute
    def run(self, windows: Iterable[int], progress: Optional[Progress] = None
            ) -> Dict[str, float]:
        """Compute (and store) the given windows that have no part yet."""
        cache: Dict[tuple, torch.Tensor] = {}
        stats = dict(computed=0, skipped_done=0, nodata=0, seconds=0.)
        t0 = time.perf_counter()
        prev = None
        for w in windows:
            path = part_path(self.parts_dir, w)
            if osp.isfile(path):
                stats['skipped_done'] += 1
            else:
                if prev is None or prev + 1 != w:
                    cache = {}  # the cache serves the next window of a row
                labels, scores, cache = self._window(w, cache)
                if labels is None:
                    stats['nodata'] += 1
                    labels = np.full(self._shape(w), self.nodata_value,
                                     self.label_dtype)
                    scores = np.zeros(self._shape(w), np.uint8)
                save_part(path, labels, scores)
                stats['computed'] += 1
            prev = w
            if progress is not None:
                progress.update()
        stats['seconds'] = time.perf_counter() - t0
        return stats

    def _shape(self, w):
        y0, y1, x0, x1 = self.grid.region(w)
        return y1 - y0, x1 - x0

    def _window(self, w: int, cache: dict):
        probs, vreg, kept = self.window_probs(w, cache)
        if probs is None:
            return None, None, {}
        best = probs.max(axis=0)
        labels = probs.argmax(axis=0)
        if self.prob_thd > 0:
            labels[best < self.prob_thd] = self.bg_idx
        labels = labels.astype(self.label_dtype)
        scores = np.clip(np.rint(best * 255), 1, 255).astype(np.uint8)
        labels[~vreg] = self.nodata_value
        scores[~vreg] = 0
        return labels, scores, kept

    def window_probs(self, w: int, cache: Optional[dict] = None):
        """Class probabilities ``(C, h, w)`` of window ``w``'s pixels, its
        valid mask, and the crop columns the next window of the row can
        reuse (``(None, None, {})`` for a window without valid pixels)."""
        cache = {} if cache is None else cache
        g, m = self.grid, self.model
        y0, y1, x0, x1 = g.region(w)
        ys, xs = g.crops(w)
        cy0, cy1, cx0, cx1 = g.context(w)
        arr, valid = self.src.read(self.plan.bands, (cy0, cy1, cx0, cx1))
        vreg = valid[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
        if not vreg.any():
            return None, None, {}
        rgb = self.plan.to_uint8(arr, self.ranges)
        if not valid.all():
            rgb[:, ~valid] = self.fill[:, None]
        rgb = rgb.transpose(1, 2, 0)
        ch, cw = min(m.crop[0], g.height), min(m.crop[1], g.width)
        acc = cnt = None
        kept = {}
        B = m.crop_batch_size
        for xc in xs:
            key = (tuple(ys), xc)
            col = cache.get(key)
            if col is None:
                crops = np.stack([rgb[yc - cy0:yc - cy0 + ch,
                                      xc - cx0:xc - cx0 + cw] for yc in ys])
                col = torch.cat([m.crop_values(crops[k:k + B])
                                 for k in range(0, len(crops), B)]).cpu()
            if self.cache_columns and xc + cw > x1:
                kept[key] = col  # also covers the next window of the row
            if acc is None:
                acc = torch.zeros((col.shape[1], y1 - y0, x1 - x0))
                cnt = torch.zeros((y1 - y0, x1 - x0))
            b0, b1 = max(xc, x0), min(xc + cw, x1)
            for yc, v in zip(ys, col):
                a0, a1 = max(yc, y0), min(yc + ch, y1)
                acc[:, a0 - y0:a1 - y0, b0 - x0:b1 - x0] += \
                    v[:, a0 - yc:a1 - yc, b0 - xc:b1 - xc]
                cnt[a0 - y0:a1 - y0, b0 - x0:b1 - x0] += 1
        return m.to_probs(acc / cnt), vreg, kept
