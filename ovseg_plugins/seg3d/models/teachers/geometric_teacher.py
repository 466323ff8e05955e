"""A training-free geometric teacher for GeoPurify's distillation."""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet3d.registry import MODELS

from ...ops.knn import knn_indices
from ...ops.local_pca import neighbourhood_pca


def local_shape_features(xyz: torch.Tensor, nbr: torch.Tensor) -> torch.Tensor:
    """Eigen-features of each point's neighbourhood.

    Args:
        xyz (Tensor): ``(N, 3)``.
        nbr (Tensor): ``(N, K)`` neighbour indices.

    Returns:
        Tensor: ``(N, 7)``: linearity, planarity, scattering, verticality of
        the normal, and the unsigned unit normal ``|n|`` (3).
    """
    val, vec = neighbourhood_pca(xyz, nbr)  # ascending
    l3, l2, l1 = val.clamp(min=0).unbind(-1)
    l1 = l1.clamp(min=1e-12)
    normal = vec[..., 0]
    feats = torch.stack([(l1 - l2) / l1, (l2 - l3) / l1, l3 / l1,
                         1 - normal[:, 2].abs()], 1)
    return torch.cat([feats, normal.abs()], 1).float()


@MODELS.register_module()
class GeometricTeacher(nn.Module):
    """Hand-crafted per-point features used as the distillation teacher.

    No weights: multi-scale local shape (eigen-features and unsigned normals
    of the ``knn`` neighbourhoods), height above the scene's lowest point
    and colour, each group standardised over the scene and weighted, then
    L2-normalised. It makes GeoPurify trainable without a 3D SSL model
    (Sonata) and is the teacher of the procedural-room check.

    Args:
        knn (Sequence[int]): Neighbourhood sizes. Defaults to (16, 48).
        height_weight (float): Defaults to 1.0.
        color_weight (float): Defaults to 1.0.
        color_scale (float): Scale of the colours it receives (255: 0..255).
        shared_knn (bool): One neighbour search for the largest K, sliced
            for the smaller ones (the same neighbours, hence the same
            features, as one search per K; False runs one per K).
    """

    def __init__(self, knn: Sequence[int] = (16, 48),
                 height_weight: float = 1.0, color_weight: float = 1.0,
                 color_scale: float = 255., shared_knn: bool = True):
        super().__init__()
        self.shared_knn = shared_knn
        self.knn = tuple(knn)
        self.height_weight = height_weight
        self.color_weight = color_weight
        self.color_scale = color_scale

    @property
    def out_channels(self) -> int:
        return 7 * len(self.knn) + 1 + 3

    @torch.no_grad()
    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """``points (N, ≥6)`` = xyz, rgb (0..255) -> ``(N, out_channels)``."""
        if points.ndim != 2 or points.shape[1] < 6:
            raise ValueError('GeometricTeacher needs (N, 6+) points: xyz + '
                             f'rgb, got {tuple(points.shape)}')
        xyz = points[:, :3].float()
        groups = []
        # one search for the largest K: the first k of its (distance,
        # index)-ordered neighbours are exactly the k nearest
        nbr = knn_indices(xyz, max(self.knn)) if self.shared_knn else None
        for k in self.knn:
            groups.append(local_shape_features(
                xyz, nbr[:, :k] if nbr is not None else knn_indices(xyz, k)))
        h = xyz[:, 2:3] - xyz[:, 2:3].min()
        groups.append(self.height_weight * h)
        rgb = points[:, 3:6].float() / self.color_scale
        groups.append(self.color_weight * rgb)
        f = torch.cat(groups, 1)
        f = (f - f.mean(0)) / f.std(0).clamp(min=1e-6)
        return F.normalize(f, dim=1)
