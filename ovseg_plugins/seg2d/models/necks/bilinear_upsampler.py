"""Parameter-free bilinear feature upsampler (the default neck slot)."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ovseg_plugins.utils.typing import OptMultiConfig
from .jbu_upsampler_base import upsample_levels


@MODELS.register_module(name=['BilinearUpsampler', 'Bilinear'])
class BilinearUpsampler(BaseModule):
    """Resize low-resolution features to the guidance image's size.

    Same interface as SimFeatUp / JBUStack, so switching upsamplers is a
    config change only.

    Args:
        scale_factor (float, optional): Fixed factor instead of the image size.
        align_corners (bool): Passed to ``F.interpolate``. Defaults to False.

    ``parameter_free = True``: being linear and channel-wise, it may resize
    the query logits instead of the features; :class:`OVCLIPSegmentor` then
    computes cosine logits at patch resolution and resizes those (the
    SegEarth-OV authors' order, likyoo/SegEarth-OV ``segearth_segmentor.py``).
    """

    parameter_free = True

    def __init__(self,
                 scale_factor: Optional[float] = None,
                 align_corners: bool = False,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.scale_factor = scale_factor
        self.align_corners = align_corners

    def forward(self, feats, image: Optional[torch.Tensor] = None):
        """Upsample.

        Args:
            feats (Tensor | tuple): ``(B, C, h, w)`` features, or (stock
                segmentor's neck slot) the backbone's output tuple
                ``(patch, ..., image)`` (see :func:`upsample_levels`).
            image (Tensor, optional): ``(B, 3, H, W)`` guidance; its size is
                the output size unless ``scale_factor`` is set.

        Returns:
            Tensor | tuple: ``(B, C, H, W)``, or the tuple with its first
            element upsampled.
        """
        if isinstance(feats, (tuple, list)):
            return upsample_levels(self.forward, feats, type(self).__name__)
        if self.scale_factor is not None:
            return F.interpolate(feats, scale_factor=self.scale_factor,
                                 mode='bilinear',
                                 align_corners=self.align_corners)
        if image is None:
            raise ValueError('BilinearUpsampler needs the guidance image or a '
                             'scale_factor.')
        return F.interpolate(feats, size=image.shape[-2:], mode='bilinear',
                             align_corners=self.align_corners)
