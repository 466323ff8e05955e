"""Sliding-window helpers shared by the 2D segmentors."""
from typing import List, Tuple

import torch
import torch.nn.functional as F


def slide_windows(h: int, w: int, crop: Tuple[int, int],
                  stride: Tuple[int, int]) -> List[Tuple[int, int, int, int]]:
    """mmseg's window grid: ``(y1, y2, x1, x2)`` for every crop.

    ``n = max(H - crop + stride - 1, 0) // stride + 1`` windows per axis, the
    last one shifted back inside the image; crops are clipped to the image.
    """
    ch, cw = crop
    sh, sw = stride
    if sh <= 0 or sw <= 0 or ch <= 0 or cw <= 0:
        raise ValueError(f'slide crop {crop} and stride {stride} must be > 0.')
    if sh > ch or sw > cw:
        raise ValueError(f'slide stride {stride} is larger than the crop '
                         f'{crop}: pixels between windows would get no '
                         'prediction; set test_cfg.stride <= '
                         'test_cfg.crop_size.')
    nh = max(h - ch + sh - 1, 0) // sh + 1
    nw = max(w - cw + sw - 1, 0) // sw + 1
    out = []
    for i in range(nh):
        for j in range(nw):
            y1, x1 = i * sh, j * sw
            y2, x2 = min(y1 + ch, h), min(x1 + cw, w)
            y1, x1 = max(y2 - ch, 0), max(x2 - cw, 0)
            out.append((y1, y2, x1, x2))
    return out


def pad_to_multiple(x: torch.Tensor,
                    multiple: int) -> Tuple[torch.Tensor, Tuple[int, int, int,
                                                                 int]]:
    """Pad ``(B, C, H, W)`` symmetrically to a multiple of ``multiple``.

    Returns:
        tuple: padded tensor and ``(left, right, top, bottom)``.
    """
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if ph or pw:
        x = F.pad(x, pad)
    return x, pad


def unpad(x: torch.Tensor, pad: Tuple[int, int, int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on ``(B, C, H, W)``."""
    l, r, t, b = pad
    h, w = x.shape[-2:]
    return x[..., t:h - b, l:w - r]
