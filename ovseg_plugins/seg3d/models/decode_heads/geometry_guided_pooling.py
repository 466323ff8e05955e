"""GeoPurify's geometry-guided pooling: K-sparse affinity, never N×N."""
import warnings

import torch
import torch.nn.functional as F


def knn_indices(coords: torch.Tensor, k: int = 96,
                chunk: int = 4096) -> torch.Tensor:
    """Exact k nearest neighbours (self excluded) of ``(N, 3)`` points.

    Distances are computed for ``chunk`` query rows at a time (memory
    ``chunk × N``), ties broken by index (stable, deterministic).

    Returns:
        Tensor: ``(N, min(k, N - 1))`` long.
    """
    N = coords.shape[0]
    if N < 2:
        raise ValueError(f'kNN needs at least 2 points, got {N}')
    k = min(k, N - 1)
    c = coords.float()
    out = []
    ar = torch.arange(N, device=c.device)
    for s in range(0, N, chunk):
        q = c[s:s + chunk]
        d = torch.cdist(q, c)
        d[torch.arange(len(q)), ar[s:s + chunk]] = float('inf')  # no self
        # stable tie-break: add a tiny index-proportional epsilon
        d = d + ar.to(d.dtype) * 1e-9
        out.append(d.topk(k, dim=1, largest=False).indices)
    return torch.cat(out)


def affinity_weights(emb: torch.Tensor, nbr: torch.Tensor,
                     sharpen: float = 20.) -> torch.Tensor:
    """Row-softmax of ``sharpen · cos(e_i, e_j)`` over each row's neighbours.

    Args:
        emb (Tensor): ``(N, D)`` embeddings.
        nbr (Tensor): ``(N, K)`` neighbour indices.

    Returns:
        Tensor: ``(N, K)`` weights, rows sum to 1.
    """
    e = F.normalize(emb.float(), dim=-1)
    sim = (e[:, None, :] * e[nbr]).sum(-1)
    return torch.softmax(sharpen * sim, dim=1)


def geometry_guided_pooling(feats: torch.Tensor, nbr: torch.Tensor,
                            weights: torch.Tensor,
                            iterations: int = 18) -> torch.Tensor:
    """``F ← A·F`` for ``iterations`` steps with the K-sparse row-stochastic
    affinity ``A[i, nbr[i, j]] = weights[i, j]``.

    Args:
        feats (Tensor): ``(N, C)``.
        nbr (Tensor): ``(N, K)``.
        weights (Tensor): ``(N, K)``.

    Returns:
        Tensor: ``(N, C)``.
    """
    N, K = nbr.shape
    rows = torch.arange(N, device=nbr.device).repeat_interleave(K)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # CSR is 'beta'
        A = torch.sparse_coo_tensor(
            torch.stack([rows, nbr.reshape(-1)]), weights.reshape(-1).float(),
            (N, N), check_invariants=False).coalesce().to_sparse_csr()
    # N·K non-zeros (never N×N); CSR matmul per step
    f = feats.float()
    for _ in range(iterations):
        f = A @ f
    return f
