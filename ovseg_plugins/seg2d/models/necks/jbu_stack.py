"""FeatUp's JBU stack: four separate radius-3 joint-bilateral stages."""
from typing import Optional

import torch.nn as nn
from mmseg.registry import MODELS

from ovseg_plugins.utils.typing import OptMultiConfig
from .jbu_learned_range import JBULearnedRange
from .jbu_upsampler_base import JBUUpsamplerBase


@MODELS.register_module()
class JBUStack(JBUUpsamplerBase):
    """Four JBU stages (``up1``..``up4``, radius 3, 7×7 kernels), ×16 in all;
    loads FeatUp's ``*_jbu_stack_*.ckpt`` checkpoints. A fifth and later stage
    (patch 32) reuses ``up4``.

    Args:
        feat_dim (int): Feature channels. Defaults to 512.
        radius (int): Kernel radius. Defaults to 3.
        key_dim (int): Range-key channels. Defaults to 32.
        num_stages (int, optional): Defaults to ``ceil(log2(H / h))``.
        impl (str): 'loop' or 'unfold'.
        checkpoint (str, optional): Weights loaded strictly at build time.
        zero_init_fixup (bool): See :class:`JBUUpsamplerBase`.
    """

    def __init__(self, feat_dim: int = 512, radius: int = 3,
                 key_dim: int = 32, num_stages: Optional[int] = None,
                 impl: str = 'loop', checkpoint: Optional[str] = None,
                 init_cfg: OptMultiConfig = None,
                 zero_init_fixup: bool = True):
        super().__init__(feat_dim, num_stages, checkpoint, init_cfg,
                         zero_init_fixup)
        for i in range(1, 5):
            self.add_module(f'up{i}',
                            JBULearnedRange(3, key_dim, radius, impl=impl,
                                            zero_init_fixup=zero_init_fixup))
        self._load_pending_checkpoint()

    def stage(self, i: int) -> nn.Module:
        return getattr(self, f'up{min(i, 3) + 1}')
