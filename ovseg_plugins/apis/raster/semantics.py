"""How a raster's pixels become the model's 8-bit RGB, decided before
inference and never guessed silently.

:func:`plan_rgb` looks at the source in this order and stops at the first
rule that applies:

1. ``bands`` given by the user (``--bands``): those bands as R, G, B (one
   band: grey);
2. a single palette band (indexed colour): its colour table gives the RGB;
3. colour interpretation: the bands marked red, green and blue;
4. band descriptions naming the colours (``red``/``green``/``blue``, or the
   Sentinel-2 / Landsat 8-9 band names ``B4``/``B04``/``SR_B4``...);
5. a sensor named in the file's metadata (PlanetScope: B, G, R, NIR; NAIP:
   R, G, B, NIR);
6. known band counts: 13 (Sentinel-2 L1C) or 12 (Sentinel-2 L2A) bands,
   11 (Landsat 8/9 level-1 B1-B11) or 7 (Landsat 8/9 surface reflectance
   SR_B1-SR_B7): bands 4, 3, 2;
7. one band (alpha bands not counted): grey; three bands: R, G, B in file
   order (the common order of three-band files);
8. anything else (2 bands, 4 bands without colour interpretation or
   names, ...): a ``ValueError`` asking for ``--bands``.

The rule that decided is returned (:class:`RGBPlan`), printed by the tools
and stored in the run summary. Floating-point sources treat NaN (and
infinities) as nodata, whether or not the file declares a nodata value.
"""
import re
from typing import List, Optional, Sequence

import numpy as np

from .stretch import to_uint8

# band counts of known sensor layouts -> (name, [R, G, B] 1-based)
COUNT_LAYOUTS = {
    13: ('Sentinel-2 L1C, 13 bands B1-B12 with B8A', [4, 3, 2]),
    12: ('Sentinel-2 L2A, 12 bands (no B10)', [4, 3, 2]),
    11: ('Landsat 8/9 OLI/TIRS level-1, 11 bands B1-B11', [4, 3, 2]),
    7: ('Landsat 8/9 OLI surface reflectance, 7 bands SR_B1-SR_B7',
        [4, 3, 2]),
}
# a sensor named in the metadata tags -> (name, [R, G, B])
TAG_LAYOUTS = (
    ('planetscope', ('PlanetScope 4-band: B, G, R, NIR', [3, 2, 1])),
    ('naip', ('NAIP: R, G, B, NIR', [1, 2, 3])),
)
# band names (Sentinel-2 / Landsat 8-9 numbering) per colour
_NAMES = {
    'red': ('red', 'b4', 'b04', 'sr_b4'),
    'green': ('green', 'b3', 'b03', 'sr_b3'),
    'blue': ('blue', 'b2', 'b02', 'sr_b2'),
}


class RGBPlan:
    """The decided reading of a raster as RGB.

    Attributes:
        bands (list[int]): 1-based bands read (3, or 1 for a palette band).
        rule (str): Why (printed and stored in the summary).
        colormap (ndarray, optional): ``(N, 3)`` uint8 lookup table of a
            palette band.
        nan_is_nodata (bool): Floating-point source: NaN/inf are nodata.
    """

    def __init__(self, bands: List[int], rule: str,
                 colormap: Optional[np.ndarray] = None,
                 nan_is_nodata: bool = False):
        self.bands, self.rule = list(bands), rule
        self.colormap, self.nan_is_nodata = colormap, nan_is_nodata

    @property
    def is_palette(self) -> bool:
        return self.colormap is not None

    def describe(self) -> str:
        what = ('band 1 through its colour table' if self.is_palette else
                'bands ' + ' '.join(map(str, self.bands)) + ' as R G B')
        nan = '; NaN is nodata' if self.nan_is_nodata else ''
        return f'{what} ({self.rule}){nan}'

    def to_dict(self) -> dict:
        return dict(bands=self.bands, rule=self.rule,
                    palette=self.is_palette, nan_is_nodata=self.nan_is_nodata,
                    text=self.describe())

    def to_uint8(self, arr: np.ndarray, ranges) -> np.ndarray:
        """``(len(bands), h, w)`` source values -> ``(3, h, w)`` uint8."""
        if self.is_palette:
            idx = np.clip(arr[0], 0, len(self.colormap) - 1).astype(np.intp)
            return np.ascontiguousarray(self.colormap[idx].transpose(2, 0, 1))
        return to_uint8(arr, ranges)


def _colour_of(description: str) -> Optional[str]:
    tokens = re.split(r'[^a-z0-9_]+', description.lower())
    tokens = [t for t in tokens if t]
    if any(t in ('edge', 'rededge', 'nir', 're') or t.startswith('b8')
           for t in tokens):
        return None
    for colour, names in _NAMES.items():
        if any(t in names for t in tokens):
            return colour
    return None


def _by_names(labels: Sequence[str]) -> Optional[List[int]]:
    """[R, G, B] from per-band labels when each colour is named once."""
    found = {}
    for i, lab in enumerate(labels):
        c = _colour_of(lab or '')
        if c is not None:
            found.setdefault(c, []).append(i + 1)
    if all(len(found.get(c, [])) == 1 for c in ('red', 'green', 'blue')):
        return [found[c][0] for c in ('red', 'green', 'blue')]
    return None


def _describe_source(src) -> str:
    desc = [d or '' for d in getattr(src, 'descriptions', None) or []]
    return (f'{src.count} bands of {np.dtype(src.dtype).name}, colour '
            f'interpretation {list(src.colorinterp)}' +
            (f', descriptions {desc}' if any(desc) else ''))


def check_bands(bands: Sequence[int], count: int) -> List[int]:
    """Validate user-given 1-based bands (1 or 3 of them)."""
    bands = [int(b) for b in bands]
    if len(bands) not in (1, 3):
        raise ValueError(f'bands={bands}: give 3 band indices (R, G, B) or '
                         'one (repeated as grey), 1-based as in GDAL.')
    bad = [b for b in bands if not 1 <= b <= count]
    if bad:
        raise ValueError(f'bands={bands}: {bad} outside 1..{count} (the '
                         f'raster has {count} bands; indices are 1-based).')
    return bands * 3 if len(bands) == 1 else bands


def plan_rgb(src, bands: Optional[Sequence[int]] = None) -> RGBPlan:
    """Decide how ``src`` becomes RGB (see the module docstring).

    Args:
        src: A raster source (``count``, ``dtype``, ``colorinterp``,
            ``descriptions``, ``tags``, ``colormap``, ``path``).
        bands (list[int], optional): User-given 1-based bands.

    Returns:
        RGBPlan

    Raises:
        ValueError: No rule applies (or ``bands`` is invalid); the message
            names the file, what it holds and the ``--bands`` to give.
    """
    nan = np.issubdtype(np.dtype(src.dtype), np.floating)
    count = src.count
    if bands is not None:
        return RGBPlan(check_bands(bands, count), 'given (--bands)',
                       nan_is_nodata=nan)
    ci = [c.lower() for c in src.colorinterp]
    colour = [i for i, c in enumerate(ci) if c != 'alpha']
    if len(colour) == 1 and ci[colour[0]] == 'palette':
        cmap = src.colormap(colour[0] + 1)
        if cmap:
            lut = np.zeros((max(cmap) + 1, 3), np.uint8)
            for k, rgba in cmap.items():
                lut[k] = rgba[:3]
            return RGBPlan([colour[0] + 1], 'palette: colour table',
                           colormap=lut)
    if all(c in ci for c in ('red', 'green', 'blue')):
        return RGBPlan([ci.index(c) + 1 for c in ('red', 'green', 'blue')],
                       'colour interpretation', nan_is_nodata=nan)
    by_desc = _by_names(getattr(src, 'descriptions', None) or [])
    if by_desc is not None:
        return RGBPlan(by_desc, 'band descriptions', nan_is_nodata=nan)
    tags = ' '.join(str(v) for v in (getattr(src, 'tags', None) or {})
                    .values()).lower()
    for key, (name, rgb) in TAG_LAYOUTS:
        if key in tags and count >= max(rgb):
            return RGBPlan(rgb, f'sensor layout from metadata: {name}',
                           nan_is_nodata=nan)
    if count in COUNT_LAYOUTS:
        name, rgb = COUNT_LAYOUTS[count]
        return RGBPlan(rgb, f'sensor layout from the band count: {name}',
                       nan_is_nodata=nan)
    if len(colour) == 1:
        return RGBPlan([colour[0] + 1] * 3, 'single band: grey',
                       nan_is_nodata=nan)
    if count == 3:
        return RGBPlan([1, 2, 3], 'three bands without colour '
                       'interpretation: file order as R, G, B',
                       nan_is_nodata=nan)
    hint = ''
    if count == 4:
        hint = (' Four-band files differ: PlanetScope is B, G, R, NIR '
                '(--bands 3 2 1), NAIP is R, G, B, NIR (--bands 1 2 3).')
    elif count == 2:
        hint = (' A 2-band file has no RGB reading: give one band as grey '
                '(--bands 1) or combine bands first.')
    raise ValueError(
        f'{src.path}: cannot tell which bands are red, green and blue '
        f'({_describe_source(src)}; no known sensor layout).{hint} Give '
        '--bands R G B (1-based, as in GDAL; bands=[r, g, b] in Python).')


__all__ = ['RGBPlan', 'plan_rgb', 'check_bands', 'COUNT_LAYOUTS']
