"""Principal axes of point neighbourhoods: the one PCA routine behind point
normals (segmentor, ``AddPointNormals``) and the geometric teacher's shape
features."""
from typing import Tuple

import torch
import torch.nn.functional as F


def neighbourhood_pca(xyz: torch.Tensor, nbr: torch.Tensor
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of each point's neighbourhood covariance.

    Args:
        xyz (Tensor): ``(N, 3)`` points.
        nbr (Tensor): ``(N, K)`` neighbour indices into ``xyz`` (the point
            itself may be among them).

    Returns:
        tuple: eigenvalues ``(N, 3)`` in ascending order and eigenvectors
        ``(N, 3, 3)`` (column ``i`` belongs to eigenvalue ``i``) of the
        covariance ``Σ (p - mean)(p - mean)ᵀ / K``, both float64.
    """
    p = xyz[nbr].double()
    p = p - p.mean(1, keepdim=True)
    return torch.linalg.eigh(p.transpose(1, 2) @ p / nbr.shape[1])


def estimate_normals(xyz: torch.Tensor, nbr: torch.Tensor) -> torch.Tensor:
    """Unit normals ``(N, 3)`` (the axis of least variance of each point's
    neighbours ``nbr (N, K)``), oriented towards +z, in ``xyz``'s dtype."""
    n = neighbourhood_pca(xyz, nbr)[1][..., 0]
    n = torch.where(n[:, 2:3] < 0, -n, n)
    return F.normalize(n, dim=1).to(xyz.dtype)
