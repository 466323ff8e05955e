"""GeoPurify's distillation loss: InfoNCE on teacher-chosen pairs."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet3d.registry import MODELS

from ovseg_plugins.utils.validation import check_int


def sample_pairs(teacher: torch.Tensor, knn: torch.Tensor, num_anchors: int,
                 num_macro: int = 48, num_micro: int = 15,
                 generator: Optional[torch.Generator] = None):
    """Anchors, positives and negatives chosen by teacher similarity.

    Positive: the teacher-most-similar point of the whole scene (not the
    anchor). Macro negatives: the ``num_macro`` least similar in the scene
    (anchor and positive excluded). Micro negatives: the ``num_micro`` least
    similar among the anchor's spatial neighbours ``knn``, read from the
    same masked similarities as the macro negatives (anchor and positive at
    ``+inf``, as the authors' code, which reuses the modified matrix): the
    positive is never a micro negative, even under ties, unless the
    neighbourhood has fewer than ``num_micro`` other points.

    The rows are whatever the caller samples: the authors sample points
    (the student then sees only the voxels that hold sampled points); the
    :class:`GeoPurifySegmentor` samples voxels of the whole voxelised
    scene, so that the student runs once on the full scene (the same
    sparse convolution context as at inference) and each voxel counts once
    however many points it holds.

    Args:
        teacher (Tensor): ``(N, Dt)`` teacher features.
        knn (Tensor | callable): ``(N, K)`` spatial neighbours (K ≥
            num_micro), or a function ``anchors (A,) -> (A, K)`` that finds
            them for the anchors only.
        num_anchors (int): Anchors (capped at N // 3, at least 1).

    Returns:
        tuple: ``anchors (A,)``, ``positives (A,)``, ``negatives (A, M)``.
    """
    N = teacher.shape[0]
    if N < 3:
        raise ValueError(f'InfoNCE pair sampling needs ≥ 3 points, got {N}')
    A = max(1, min(num_anchors, N // 3))
    anchors = torch.randperm(N, generator=generator,
                             device='cpu')[:A].to(teacher.device)
    t = F.normalize(teacher.float(), dim=-1)
    sim = t[anchors] @ t.t()  # (A, N): A x N, never N x N
    ar = torch.arange(A, device=sim.device)
    s_pos = sim.clone()
    s_pos[ar, anchors] = -float('inf')
    positives = s_pos.argmax(1)
    s_neg = sim.clone()
    s_neg[ar, anchors] = float('inf')
    s_neg[ar, positives] = float('inf')
    macro = s_neg.topk(min(num_macro, N - 2), dim=1, largest=False).indices
    nb = knn(anchors) if callable(knn) else knn[anchors]
    micro_sim = s_neg.gather(1, nb)  # anchor, positive masked (+inf)
    micro = nb.gather(1, micro_sim.topk(min(num_micro, nb.shape[1]), dim=1,
                                        largest=False).indices)
    return anchors, positives, torch.cat([macro, micro], 1)


def info_nce(student: torch.Tensor, anchors, positives, negatives,
             tau: float = 0.07) -> torch.Tensor:
    """Cross-entropy of ``[cos(a, p), cos(a, n_1..M)] / tau`` with target 0."""
    s = F.normalize(student, dim=-1)
    a = s[anchors]
    pos = (a * s[positives]).sum(-1, keepdim=True)
    neg = (a[:, None, :] * s[negatives]).sum(-1)
    logits = torch.cat([pos, neg], 1) / tau
    return F.cross_entropy(logits, logits.new_zeros(len(anchors),
                                                    dtype=torch.long))


@MODELS.register_module()
class AffinityInfoNCELoss(nn.Module):
    """InfoNCE distillation of a teacher's affinity ordering (GeoPurify).

    Args:
        num_anchors (int): Anchors per scene. Defaults to 4096.
        num_macro (int): Scene-wide negatives. Defaults to 48.
        num_micro (int): Negatives among the spatial neighbours. Defaults 15.
        tau (float): Temperature. Defaults to 0.07.
        loss_weight (float): Defaults to 1.0.
        knn (int): Spatial neighbours the micro negatives are drawn from
            (the segmentor's kNN on voxel coordinates). Defaults to 96.
    """

    def __init__(self, num_anchors: int = 4096, num_macro: int = 48,
                 num_micro: int = 15, tau: float = 0.07,
                 loss_weight: float = 1.0, knn: int = 96):
        super().__init__()
        self.knn = check_int('knn', knn, 'AffinityInfoNCELoss', lo=1)
        self.num_anchors = num_anchors
        self.num_macro = num_macro
        self.num_micro = num_micro
        self.tau = tau
        self.loss_weight = loss_weight

    def forward(self, student: torch.Tensor, teacher: torch.Tensor,
                knn: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Loss of one scene: ``student (N, D)``, ``teacher (N, Dt)``,
        ``knn (N, K)`` or a callable ``anchors -> (A, K)``."""
        if student.shape[0] != teacher.shape[0]:
            raise ValueError(f'student has {student.shape[0]} points, teacher '
                             f'{teacher.shape[0]}')
        if not torch.isfinite(teacher).all():
            raise ValueError('teacher features contain NaN/inf')
        a, p, n = sample_pairs(teacher, knn, self.num_anchors, self.num_macro,
                               self.num_micro, generator)
        return self.loss_weight * info_nce(student, a, p, n, self.tau)
