"""2D→3D feature lifting (GeoPurify stage A), vectorised.

No per-point Python dictionaries: projection, visibility and the
consensus-weighted top-k fusion are tensor operations over (views, points).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F


def project_points(xyz: torch.Tensor, cam2world: torch.Tensor,
                   intrinsic: torch.Tensor, image_hw: Tuple[int, int],
                   depth: Optional[torch.Tensor] = None,
                   cut_boundary: int = 10,
                   vis_threshold: float = 0.05
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Project points into one posed view.

    Args:
        xyz (Tensor): ``(N, 3)`` world coordinates.
        cam2world (Tensor): ``(4, 4)`` camera-to-world pose.
        intrinsic (Tensor): ``(3, 3)`` pinhole intrinsics for ``image_hw``.
        image_hw (tuple): ``(H, W)``.
        depth (Tensor, optional): ``(H, W)`` depth in metres; a point is
            occluded when ``|depth(u, v) - z| > vis_threshold · depth(u, v)``.
            Without depth only the frustum test applies.
        cut_boundary (int): Pixels this close to the border are not used.
        vis_threshold (float): Relative depth tolerance (0.05 ScanNet,
            0.02 Matterport).

    Returns:
        tuple: ``pixels (N, 2)`` long ``(u, v)`` and ``visible (N,)`` bool.
    """
    H, W = image_hw
    w2c = torch.linalg.inv(cam2world.double()).float()
    p = xyz.float() @ w2c[:3, :3].t() + w2c[:3, 3]
    z = p[:, 2]
    uv = p @ intrinsic.float().t()
    u = torch.round(uv[:, 0] / z.clamp(min=1e-6)).long()
    v = torch.round(uv[:, 1] / z.clamp(min=1e-6)).long()
    vis = (z > 1e-6) & (u >= cut_boundary) & (u < W - cut_boundary) & \
        (v >= cut_boundary) & (v < H - cut_boundary)
    if depth is not None:
        d = torch.zeros_like(z)
        d[vis] = depth[v[vis], u[vis]].float()
        vis = vis & (d > 0) & ((d - z).abs() <= vis_threshold * d)
    return torch.stack([u, v], 1), vis


def sample_feature_map(feat_map: torch.Tensor, pixels: torch.Tensor,
                       visible: torch.Tensor,
                       image_hw: Tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour sample of a ``(D, h, w)`` map (any resolution) at
    the image pixels of the visible points; invisible rows are zero."""
    D, h, w = feat_map.shape
    H, W = image_hw
    out = feat_map.new_zeros(pixels.shape[0], D)
    if visible.any():
        u = (pixels[visible, 0].float() * w / W).long().clamp(0, w - 1)
        v = (pixels[visible, 1].float() * h / H).long().clamp(0, h - 1)
        out[visible] = feat_map[:, v, u].t()
    return out


def consensus_topk_fusion(view_feats: torch.Tensor, visible: torch.Tensor,
                          text: torch.Tensor, logit_scale: float = 100.,
                          k: int = 3) -> Tuple[torch.Tensor, torch.Tensor]:
    """Consensus-weighted top-k fusion of per-view point features.

    Per point over the views where it is visible: per-view features are
    L2-normalised and scored ``ℓ_v = s · f_v · tᵀ``; the consensus class is
    ``argmax mean_v ℓ_v``; each view's agreement is ``ℓ_v[c*]``; the top
    ``min(M, k)`` views are combined with ``softmax(agreement)`` weights.

    Args:
        view_feats (Tensor): ``(V, N, D)``.
        visible (Tensor): ``(V, N)`` bool.
        text (Tensor): ``(C, D)`` class embeddings.

    Returns:
        tuple: fused ``(N, D)`` (zeros where never seen) and ``seen (N,)``.
    """
    f = F.normalize(view_feats.float(), dim=-1)
    t = F.normalize(text.float(), dim=-1)
    logits = logit_scale * torch.einsum('vnd,cd->vnc', f, t)
    m = visible.float()[..., None]
    count = visible.sum(0)
    seen = count > 0
    mean = (logits * m).sum(0) / count.clamp(min=1)[:, None]
    c_star = mean.argmax(1)  # (N,)
    agree = logits.gather(2, c_star.view(1, -1, 1).expand(
        logits.shape[0], -1, 1))[..., 0]  # (V, N)
    agree = agree.masked_fill(~visible, -float('inf'))
    kk = min(k, view_feats.shape[0])
    top, idx = agree.topk(kk, dim=0)  # (kk, N)
    w = torch.softmax(top, dim=0)
    w = torch.nan_to_num(w, nan=0.0)  # never-seen points: all -inf
    w = w.masked_fill(~torch.isfinite(top), 0.0)
    picked = f.gather(0, idx[..., None].expand(-1, -1, f.shape[-1]))
    fused = (w[..., None] * picked).sum(0)
    fused[~seen] = 0
    return fused, seen


def fill_unseen(xyz: torch.Tensor, fused: torch.Tensor,
                seen: torch.Tensor) -> torch.Tensor:
    """Copy the feature of the nearest seen point to every unseen point."""
    if seen.all() or not seen.any():
        return fused
    src = xyz[seen]
    out = fused.clone()
    q = (~seen).nonzero(as_tuple=True)[0]
    for s in range(0, len(q), 4096):
        qi = q[s:s + 4096]
        nn_idx = torch.cdist(xyz[qi].float(), src.float()).argmin(1)
        out[qi] = fused[seen][nn_idx]
    return out
