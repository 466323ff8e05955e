"""SegEarth-OV3's dual-head fusion of SAM 3 outputs, gated by presence."""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ovseg_plugins.utils.typing import OptMultiConfig


@MODELS.register_module()
class DualHeadFusionDecoder(BaseModule):
    """Fuse SAM 3's instance masks and semantic head into per-query maps.

    For each query q (values in [0, 1], no softmax across queries)::

        presence = σ(presence_logit)
        s_k      = σ(logit_k) · presence          (upstream's object score)
        P_inst   = max_k m_k · s_k  over k with s_k > confidence_threshold
        P        = max(P_inst, σ(semantic))        (use_sem_seg)
        P        = P · presence                    (use_presence_score)

    ``m_k`` and the semantic map are bilinearly upsampled (as logits) to the
    output size, then passed through the sigmoid. The authors apply presence
    twice on the instance path (inside ``s_k`` and at the end); that is the
    default (``presence_on_instances='twice'``) for parity. With ``'once'``
    the instance scores are ``σ(logit_k)`` (threshold included) and presence
    gates only at the end.

    Args:
        confidence_threshold (float): Instance score threshold.
        use_sem_seg (bool): Fuse the semantic head. Defaults to True.
        use_transformer_decoder (bool): Use the instance masks. Defaults True.
        use_presence_score (bool): Final presence gate. Defaults to True.
        presence_on_instances (str): 'twice' (authors) or 'once'.
    """

    def __init__(self,
                 confidence_threshold: float = 0.5,
                 use_sem_seg: bool = True,
                 use_transformer_decoder: bool = True,
                 use_presence_score: bool = True,
                 presence_on_instances: str = 'twice',
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        if presence_on_instances not in ('twice', 'once'):
            raise ValueError("presence_on_instances must be 'twice' or "
                             f"'once', got {presence_on_instances!r}")
        if not (use_sem_seg or use_transformer_decoder):
            raise ValueError('DualHeadFusionDecoder needs use_sem_seg or '
                             'use_transformer_decoder (or both).')
        self.confidence_threshold = float(confidence_threshold)
        self.use_sem_seg = use_sem_seg
        self.use_transformer_decoder = use_transformer_decoder
        self.use_presence_score = use_presence_score
        self.presence_on_instances = presence_on_instances

    def forward(self, pred_masks: torch.Tensor, pred_logits: torch.Tensor,
                presence_logits: torch.Tensor, semantic_seg: torch.Tensor,
                out_size: Tuple[int, int]) -> torch.Tensor:
        """Fuse.

        Args:
            pred_masks (Tensor): ``(Q, K, h, w)`` instance mask logits.
            pred_logits (Tensor): ``(Q, K)`` instance logits.
            presence_logits (Tensor): ``(Q, 1)`` presence logits.
            semantic_seg (Tensor): ``(Q, 1, h', w')`` semantic logits.
            out_size (tuple): ``(H, W)``.

        Returns:
            Tensor: ``(Q, H, W)`` fused probabilities.
        """
        Q = pred_logits.shape[0]
        presence = torch.sigmoid(presence_logits.float()).view(Q, 1, 1)
        fused = torch.zeros((Q, ) + tuple(out_size),
                            device=pred_logits.device)
        if self.use_transformer_decoder:
            scores = torch.sigmoid(pred_logits.float())
            if self.presence_on_instances == 'twice':
                scores = scores * presence.view(Q, 1)
            for q in range(Q):  # per query: only its kept instances
                keep = scores[q] > self.confidence_threshold
                if keep.any():
                    m = F.interpolate(pred_masks[q:q + 1, keep].float(),
                                      size=out_size, mode='bilinear',
                                      align_corners=False)[0].sigmoid()
                    fused[q] = (m * scores[q, keep].view(-1, 1, 1)).amax(0)
        if self.use_sem_seg:
            sem = F.interpolate(semantic_seg.float(), size=out_size,
                                mode='bilinear', align_corners=False)
            fused = torch.maximum(fused, sem[:, 0].sigmoid())
        if self.use_presence_score:
            fused = fused * presence
        return fused
