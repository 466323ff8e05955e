"""SimFeatUp neck: SegEarth-OV's "JBU-one" learned feature upsampler."""
from typing import Optional

from mmseg.registry import MODELS

from ovseg_plugins.utils.typing import OptMultiConfig
from .jbu_learned_range import JBULearnedRange
from .jbu_upsampler_base import JBUUpsamplerBase


@MODELS.register_module()
class SimFeatUp(JBUUpsamplerBase):
    """One joint-bilateral module (radius 5, 11×11 kernel) applied at every
    ×2 stage, pure PyTorch (no compiled extension).

    Loads SegEarth-OV's ``xclip_jbu_one_million_aid.ckpt`` (``upsampler.up.*``,
    ``upsampler.fixup_proj.*``), ``tools/model_converters/simfeatup2ovseg.py``
    outputs and ``SimFeatUpTrainer`` checkpoints (``checkpoint=`` or
    ``init_cfg=dict(type='Pretrained', checkpoint=...)``).

    Args:
        feat_dim (int): Feature channels. Defaults to 512.
        radius (int): Kernel radius. Defaults to 5.
        key_dim (int): Range-key channels. Defaults to 32.
        num_stages (int, optional): Defaults to ``ceil(log2(H / h))``.
        impl (str): 'loop' (memory-lean, default) or 'unfold' (reference).
        checkpoint (str, optional): Weights loaded strictly at build time.
        zero_init_fixup (bool): See :class:`JBUUpsamplerBase`.
    """

    def __init__(self, feat_dim: int = 512, radius: int = 5,
                 key_dim: int = 32, num_stages: Optional[int] = None,
                 impl: str = 'loop', checkpoint: Optional[str] = None,
                 init_cfg: OptMultiConfig = None,
                 zero_init_fixup: bool = True):
        super().__init__(feat_dim, num_stages, checkpoint, init_cfg,
                         zero_init_fixup)
        self.up = JBULearnedRange(3, key_dim, radius, impl=impl,
                                  zero_init_fixup=zero_init_fixup)
        self._load_pending_checkpoint()

    def stage(self, i: int):
        return self.up
