"""The documented stretch of any raster's selected bands to 8-bit.

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
from typing import Optional, Sequence, Tuple, Union

import numpy as np

StretchSpec = Union[str, Sequence[float], Sequence[Sequence[float]]]


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
    if not np.isfinite(r).all():
        raise ValueError(
            f'stretch ranges {r.tolist()} are not finite (infinite values in '
            'the raster?); give explicit ranges (--stretch none, or '
            'stretch=[(lo, hi), ...]).')
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
    if np.issubdtype(arr.dtype, np.floating):
        out[~np.isfinite(out)] = 0  # NaN / inf: nodata (filled later)
    return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)
