"""Voxelisation and normals for the GeoPurify segmentor."""
from typing import Tuple

import torch
import torch.nn.functional as F


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


def estimate_normals(xyz: torch.Tensor, nbr: torch.Tensor) -> torch.Tensor:
    """Unit normals from the PCA of each point's neighbours ``(N, K)``,
    oriented towards +z."""
    p = xyz[nbr] - xyz[nbr].mean(1, keepdim=True)
    cov = p.transpose(1, 2) @ p
    _, vec = torch.linalg.eigh(cov.double())
    n = vec[..., 0].float()
    n = torch.where(n[:, 2:3] < 0, -n, n)
    return F.normalize(n, dim=1)
