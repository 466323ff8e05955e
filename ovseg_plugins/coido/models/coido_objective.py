"""CoIDO's scorer objective (Yan et al. 2025): L_I, L_D, uncertainty
weighting."""
from typing import Dict

import torch


def cluster_mean_variance(w: torch.Tensor, clusters: torch.Tensor,
                          valid: torch.Tensor) -> torch.Tensor:
    """L_D: unbiased variance of the per-cluster mean weights over the
    clusters present among the valid rows (ids < 0 = unclustered, skipped);
    exactly 0 (still in the graph) with fewer than two clusters.

    Args:
        w (Tensor): ``(B,)`` weights. clusters ``(B,)`` long. valid ``(B,)``.
    """
    keep = valid & (clusters >= 0)
    c = clusters[keep]
    if c.numel() == 0 or torch.unique(c).numel() < 2:
        return w.sum() * 0.
    ids, inv = torch.unique(c, return_inverse=True)
    sums = w.new_zeros(len(ids)).index_add(0, inv, w[keep])
    cnt = w.new_zeros(len(ids)).index_add(0, inv, torch.ones_like(w[keep]))
    return torch.var(sums / cnt, correction=1)


def coido_objective(scores: torch.Tensor, ce: torch.Tensor,
                    valid: torch.Tensor, clusters: torch.Tensor,
                    log_sigma_i: torch.Tensor, log_sigma_d: torch.Tensor,
                    clamp: float = 10.) -> Dict[str, torch.Tensor]:
    """The joint CoIDO loss on one (global) batch.

    ``w = softmax(scores)`` over the valid rows; ``L_I = Σ w·CE``;
    ``L_D = Var_c(mean_{k∈c} w_k)``;
    ``total = L_I/σ_I² + L_D/(2σ_D²) + log σ_I + log σ_D``.
    Gradients flow into whatever of ``scores`` / ``ce`` / ``log σ`` carries
    them: the decoupled training passes ``ce.detach()``.

    Args:
        scores (Tensor): ``(B,)`` raw scorer outputs.
        ce (Tensor): ``(B,)`` per-sample losses (invalid rows: any finite).
        valid (Tensor): ``(B,)`` bool.
        clusters (Tensor): ``(B,)`` long cluster ids (-1: none).

    Returns:
        dict: ``w (B,)``, ``L_I``, ``L_D``, ``total``, ``sigma_i``,
        ``sigma_d``.
    """
    lsi = log_sigma_i.clamp(-clamp, clamp)
    lsd = log_sigma_d.clamp(-clamp, clamp)
    if bool(valid.any()):
        s = scores.masked_fill(~valid, float('-inf'))
        w = torch.softmax(s, 0)
    else:
        w = scores * 0.
    ce0 = torch.where(valid, ce, torch.zeros_like(ce))
    L_I = (w * ce0).sum()
    L_D = cluster_mean_variance(w, clusters, valid)
    total = (L_I * torch.exp(-2 * lsi) + 0.5 * L_D * torch.exp(-2 * lsd) +
             lsi + lsd)
    return dict(w=w, L_I=L_I, L_D=L_D, total=total, sigma_i=lsi.exp(),
                sigma_d=lsd.exp())
