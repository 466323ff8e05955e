"""FeatUp's learned attention downsampler (training-only)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ovseg_plugins.utils.typing import OptMultiConfig


def gaussian_blur(x: torch.Tensor, size: int = 5,
                  sigma: float = 1.0) -> torch.Tensor:
    """Depthwise Gaussian blur with reflect padding, ``(B, C, H, W)``."""
    r = torch.arange(size, dtype=x.dtype, device=x.device) - size // 2
    g = torch.exp(-r.square() / (2 * sigma**2))
    g = g / g.sum()
    C = x.shape[1]
    x = F.pad(x, [size // 2] * 4, mode='reflect')
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(C, 1, 1, size), groups=C)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(C, 1, size, 1), groups=C)


@MODELS.register_module()
class AttentionDownsampler(BaseModule):
    """Downsample high-res features by ``kernel_size`` with learned attention.

    Each pixel of the (Gaussian-blurred) features gets a score from a linear
    layer; within every ``k×k`` window the scores are modulated by a learned
    per-position affine map (``w``, ``b``), 20 % of them are dropped (zeroed)
    in training, and the softmax weights average the window's features.

    Args:
        dim (int): Feature channels.
        kernel_size (int): Window = stride (the backbone's patch size).
        blur_attn (bool): Blur before scoring. Defaults to True.
        logit_dropout (float): Fraction of logits zeroed in training.
    """

    def __init__(self, dim: int, kernel_size: int = 16,
                 blur_attn: bool = True, logit_dropout: float = 0.2,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.kernel_size = kernel_size
        self.blur_attn = blur_attn
        self.logit_dropout = logit_dropout
        self.attention_net = nn.Sequential(nn.Dropout(0.2), nn.Linear(dim, 1))
        self.w = nn.Parameter(torch.ones(kernel_size, kernel_size))
        self.b = nn.Parameter(torch.zeros(kernel_size, kernel_size))

    def forward(self, hr: torch.Tensor, guidance=None) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H / k, W / k)``."""
        B, C, H, W = hr.shape
        k = self.kernel_size
        if H % k or W % k:
            raise ValueError(f'AttentionDownsampler: {H}x{W} is not a '
                             f'multiple of kernel_size={k}')
        src = gaussian_blur(hr) if self.blur_attn else hr
        logits = self.attention_net(src.permute(0, 2, 3, 1)).permute(0, 3, 1,
                                                                      2)
        logits = F.unfold(logits, k, stride=k)  # (B, k², L)
        logits = logits * self.w.view(1, -1, 1) + self.b.view(1, -1, 1)
        if self.training and self.logit_dropout > 0:
            keep = torch.rand_like(logits) >= self.logit_dropout
            logits = logits * keep
        attn = torch.softmax(logits, dim=1)
        patches = F.unfold(hr, k, stride=k).view(B, C, k * k, -1)
        out = (patches * attn.unsqueeze(1)).sum(2)
        return out.view(B, C, H // k, W // k)
