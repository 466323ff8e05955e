"""CLS-token-removal head: SegEarth-OV's global bias alleviation."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ovseg_plugins.utils.typing import OptMultiConfig


@MODELS.register_module()
class CLSRemovalHead(BaseModule):
    """Cosine logits with the CLS token's bias removed.

    ``logit_q(x) = cos(f_x, t_q) + λ · cos(c, t_q)`` with f the (upsampled)
    patch feature, c the CLS token of the same modified path and t_q the unit
    text embedding of query q. A negative λ (default −0.3) subtracts the
    global bias; λ = 0 turns it off (SegEarth-OV's xBD setting). It is applied
    after upsampling, with no renormalisation.

    Args:
        cls_token_lambda (float): λ. Defaults to -0.3.
    """

    def __init__(self, cls_token_lambda: float = -0.3,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.cls_token_lambda = float(cls_token_lambda)

    def forward(self, feats: torch.Tensor, cls_token: torch.Tensor,
                text: torch.Tensor) -> torch.Tensor:
        """Compute query logits.

        Args:
            feats (Tensor): ``(B, D, H, W)`` dense features.
            cls_token (Tensor): ``(B, D)`` CLS features.
            text (Tensor): ``(Q, D)`` unit text embeddings.

        Returns:
            Tensor: ``(B, Q, H, W)`` logits (cosine scale, before logit_scale).
        """
        if feats.shape[1] != text.shape[1]:
            raise ValueError(
                f'CLSRemovalHead: feature dim {feats.shape[1]} != text dim '
                f'{text.shape[1]}; the backbone and text encoder must come from '
                'the same CLIP model.')
        text = text.to(feats.dtype)
        logits = torch.einsum('bchw,qc->bqhw', F.normalize(feats, dim=1), text)
        if self.cls_token_lambda != 0:
            cls_logits = F.normalize(cls_token, dim=-1).to(text.dtype) @ text.t()
            logits = logits + self.cls_token_lambda * cls_logits[..., None,
                                                                  None]
        return logits
