"""Pure-PyTorch submanifold sparse 3D convolution (CPU and GPU, differentiable).

spconv 2.3's CPU backward calls CUDA, so CPU training needs this. Output sites
are the input sites (submanifold, stride 1); for each kernel offset the
neighbour of every site is found by hashing the integer voxel keys (one sort
+ ``searchsorted``), and ``out[i] += feats[nbr(i)] @ W[offset]``.

On CUDA, when spconv 2.x is installed, ``backend='auto'`` runs the same
parameters through ``spconv.pytorch.SubMConv3d`` (weights re-laid out on the
fly with ``torch.func.functional_call``, so gradients reach this module's
``weight`` and checkpoints are shared by both backends).
"""
import itertools
from typing import Dict, Optional, Tuple

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
        backend (str): ``'auto'`` (spconv on CUDA when installed, else pure
            PyTorch), ``'torch'`` or ``'spconv'``.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int = 3, bias: bool = False,
                 backend: str = 'auto'):
        super().__init__()
        if backend not in ('auto', 'torch', 'spconv'):
            raise ValueError("SubMConv3d backend must be 'auto', 'torch' or "
                             f"'spconv', got {backend!r}")
        self.backend = backend
        self._spconv: Optional[nn.Module] = None
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
        if self._use_spconv(feats):
            return self._forward_spconv(feats, coords)
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

    # ------------------------------------------------------------ spconv
    def _use_spconv(self, feats: torch.Tensor) -> bool:
        if self.backend == 'torch':
            return False
        try:
            import spconv.pytorch  # noqa: F401
            have = True
        except ImportError:
            have = False
        if self.backend == 'spconv':
            if not have or not feats.is_cuda:
                raise RuntimeError(
                    "SubMConv3d(backend='spconv') needs spconv 2.x and CUDA "
                    "tensors (spconv's CPU backward calls CUDA); use "
                    "backend='torch' or 'auto' on CPU.")
            return True
        return have and feats.is_cuda

    def _forward_spconv(self, feats: torch.Tensor,
                        coords: torch.Tensor) -> torch.Tensor:
        import spconv.pytorch as spconv
        k = self.kernel_size
        if self._spconv is None:
            self._spconv = spconv.SubMConv3d(
                self.in_channels, self.out_channels, k, padding=k // 2,
                bias=False, indice_key=None).to(feats.device)
        c = coords.long()
        xyz = c[:, 1:] - c[:, 1:].min(0).values  # non-negative
        idx = torch.cat([c[:, :1], xyz], 1).int().contiguous()
        shape = (xyz.max(0).values + 1).tolist()
        x = spconv.SparseConvTensor(feats, idx, shape,
                                    int(c[:, 0].max()) + 1)
        # ours (k³ [x slowest], C_in, C_out) -> spconv (C_out, k, k, k, C_in)
        w = self.weight.view(k, k, k, self.in_channels,
                             self.out_channels).permute(4, 0, 1, 2, 3)
        out = torch.func.functional_call(self._spconv,
                                         {'weight': w.contiguous()}, (x, ))
        out = out.features
        if self.bias is not None:
            out = out + self.bias
        return out
