"""Shared machinery of the joint-bilateral upsampler necks."""
import math
from collections import OrderedDict
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ovseg_plugins.utils.checkpoint import (load_state_dict_strict,
                                            load_torch_file)
from ovseg_plugins.utils.deferred_weights import DeferredWeights
from ovseg_plugins.utils.typing import OptMultiConfig


def extract_upsampler_state_dict(ckpt: dict, source: str) -> Dict[str,
                                                                  torch.Tensor]:
    """Upsampler weights from any of the supported checkpoint formats.

    * SegEarth-OV / SimFeatUp Lightning ``.ckpt``: ``{'state_dict':
      {'upsampler.up.*', 'upsampler.fixup_proj.*'}}``;
    * FeatUp JBU-stack ``.ckpt``: ``upsampler.up1..up4.*``;
    * our Runner checkpoints of ``SimFeatUpTrainer`` (``upsampler.*`` among
      downsampler / scale-net / CRN keys) and converted files;
    * a bare state dict of the neck.
    """
    sd = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict) or not all(
            isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f'{source}: no tensor state dict found (keys: '
                         f'{list(ckpt)[:8] if isinstance(ckpt, dict) else ckpt!r})')
    if any(k.startswith('upsampler.') for k in sd):
        sd = OrderedDict((k[len('upsampler.'):], v) for k, v in sd.items()
                         if k.startswith('upsampler.'))
    return sd


def upsample_levels(upsample, levels, name: str) -> tuple:
    """Neck-slot call of a guided upsampler inside a stock segmentor.

    mmseg's ``EncoderDecoder`` calls ``neck(backbone(inputs))`` without the
    image, so :class:`DenseCLIPViT` (``out_image=True``) appends the
    normalised image it was given as the last output level; the guided
    upsampler reads it there, upsamples level 0 (the patch features) and
    passes the other levels (CLS token, image) through.

    Args:
        upsample (Callable): ``(feats (B, C, h, w), image (B, 3, H, W)) ->
            (B, C, H, W)``.
        levels (tuple): ``(patch, ..., image)``.
        name (str): Neck name for error messages.

    Returns:
        tuple: ``(upsampled patch, *levels[1:])``.
    """
    image = levels[-1] if len(levels) >= 2 else None
    if image is None or image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(
            f'{name} in a neck slot needs the guidance image as the '
            'backbone\'s last output: set out_image=True on DenseCLIPViT '
            f'(got {len(levels)} levels, last '
            f'{tuple(getattr(image, "shape", ())) or type(image).__name__}).')
    return (upsample(levels[0], image), ) + tuple(levels[1:])


class JBUUpsamplerBase(DeferredWeights, BaseModule):
    """Common forward of SimFeatUp (one shared stage) and JBUStack.

    Each stage doubles the resolution with the guidance image average-pooled
    to that stage's size. The number of stages is ``ceil(log2(H / h))`` (16 ->
    4, 32 -> 5, 14 -> 4) unless ``num_stages`` is given; the result is resized
    to the image size when the stages overshoot (patch 14). Finally
    ``x + 0.1·conv1x1(dropout(x))``.

    Args:
        feat_dim (int): Feature channels C. Defaults to 512.
        num_stages (int, optional): Fixed number of ×2 stages.
        checkpoint (str, optional): Weights to load (strictly), any format of
            :func:`extract_upsampler_state_dict`: on first need (forward,
            :meth:`init_weights`, :meth:`ensure_weights`), unless a
            checkpoint of the whole model supplied the neck's tensors first
            (:class:`~ovseg_plugins.utils.deferred_weights.DeferredWeights`).
        init_cfg (dict, optional): ``dict(type='Pretrained',
            checkpoint=...)``: the same as ``checkpoint``.
        zero_init_fixup (bool): Zero-init the kernel corrections and the
            final ``conv1x1`` so an untrained upsampler starts as a plain
            joint-bilateral filter. Defaults to True.
    """

    def __init__(self, feat_dim: int = 512, num_stages: Optional[int] = None,
                 checkpoint: Optional[str] = None,
                 init_cfg: OptMultiConfig = None,
                 zero_init_fixup: bool = True):
        super().__init__(init_cfg=init_cfg)
        self.feat_dim = feat_dim
        self.num_stages = num_stages
        self.zero_init_fixup = zero_init_fixup
        self.fixup_proj = nn.Sequential(nn.Dropout2d(0.2),
                                        nn.Conv2d(feat_dim, feat_dim, 1))
        if zero_init_fixup:
            nn.init.zeros_(self.fixup_proj[1].weight)
            nn.init.zeros_(self.fixup_proj[1].bias)
        self._checkpoint = checkpoint

    def stage(self, i: int) -> nn.Module:
        raise NotImplementedError

    def _load_pending_checkpoint(self):
        """Register the named weights (``checkpoint`` or a ``Pretrained``
        ``init_cfg``), loaded on first need; call at the end of
        ``__init__``."""
        path = self._checkpoint
        cfg = self.init_cfg
        if path is None and isinstance(cfg, dict) and \
                cfg.get('type') == 'Pretrained':
            path = cfg['checkpoint']
        self.defer_weights(f'checkpoint={path!r}',
                           None if path is None else dict(path=path))

    def load_named_weights(self, path: str) -> None:
        self.load_checkpoint(path)

    def load_checkpoint(self, path: str) -> None:
        """Load upsampler weights strictly (clear error on key mismatch)."""
        sd = extract_upsampler_state_dict(
            load_torch_file(path, f'{type(self).__name__} checkpoint'), path)
        load_state_dict_strict(self, sd, source=f'upsampler weights {path!r}')

    def init_weights(self):
        if self.weights_pending or self.weights_source is not None:
            self.ensure_weights()  # named weights, never re-initialised
            self._is_init = True
            return
        super().init_weights()

    def forward(self, feats, image: Optional[torch.Tensor] = None):
        """Upsample features to the guidance image's size.

        Args:
            feats (Tensor | tuple): ``(B, C, h, w)`` low-resolution features
                (with ``image``), or, in a stock segmentor's neck slot, the
                backbone's output tuple whose first element is the features
                and last the guidance image (:class:`DenseCLIPViT` with
                ``out_image=True``).
            image (Tensor, optional): ``(B, 3, H, W)`` guidance (normalised
                image).

        Returns:
            Tensor | tuple: ``(B, C, H, W)``, or the input tuple with its
            first element upsampled.
        """
        self.ensure_weights()
        if isinstance(feats, (tuple, list)):
            return upsample_levels(self._upsample, feats, type(self).__name__)
        if image is None:
            raise ValueError(f'{type(self).__name__} needs the guidance image '
                             '(forward(feats, image)).')
        return self._upsample(feats, image)

    def _upsample(self, feats: torch.Tensor,
                  image: torch.Tensor) -> torch.Tensor:
        if feats.shape[1] != self.feat_dim:
            raise ValueError(
                f'{type(self).__name__} was built for feat_dim='
                f'{self.feat_dim} but got {feats.shape[1]} channels; set the '
                'neck\'s feat_dim to the backbone\'s embedding size.')
        H, W = image.shape[-2:]
        h, w = feats.shape[-2:]
        n = self.num_stages
        if n is None:
            n = max(0, math.ceil(math.log2(max(H / h, W / w)) - 1e-9))
        x = feats
        image = image.to(feats.dtype)
        for i in range(n):
            size = (x.shape[-2] * 2, x.shape[-1] * 2)
            x = self.stage(i)(x, F.adaptive_avg_pool2d(image, size))
        if x.shape[-2:] != (H, W):
            x = F.interpolate(x, (H, W), mode='bilinear', align_corners=False)
        return x + 0.1 * self.fixup_proj(x)
