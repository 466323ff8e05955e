"""One slide grid for the whole raster, cut into windows.

The model's crops sit on ONE grid over the whole raster, the grid of mmseg's
slide inference (``EncoderDecoder.slide_inference``; our
``seg2d/models/utils/slide.py``): crops of ``crop`` px every ``stride`` px,
the last one shifted back inside the raster. A *window* is a rectangle of
output pixels, its edges on multiples of ``k * stride``; it is computed from
every crop of the grid that covers one of its pixels (the crops that the
whole-image slide inference averages there), so the value of a pixel does
not depend on the window size, on which process computes it, or on the
raster's other windows: there is nothing to blend and no seam.
"""
import math
from typing import List, Tuple

from ovseg_plugins.seg2d.models.utils.slide import slide_windows


def crop_starts(length: int, crop: int, stride: int) -> List[int]:
    """Crop starts along one axis (mmseg's rule; crops are clipped to
    ``length`` when it is shorter than ``crop``)."""
    return sorted({w[0] for w in slide_windows(length, 1, (crop, 1),
                                               (stride, 1))})


class WindowGrid:
    """Windows of one raster on the model's slide grid.

    Args:
        height, width (int): Raster size (the model's input resolution).
        crop, stride (tuple[int, int]): The model's slide crop and stride
            ``(h, w)``.
        tile_size (int): Target side of the pixels read per window (the
            window plus the margins its crops need).
    """

    def __init__(self, height: int, width: int, crop: Tuple[int, int],
                 stride: Tuple[int, int], tile_size: int):
        self.height, self.width = height, width
        self.crop, self.stride = tuple(crop), tuple(stride)
        self.ystarts = crop_starts(height, crop[0], stride[0])
        self.xstarts = crop_starts(width, crop[1], stride[1])
        # window side: k strides, so that window + crop margins ~ tile_size
        self.step = tuple(
            s * max(1, (tile_size - 2 * (c - s)) // s)
            for c, s in zip(crop, stride))
        self.ny = max(1, math.ceil(height / self.step[0]))
        self.nx = max(1, math.ceil(width / self.step[1]))

    def __len__(self) -> int:
        return self.ny * self.nx

    def describe(self) -> dict:
        return dict(crop=list(self.crop), stride=list(self.stride),
                    window=list(self.step), windows=len(self),
                    grid=[self.ny, self.nx])

    def region(self, w: int) -> Tuple[int, int, int, int]:
        """Output pixels ``(y0, y1, x0, x1)`` of window ``w`` (row-major)."""
        i, j = divmod(w, self.nx)
        y0, x0 = i * self.step[0], j * self.step[1]
        return (y0, min(y0 + self.step[0], self.height), x0,
                min(x0 + self.step[1], self.width))

    def _covering(self, starts, size, a, b):
        return [s for s in starts if s < b and s + size > a]

    def crops(self, w: int) -> Tuple[List[int], List[int]]:
        """Row and column starts of the crops covering window ``w``."""
        y0, y1, x0, x1 = self.region(w)
        ch = min(self.crop[0], self.height)
        cw = min(self.crop[1], self.width)
        return (self._covering(self.ystarts, ch, y0, y1),
                self._covering(self.xstarts, cw, x0, x1))

    def context(self, w: int) -> Tuple[int, int, int, int]:
        """Pixels read for window ``w``: the union of its crops."""
        ys, xs = self.crops(w)
        ch = min(self.crop[0], self.height)
        cw = min(self.crop[1], self.width)
        return ys[0], ys[-1] + ch, xs[0], xs[-1] + cw

    @staticmethod
    def share(n: int, rank: int, world: int) -> range:
        """Rank ``rank``'s contiguous share of ``n`` items (deterministic,
        disjoint, covering)."""
        return range(rank * n // world, (rank + 1) * n // world)
