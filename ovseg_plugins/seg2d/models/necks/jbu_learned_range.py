"""One joint-bilateral upsampling stage with a learned range kernel (FeatUp)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .adaptive_conv import adaptive_conv, adaptive_conv_unfold


def _shift_dot(keys_pad: torch.Tensor, keys: torch.Tensor, d: int):
    """``(B, d², H, W)`` dot products of each key with its d×d neighbours."""
    H, W = keys.shape[-2:]
    return torch.stack([(keys_pad[:, :, i:i + H, j:j + W] * keys).sum(1)
                        for i in range(d) for j in range(d)], dim=1)


class JBULearnedRange(nn.Module):
    """×``scale`` upsampling of ``source`` guided by ``guidance``.

    Kernel of each output pixel (d = 2·radius + 1 taps per side):
    softmax over taps of ``exp(range_temp)·<k_c, k_n>`` (keys from a 1×1-conv
    MLP of the guidance), times a Gaussian of learnable σ on a
    ``linspace(-1, 1, d)`` grid, renormalised, plus ``0.1·fixup_proj([kernel,
    guidance])``. The source is bicubically upsampled, reflect-padded and
    combined with the per-pixel kernels (:func:`adaptive_conv`).

    Parameter names follow FeatUp's checkpoints (``range_temp``,
    ``range_proj``, ``sigma_spatial``, ``fixup_proj``).

    Args:
        guidance_dim (int): Guidance channels. Defaults to 3.
        key_dim (int): Range-key channels. Defaults to 32.
        radius (int): Kernel radius (5 -> 11×11). Defaults to 5.
        impl (str): 'loop' (memory-lean) or 'unfold' (reference).
        zero_init_fixup (bool): Start the kernel correction at zero, so an
            untrained stage is an exact joint-bilateral filter (FeatUp's
            default init adds a random correction ~4x larger than the
            normalised 11×11 kernel's taps). Loaded weights override it.
            Defaults to True.
    """

    def __init__(self, guidance_dim: int = 3, key_dim: int = 32,
                 radius: int = 5, impl: str = 'loop',
                 zero_init_fixup: bool = True):
        super().__init__()
        if impl not in ('loop', 'unfold'):
            raise ValueError(f"impl must be 'loop' or 'unfold', got {impl!r}")
        self.radius = radius
        self.diameter = d = 2 * radius + 1
        self.impl = impl
        self.range_temp = nn.Parameter(torch.tensor(0.0))
        self.range_proj = nn.Sequential(
            nn.Conv2d(guidance_dim, key_dim, 1), nn.GELU(), nn.Dropout2d(0.1),
            nn.Conv2d(key_dim, key_dim, 1))
        self.fixup_proj = nn.Sequential(
            nn.Conv2d(guidance_dim + d * d, d * d, 1), nn.GELU(),
            nn.Dropout2d(0.1), nn.Conv2d(d * d, d * d, 1))
        self.sigma_spatial = nn.Parameter(torch.tensor(1.0))
        if zero_init_fixup:
            nn.init.zeros_(self.fixup_proj[-1].weight)
            nn.init.zeros_(self.fixup_proj[-1].bias)

    def spatial_kernel(self) -> torch.Tensor:
        """``(1, d², 1, 1)`` Gaussian over the normalised window."""
        r = torch.linspace(-1, 1, self.diameter,
                           device=self.sigma_spatial.device)
        y, x = torch.meshgrid(r, r, indexing='ij')
        sq = (x.square() + y.square()).reshape(1, -1, 1, 1)
        # σ is trained freely and can reach or cross 0 (training drives it
        # towards a delta kernel); unclamped, σ = 0 gives 0/0 = NaN at the
        # centre tap. 1e-8 leaves every σ > 1e-4 (and FeatUp's weights)
        # untouched and makes σ -> 0 the limit: the centre tap only.
        var = self.sigma_spatial.square().clamp(min=1e-8)
        return torch.exp(-sq / (2 * var))

    def range_kernel(self, guidance: torch.Tensor) -> torch.Tensor:
        """``(B, d², H, W)`` softmax over taps of scaled key similarities."""
        keys = self.range_proj(guidance)
        keys_pad = F.pad(keys, [self.radius] * 4, mode='reflect')
        if self.impl == 'unfold':
            B, C, H, W = keys.shape
            nb = F.unfold(keys_pad, self.diameter).view(B, C, -1, H, W)
            logits = torch.einsum('bcphw,bchw->bphw', nb, keys)
        else:
            logits = _shift_dot(keys_pad, keys, self.diameter)
        temp = self.range_temp.exp().clamp(1e-4, 1e4)
        return torch.softmax(temp * logits, dim=1)

    def kernel(self, guidance: torch.Tensor) -> torch.Tensor:
        """Combined per-pixel kernels ``(B, H, W, d, d)``."""
        k = self.range_kernel(guidance) * self.spatial_kernel()
        k = k / k.sum(1, keepdim=True).clamp(min=1e-7)
        k = k + 0.1 * self.fixup_proj(torch.cat([k, guidance], dim=1))
        B, _, H, W = k.shape
        return k.permute(0, 2, 3, 1).reshape(B, H, W, self.diameter,
                                             self.diameter)

    def forward(self, source: torch.Tensor,
                guidance: torch.Tensor) -> torch.Tensor:
        """Upsample ``source (B, C, h, w)`` to the guidance size ``(H, W)``.

        Args:
            source (Tensor): ``(B, C, h, w)`` features.
            guidance (Tensor): ``(B, 3, H, W)`` guidance image.

        Returns:
            Tensor: ``(B, C, H, W)``.
        """
        if source.shape[0] != guidance.shape[0]:
            raise ValueError('source and guidance batch sizes differ')
        H, W = guidance.shape[-2:]
        kern = self.kernel(guidance)
        hr = F.interpolate(source, (H, W), mode='bicubic',
                           align_corners=False)
        hr = F.pad(hr, [self.radius] * 4, mode='reflect')
        conv = adaptive_conv if self.impl == 'loop' else adaptive_conv_unfold
        return conv(hr, kern)
