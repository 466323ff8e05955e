"""Per-pixel (adaptive) convolution in pure PyTorch, memory O(C·H·W).

``out[b, c, y, x] = Σ_{i,j} K[b, y, x, i, j] · S[b, c, y + i, x + j]`` where
``S`` is the source padded by the kernel radius. The same k×k kernel of a
pixel is used for all C channels (FeatUp / SimFeatUp's ``AdaptiveConv``,
which needs a compiled extension upstream).

:func:`adaptive_conv` loops over the k² taps and accumulates
``K[..., i, j] · shift_{i,j}(S)``: no ``(C, k², H, W)`` tensor is ever built,
autograd keeps only views of its inputs, and it runs on CPU and GPU under
autocast. :func:`adaptive_conv_unfold` is the unfold + einsum definition (the
reference; it materialises C·k²·H·W values).
"""
import torch
import torch.nn.functional as F


def _check(src_pad: torch.Tensor, kernel: torch.Tensor):
    if kernel.dim() != 5 or kernel.shape[-1] != kernel.shape[-2]:
        raise ValueError(f'kernel must be (B, H, W, k, k), got '
                         f'{tuple(kernel.shape)}')
    B, H, W, k, _ = kernel.shape
    if src_pad.shape[0] != B or src_pad.shape[-2:] != (H + k - 1, W + k - 1):
        raise ValueError(
            f'source {tuple(src_pad.shape)} must be (B, C, H+k-1, W+k-1) '
            f'for kernel {tuple(kernel.shape)}')
    return B, H, W, k


def adaptive_conv(src_pad: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Adaptive convolution by a loop over taps.

    Args:
        src_pad (Tensor): ``(B, C, H + k - 1, W + k - 1)`` padded source.
        kernel (Tensor): ``(B, H, W, k, k)`` per-pixel kernels.

    Returns:
        Tensor: ``(B, C, H, W)``.
    """
    B, H, W, k = _check(src_pad, kernel)
    dtype = torch.promote_types(src_pad.dtype, kernel.dtype)
    # tap-major, contiguous (B, k, k, 1, H, W): one small copy (k²·H·W) so
    # every tap below reads a dense plane
    kern = kernel.permute(0, 3, 4, 1, 2).to(dtype).contiguous().unsqueeze(3)
    src = src_pad.to(dtype)
    out = torch.zeros(src.shape[:2] + (H, W), dtype=dtype, device=src.device)
    for i in range(k):
        for j in range(k):
            # in place: no C·H·W temporary per tap; autograd keeps views only
            out.addcmul_(kern[:, i, j], src[:, :, i:i + H, j:j + W])
    return out


def adaptive_conv_unfold(src_pad: torch.Tensor,
                         kernel: torch.Tensor) -> torch.Tensor:
    """Reference unfold + einsum definition (memory C·k²·H·W)."""
    B, H, W, k = _check(src_pad, kernel)
    C = src_pad.shape[1]
    patches = F.unfold(src_pad, k).view(B, C, k * k, H, W)
    return torch.einsum('bcphw,bhwp->bchw', patches,
                        kernel.reshape(B, H, W, k * k))
