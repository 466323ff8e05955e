"""Voxelisation and normals for the GeoPurify segmentor."""
from typing import Tuple

import torch

from ..ops.local_pca import estimate_normals  # noqa: F401 (re-export)


def voxelize(xyz: torch.Tensor, voxel_size: float
             ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Deterministic voxelisation.

    Returns:
        tuple: unique integer voxel coords ``(V, 3)`` and the point -> voxel
        index ``(N,)``.
    """
    if xyz.shape[0] == 0:
        raise ValueError('empty point cloud: nothing to voxelise')
    if not torch.isfinite(xyz).all():
        raise ValueError('point coordinates contain NaN/inf')
    grid = torch.floor(xyz / voxel_size).long()
    coords, inv = torch.unique(grid, dim=0, return_inverse=True)
    return coords, inv


def scatter_mean(x: torch.Tensor, index: torch.Tensor, n: int):
    out = x.new_zeros(n, x.shape[1]).index_add(0, index, x)
    cnt = x.new_zeros(n).index_add(0, index, x.new_ones(len(index)))
    return out / cnt.clamp(min=1)[:, None]
