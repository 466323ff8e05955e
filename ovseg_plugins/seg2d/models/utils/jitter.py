"""FeatUp's multi-view jitter: pad (reflect), zoom, crop, flip."""
import random
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F


@dataclass
class JitterParams:
    pad: int
    zoom: float
    top: int
    left: int
    flip: bool


def sample_jitter(h: int, w: int, max_pad: int = 20, max_zoom: float = 2.,
                  rng: Optional[random.Random] = None) -> JitterParams:
    """Random transform: pad ≤ ``max_pad``, zoom in [1, max_zoom] with
    probability 0.5, a random crop back to ``h×w``, flip with p = 0.5."""
    rng = rng or random
    pad = rng.randint(0, max_pad)
    zoom = rng.uniform(1, max_zoom) if rng.random() < 0.5 else 1.0
    H, W = int((h + 2 * pad) * zoom), int((w + 2 * pad) * zoom)
    return JitterParams(pad, zoom, rng.randint(0, H - h), rng.randint(0, W - w),
                        rng.random() < 0.5)


def apply_jitter(x: torch.Tensor, p: JitterParams) -> torch.Tensor:
    """Apply the same transform to images, features or label maps
    ``(B, C, H, W)`` of the same spatial size."""
    h, w = x.shape[-2:]
    if p.pad:
        x = F.pad(x, [p.pad] * 4, mode='reflect')
    if p.zoom != 1.0:
        size = (int(x.shape[-2] * p.zoom), int(x.shape[-1] * p.zoom))
        x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
    x = x[..., p.top:p.top + h, p.left:p.left + w]
    return x.flip(-1) if p.flip else x
