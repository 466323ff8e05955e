"""Pure-PyTorch submanifold sparse 3D convolution (CPU and GPU, differentiable).

spconv 2.3's CPU backward calls CUDA, so CPU training needs this. Output sites
are the input sites (submanifold, stride 1); for each kernel offset the
neighbour of every site is found by hashing the integer voxel keys (one sort
+ ``searchsorted``), and ``out[i] += feats[nbr(i)] @ W[offset]``.
"""
import itertools
from typing import Dict, Tuple

import torch
import torch.nn as nn


def voxel_keys(coords: torch.Tensor) -> torch.Tensor:
    """Unique int64 key of ``(N, 4)`` ``[batch, x, y, z]`` integer coords
    (each of x, y, z must lie in [-2^19, 2^19))."""
    c = coords.long()
    off = 1 << 19
    if (c[:, 1:].abs() >= off).any():
        raise ValueError('voxel coordinates must lie within ±2^19')
    return (((c[:, 0] << 20 | (c[:, 1] + off)) << 20 | (c[:, 2] + off)) << 20
            ) | (c[:, 3] + off)


def neighbour_map(coords: torch.Tensor, kernel_size: int = 3
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Neighbour index of every site for every kernel offset.

    Args:
        coords (Tensor): ``(N, 4)`` unique integer ``[batch, x, y, z]``.
        kernel_size (int): Odd kernel size k.

    Returns:
        tuple: ``offsets (k³, 3)`` and ``nbr (k³, N)`` long, -1 where the
        neighbour site is not active.
    """
    if kernel_size % 2 != 1:
        raise ValueError('kernel_size must be odd')
    r = kernel_size // 2
    keys = voxel_keys(coords)
    sorted_keys, order = torch.sort(keys)
    if len(sorted_keys) > 1 and (sorted_keys[1:] == sorted_keys[:-1]).any():
        raise ValueError('duplicate voxel coordinates: voxelise first')
    rng = range(-r, r + 1)
    offsets = torch.tensor(list(itertools.product(rng, rng, rng)),
                           device=coords.device, dtype=torch.long)
    nbrs = []
    for o in offsets:
        q = coords.long().clone()
        q[:, 1:] += o
        qk = voxel_keys(q)
        pos = torch.searchsorted(sorted_keys, qk).clamp(max=len(keys) - 1)
        hit = sorted_keys[pos] == qk
        nbrs.append(torch.where(hit, order[pos], torch.full_like(pos, -1)))
    return offsets, torch.stack(nbrs)


class SubMConv3d(nn.Module):
    """Submanifold 3D convolution on ``(N, C_in)`` features at ``(N, 4)``
    coordinates; weight layout ``(k³, C_in, C_out)`` in the offset order of
    :func:`neighbour_map` (x slowest, z fastest).

    Args:
        in_channels (int): C_in.
        out_channels (int): C_out.
        kernel_size (int): Odd kernel size. Defaults to 3.
        bias (bool): Defaults to False.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int = 3, bias: bool = False):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        k3 = kernel_size**3
        self.weight = nn.Parameter(
            torch.randn(k3, in_channels, out_channels) *
            (2.0 / (k3 * in_channels))**0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, feats: torch.Tensor, coords: torch.Tensor,
                nbr_cache: Dict = None) -> torch.Tensor:
        """Convolve.

        Args:
            feats (Tensor): ``(N, C_in)``.
            coords (Tensor): ``(N, 4)`` integer voxel coordinates.
            nbr_cache (dict, optional): Shared neighbour maps keyed by kernel
                size (layers of one network reuse them).

        Returns:
            Tensor: ``(N, C_out)``.
        """
        if feats.shape[1] != self.in_channels:
            raise ValueError(f'SubMConv3d expects {self.in_channels} input '
                             f'channels, got {feats.shape[1]}')
        if nbr_cache is not None and self.kernel_size in nbr_cache:
            nbr = nbr_cache[self.kernel_size]
        else:
            nbr = neighbour_map(coords, self.kernel_size)[1]
            if nbr_cache is not None:
                nbr_cache[self.kernel_size] = nbr
        out = feats.new_zeros(feats.shape[0], self.out_channels)
        if self.kernel_size == 1:
            out = feats @ self.weight[0]
        else:
            for k in range(nbr.shape[0]):
                idx = nbr[k]
                valid = idx >= 0
                if not valid.any():
                    continue
                src = valid.nonzero(as_tuple=True)[0]
                out = out.index_add(0, src, feats[idx[src]] @ self.weight[k])
        if self.bias is not None:
            out = out + self.bias
        return out
