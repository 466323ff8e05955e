"""LAS / LAZ in and out through ``laspy`` (LAZ through its ``lazrs``
backend).

Reading keeps the file's float64 coordinates (integer records times the
header's scale plus its offset) until the local origin is subtracted;
colours are 16-bit by the ASPRS specification (values above 255 are divided
by 257), but some writers store 8-bit values in the 16-bit fields (all
values <= 255: taken as they are, with a notice). Point formats without
colour (0, 1, 4, 6, 9) are read with grey levels from ``intensity``
(1st-99th percentile stretched) when it varies, else mid-grey, with a
notice. ``intensity`` and ``classification`` are kept in
``PointCloud.attributes``.

Writing (:func:`write_las_labels`) copies the input file record by record
(every dimension, the header's scale / offset, its VLRs and EVLRs, i.e. the
CRS, unchanged: coordinates are the input's integers, exact) and adds two
extra dimensions: ``pred_class`` (uint16, index into the class list) and
``pred_score`` (float32). The predicted class is NOT written into
``classification``: that field holds ASPRS codes (2 ground, 6 building, ...;
point formats 0-5 only 0-31) which GIS tools interpret, our class indices
are positions in a free-text vocabulary, and the survey's own
classification is kept for comparison. The class names travel in a VLR
(user id ``ovseg_plugins``, record 1, JSON list) and in the labels files.
The input is streamed in chunks (``chunk`` points), so the output never
needs the whole cloud in memory.
"""
import copy
import json
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from ovseg_plugins.utils.io import atomic_write
from .cloud import PointCloud, finish_cloud

__all__ = ['read_las', 'write_las_labels', 'CLASS_DIM', 'SCORE_DIM',
           'CLASS_VLR']

CLASS_DIM = 'pred_class'
SCORE_DIM = 'pred_score'
#: (user id, record id) of the VLR holding the JSON list of class names
CLASS_VLR = ('ovseg_plugins', 1)
_FIX = 'pip install "laspy[lazrs]" (requirements/runtime.txt)'


def _laspy():
    try:
        import laspy
    except ImportError as e:  # pragma: no cover - a runtime requirement
        raise ImportError(f'LAS/LAZ files need laspy: {_FIX}.') from e
    return laspy


def _open_error(path: str, e: Exception) -> ValueError:
    msg = str(e)
    if 'LazBackend' in msg or 'lazrs' in msg or 'laszip' in msg:
        return ValueError(f'{path}: cannot decompress LAZ ({msg}); install '
                          f'a LAZ backend: {_FIX}.')
    return ValueError(f'could not read LAS/LAZ file {path!r} '
                      f'({type(e).__name__}: {msg}); is it a complete '
                      'LAS 1.0-1.4 / LAZ file? Re-export it (e.g. PDAL '
                      'translate, LAStools las2las).')


def crs_description(header) -> Optional[str]:
    """The CRS the header's VLRs declare: the OGC WKT text, ``'GeoTIFF
    keys'`` or None."""
    for v in list(header.vlrs) + list(getattr(header, 'evlrs', None) or []):
        if v.user_id == 'LASF_Projection' and v.record_id == 2112:
            s = getattr(v, 'string', None)
            if s is None:
                s = bytes(v.record_data_bytes()).decode('utf-8', 'replace')
            return s.rstrip('\x00')
    for v in header.vlrs:
        if v.user_id == 'LASF_Projection' and v.record_id == 34735:
            return 'GeoTIFF keys'
    return None


def _grey_from_intensity(intensity: np.ndarray, path: str) -> np.ndarray:
    lo, hi = np.percentile(intensity, [1, 99]) if len(intensity) else (0, 0)
    if hi <= lo:
        print_log(f'{path}: no colours and no varying intensity: mid-grey '
                  'points (views rendered from them carry no appearance)',
                  logger='current', level=30)
        return np.full((len(intensity), 3), 128., np.float32)
    g = np.clip((intensity.astype(np.float32) - lo) / (hi - lo), 0, 1) * 255
    print_log(f'{path}: no colours in this point format: grey levels from '
              f'intensity ({lo:g}..{hi:g} stretched to 0..255)',
              logger='current', level=30)
    return np.repeat(g[:, None], 3, 1)


def read_las(path: str) -> PointCloud:
    """A ``.las`` / ``.laz`` file in record order (see the module doc)."""
    laspy = _laspy()
    try:
        with laspy.open(path) as f:
            las = f.read()
    except Exception as e:  # noqa: BLE001 - laspy / backend errors
        raise _open_error(path, e) from e
    hdr = las.header
    names = set(las.point_format.dimension_names)
    scales = np.asarray(hdr.scales, np.float64)
    offsets = np.asarray(hdr.offsets, np.float64)
    xyz = np.stack([np.asarray(las.X, np.float64) * scales[0] + offsets[0],
                    np.asarray(las.Y, np.float64) * scales[1] + offsets[1],
                    np.asarray(las.Z, np.float64) * scales[2] + offsets[2]],
                   1)
    attributes = {}
    for k in ('intensity', 'classification'):
        if k in names:
            attributes[k] = np.asarray(las[k]).copy()
    rgb, has_color = None, False
    if {'red', 'green', 'blue'} <= names:
        c = np.stack([np.asarray(las[k]) for k in ('red', 'green', 'blue')],
                     1)
        hi = int(c.max()) if c.size else 0
        if hi > 255:
            rgb, has_color = c.astype(np.float32) / 257., True
        elif hi > 0:
            print_log(f'{path}: colours are all <= 255: taken as 8-bit '
                      'values stored in the 16-bit LAS fields',
                      logger='current')
            rgb, has_color = c.astype(np.float32), True
        else:
            print_log(f'{path}: point format {hdr.point_format.id} has '
                      'colour fields but every colour is 0 (not written)',
                      logger='current', level=30)
    if rgb is None:
        rgb = _grey_from_intensity(attributes.get(
            'intensity', np.zeros(len(xyz), np.uint16)), path)
    source = dict(format='las', path=path,
                  compressed=path.lower().endswith('.laz'),
                  point_format=int(hdr.point_format.id),
                  version=str(hdr.version), scales=scales.tolist(),
                  offsets=offsets.tolist(), crs=crs_description(hdr),
                  colour='rgb' if has_color else 'intensity')
    cloud = finish_cloud(xyz, rgb, path, attributes=attributes,
                         source=source)
    cloud.has_color = has_color
    return cloud


def _class_vlr(laspy, classes: Sequence[str]):
    return laspy.VLR(user_id=CLASS_VLR[0], record_id=CLASS_VLR[1],
                     description=f'{CLASS_DIM} names (JSON)',
                     record_data=json.dumps(list(classes)).encode())


def write_las_labels(dst: str, src: str, labels: np.ndarray,
                     scores: np.ndarray, classes: Sequence[str],
                     chunk: int = 1_000_000) -> None:
    """Write ``src`` again to ``dst`` with ``pred_class`` / ``pred_score``
    extra dimensions (see the module doc), atomically.

    Args:
        dst (str): ``.las`` or ``.laz`` (compressed by the extension).
        src (str): The LAS / LAZ file the labels belong to.
        labels (ndarray): ``(N,)`` class indices (may be a memory map).
        scores (ndarray): ``(N,)`` scores.
        classes (list[str]): Class names (stored in a VLR).
        chunk (int): Points per read / write step.

    Raises:
        ValueError: ``labels`` / ``scores`` not one per point of ``src``, or
            ``src`` already has ``pred_class`` / ``pred_score`` of another
            type.
    """
    laspy = _laspy()
    try:
        reader = laspy.open(src)
    except Exception as e:  # noqa: BLE001
        raise _open_error(src, e) from e
    with reader:
        n = int(reader.header.point_count)
        if len(labels) != n or len(scores) != n:
            raise ValueError(
                f'{src}: {n} points but {len(labels)} labels / '
                f'{len(scores)} scores: the results belong to another file.')
        header = copy.deepcopy(reader.header)
        have = {d.name: d for d in header.point_format.extra_dimensions}
        new = []
        for name, dt, desc in ((CLASS_DIM, np.uint16, 'class index'),
                               (SCORE_DIM, np.float32, 'class score')):
            if name in have:
                if np.dtype(have[name].dtype) != np.dtype(dt):
                    raise ValueError(
                        f'{src}: has an extra dimension {name!r} of type '
                        f'{have[name].dtype}, not {np.dtype(dt)}: rename it '
                        '(e.g. PDAL filters.ferry) before writing labels.')
                print_log(f'{src}: already has {name!r}: overwritten',
                          logger='current')
            else:
                new.append(laspy.ExtraBytesParams(name, dt,
                                                  description=desc))
        if new:
            header.add_extra_dims(new)
        for v in [v for v in header.vlrs
                  if (v.user_id, v.record_id) == CLASS_VLR]:
            header.vlrs.remove(v)  # an earlier run's class names
        header.vlrs.append(_class_vlr(laspy, classes))
        compress = dst.lower().endswith('.laz')

        def write(tmp):
            done = 0
            with laspy.open(tmp, mode='w', header=header,
                            do_compress=compress) as w:
                for pts in reader.chunk_iterator(chunk):
                    m = len(pts)
                    rec = laspy.ScaleAwarePointRecord.zeros(m, header=header)
                    for name in pts.array.dtype.names:
                        rec.array[name] = pts.array[name]
                    rec[CLASS_DIM] = np.asarray(labels[done:done + m],
                                                np.uint16)
                    rec[SCORE_DIM] = np.asarray(scores[done:done + m],
                                                np.float32)
                    w.write_points(rec)
                    done += m
            if done != n:
                raise ValueError(f'{src}: read {done} of {n} points; the '
                                 'file is truncated or changed while '
                                 'writing.')

        if reader.header.point_count and len(classes) > 65535:
            raise ValueError(f'{len(classes)} classes do not fit the uint16 '
                             f'{CLASS_DIM} dimension.')
        atomic_write(dst, write, suffix=osp.splitext(dst)[1] or '.las')
