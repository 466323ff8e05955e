"""Band selection and the documented stretch of any raster to 8-bit RGB.

CLIP-type models see 8-bit RGB. For a source of another type (12/16-bit,
float reflectance) every selected band ``b`` is mapped linearly:

    out_b = round(255 * clip((v - lo_b) / (hi_b - lo_b), 0, 1))

with ``(lo_b, hi_b)``:

* ``'percentile'`` (default for non-uint8 sources): the 2nd and 98th
  percentiles of the band's VALID pixels (nodata excluded), computed once from
  a decimated read of the whole raster (long side <= 2048 px), so every window
  gets the same mapping (no seams);
* ``'minmax'``: the band's valid minimum and maximum (same decimated read);
* ``'none'``: ``(0, 255)`` (values are clipped; the default for uint8);
* explicit ranges: one ``(lo, hi)`` per selected band, or one for all.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

StretchSpec = Union[str, Sequence[float], Sequence[Sequence[float]]]


def select_bands(count: int, colorinterp: Sequence[str],
                 bands: Optional[Sequence[int]] = None) -> List[int]:
    """1-based band indices to read as R, G, B.

    Default: the bands whose colour interpretation is red, green, blue when
    all three exist, else bands 1, 2, 3; a single band is repeated (grey).

    Args:
        count (int): Bands in the source.
        colorinterp (list[str]): GDAL colour interpretation names.
        bands (list[int], optional): Explicit 1-based indices (1 or 3).
    """
    if bands is None:
        ci = [c.lower() for c in colorinterp]
        if all(c in ci for c in ('red', 'green', 'blue')):
            return [ci.index(c) + 1 for c in ('red', 'green', 'blue')]
        if count >= 3:
            return [1, 2, 3]
        return [1, 1, 1]
    bands = [int(b) for b in bands]
    if len(bands) not in (1, 3):
        raise ValueError(f'bands={bands}: give 3 band indices (R, G, B) or '
                         'one (repeated as grey), 1-based as in GDAL.')
    bad = [b for b in bands if not 1 <= b <= count]
    if bad:
        raise ValueError(f'bands={bands}: {bad} outside 1..{count} (the '
                         f'raster has {count} bands; indices are 1-based).')
    return bands * 3 if len(bands) == 1 else bands


def stretch_ranges(sample: np.ndarray, valid: np.ndarray, dtype: np.dtype,
                   stretch: StretchSpec = 'auto',
                   percentiles: Tuple[float, float] = (2., 98.)
                   ) -> Optional[np.ndarray]:
    """Per-band ``(lo, hi)`` ranges, or None for no stretch (uint8 'auto').

    Args:
        sample (ndarray): ``(B, h, w)`` decimated read of the selected bands.
        valid (ndarray): ``(h, w)`` bool, False at nodata.
        dtype: The source dtype.
        stretch: 'auto', 'percentile', 'minmax', 'none' or explicit ranges.
        percentiles (tuple): For 'percentile'. Defaults to (2, 98).

    Returns:
        ndarray | None: ``(B, 2)`` float64.
    """
    B = sample.shape[0]
    if isinstance(stretch, str):
        mode = stretch
        if mode == 'auto':
            mode = 'none' if np.dtype(dtype) == np.uint8 else 'percentile'
        if mode == 'none':
            return None if np.dtype(dtype) == np.uint8 else np.array(
                [[0., 255.]] * B)
        if mode not in ('percentile', 'minmax'):
            raise ValueError(
                f"stretch={stretch!r}: use 'auto', 'percentile', 'minmax', "
                "'none' or explicit (lo, hi) ranges.")
        vals = sample.reshape(B, -1)[:, valid.reshape(-1)].astype(np.float64)
        if vals.shape[1] == 0:
            raise ValueError('The raster has no valid pixel (all nodata); '
                             'nothing to stretch or segment.')
        if mode == 'percentile':
            lo, hi = percentiles
            if not 0 <= lo < hi <= 100:
                raise ValueError(f'stretch percentiles {percentiles} must '
                                 'satisfy 0 <= low < high <= 100.')
            r = np.percentile(vals, [lo, hi], axis=1).T
        else:
            r = np.stack([vals.min(axis=1), vals.max(axis=1)], axis=1)
    else:
        r = np.asarray(stretch, dtype=np.float64)
        if r.shape == (2, ):
            r = np.tile(r, (B, 1))
        if r.shape != (B, 2):
            raise ValueError(
                f'stretch ranges {stretch!r}: give one (lo, hi) for all bands '
                f'or one per selected band ({B}).')
    flat = r[:, 1] <= r[:, 0]
    r[flat, 1] = r[flat, 0] + 1  # constant band: avoid dividing by zero
    return r


def to_uint8(arr: np.ndarray, ranges: Optional[np.ndarray]) -> np.ndarray:
    """Apply the stretch: ``(B, h, w)`` any dtype -> uint8."""
    if ranges is None:
        return arr.astype(np.uint8, copy=False)
    lo = ranges[:, 0].reshape(-1, 1, 1)
    hi = ranges[:, 1].reshape(-1, 1, 1)
    out = (arr.astype(np.float32) - lo) / (hi - lo)
    return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)
