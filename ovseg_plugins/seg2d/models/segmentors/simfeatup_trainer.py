"""SimFeatUp training recipe as an mmengine model (FeatUp + image loss)."""
import random
from typing import Dict, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmseg.registry import MODELS

from ovseg_plugins.utils.typing import (ConfigType, OptConfigType,
                                        OptMultiConfig, OptSampleList)
from ..utils.clip_preprocessor import clip_data_preprocessor
from ..utils.jitter import apply_jitter, sample_jitter


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of ``(B, C, H, W)``."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@MODELS.register_module()
class SimFeatUpTrainer(BaseModel):
    """Train a feature upsampler (SimFeatUp / JBUStack) for any featurizer.

    Call flow of one step (``loss``)::

        x (B, 3[+extra], H, W) -> frozen featurizer -> lr (B, C, H/p, W/p)
        hr = upsampler(lr, x[:, :3])                       (B, C, H, W)
        for each of n_jitters random (pad ≤ max_pad, zoom ≤ max_zoom, crop,
        flip) transforms T:
            target = featurizer(T(x));  pred = downsampler(T(hr))
            both projected on a fresh random C x 30 unit projection
            L_rec += mean(mse / (2 s²) + log s),  s = exp(scale_net(target))
            L_img += mse(CRN(T(hr)), T(x)[:, :3])  (Content Retention Net)
        L = L_rec / n + rec_img_weight · L_img / n

    Extra input channels (beyond RGB) travel through the jitters with the
    image and are seen by the featurizer only (e.g. label maps for a
    label-derived featurizer); the upsampler is guided by ``x[:, :3]``.

    The featurizer is frozen and left out of saved checkpoints, so a
    checkpoint holds ``upsampler.*`` (which the neck loads directly),
    ``downsampler.*``, ``scale_net.*`` and ``crn.*``.

    Args:
        featurizer (dict): Frozen feature source, e.g. :class:`DenseCLIPViT`.
            Its forward returns features or a tuple whose first item they are.
        upsampler (dict): The neck to train (``SimFeatUp``, ``JBUStack``).
        downsampler (dict): ``AttentionDownsampler`` (dim, kernel_size=patch).
        feature_layer (str): For a :class:`DenseCLIPViT` featurizer:
            'penultimate' (the last block bypassed, as the authors trained) or
            'modified_last' (the output SegEarth-OV applies it to).
        n_jitters (int): Defaults to 5.
        max_pad (int): Defaults to 20.
        max_zoom (float): Defaults to 2.
        random_projection (int, optional): Projection dim. Defaults to 30.
        outlier_detection (bool): Learned per-pixel uncertainty.
        rec_img_weight (float): Weight of the image loss. Defaults to 0.1.
        seed (int, optional): Seed of the jitter RNG.
    """

    def __init__(self,
                 featurizer: ConfigType,
                 upsampler: ConfigType,
                 downsampler: ConfigType,
                 feature_layer: str = 'penultimate',
                 n_jitters: int = 5,
                 max_pad: int = 20,
                 max_zoom: float = 2.0,
                 random_projection: Optional[int] = 30,
                 outlier_detection: bool = True,
                 rec_img_weight: float = 0.1,
                 seed: Optional[int] = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None):
        # mmseg's training-mode stack_batch needs a size or size_divisor
        super().__init__(data_preprocessor=data_preprocessor
                         or clip_data_preprocessor(size_divisor=32),
                         init_cfg=init_cfg)
        if feature_layer not in ('penultimate', 'modified_last'):
            raise ValueError("feature_layer must be 'penultimate' or "
                             f"'modified_last', got {feature_layer!r}")
        self.featurizer = MODELS.build(featurizer)
        self.featurizer.requires_grad_(False)
        self.upsampler = MODELS.build(upsampler)
        self.downsampler = MODELS.build(downsampler)
        dim = self.upsampler.feat_dim
        self.scale_net = nn.Conv2d(dim, 1, 1) if outlier_detection else None
        self.crn = nn.Sequential(
            nn.Conv2d(dim, dim, 1), LayerNorm2d(dim), nn.GELU(),
            nn.Conv2d(dim, 3, 1), nn.Tanh())
        self.feature_layer = feature_layer
        self.n_jitters = n_jitters
        self.max_pad = max_pad
        self.max_zoom = max_zoom
        self.random_projection = random_projection
        self.rec_img_weight = rec_img_weight
        self.rng = random.Random(seed)
        self._register_state_dict_hook(_drop_featurizer)

    def train(self, mode: bool = True):
        super().train(mode)
        self.featurizer.eval()  # frozen, always in eval mode
        return self

    @torch.no_grad()
    def featurize(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self.featurizer, 'attn_mode'):  # DenseCLIPViT
            out = self.featurizer(
                x[:, :3], skip_last_block=self.feature_layer == 'penultimate')
        else:
            out = self.featurizer(x)
        return out[0] if isinstance(out, (tuple, list)) else out

    def _project(self, a, b):
        if not self.random_projection:
            return a, b
        C = a.shape[1]
        proj = torch.randn(C, self.random_projection, device=a.device,
                           dtype=a.dtype)
        proj = proj / proj.norm(dim=0, keepdim=True)
        return (torch.einsum('bchw,cd->bdhw', a, proj),
                torch.einsum('bchw,cd->bdhw', b, proj))

    def loss(self, inputs: torch.Tensor,
             data_samples: OptSampleList = None) -> Dict[str, torch.Tensor]:
        """Multi-view reconstruction + image losses for a batch of crops."""
        x = inputs
        lr = self.featurize(x)
        hr = self.upsampler(lr, x[:, :3])
        H, W = x.shape[-2:]
        rec, img = 0., 0.
        for _ in range(self.n_jitters):
            p = sample_jitter(H, W, self.max_pad, self.max_zoom, self.rng)
            jx = apply_jitter(x, p)
            target = self.featurize(jx)
            jhr = apply_jitter(hr, p)
            pred = self.downsampler(jhr, jx[:, :3])
            if pred.shape != target.shape:
                raise ValueError(
                    f'downsampled {tuple(pred.shape)} != featurizer '
                    f'{tuple(target.shape)}: set the downsampler kernel_size '
                    'to the featurizer\'s patch size')
            mse_src = self.scale_net(target) if self.scale_net else None
            pred_p, target_p = self._project(pred, target)
            mse = (pred_p - target_p).square().mean(1, keepdim=True)
            if mse_src is not None:
                rec = rec + (mse / (2 * torch.exp(2 * mse_src)) +
                             mse_src).mean()
            else:
                rec = rec + mse.mean()
            img = img + F.mse_loss(self.crn(jhr), jx[:, :3])
        n = self.n_jitters
        return dict(loss_rec=rec / n,
                    loss_img=self.rec_img_weight * img / n)

    def _forward(self, inputs: torch.Tensor,
                 data_samples: OptSampleList = None) -> torch.Tensor:
        """High-resolution features ``(B, C, H, W)``."""
        return self.upsampler(self.featurize(inputs), inputs[:, :3])

    def forward(self, inputs: torch.Tensor,
                data_samples: OptSampleList = None,
                mode: str = 'tensor') -> Union[Dict, torch.Tensor]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode in ('tensor', 'predict'):
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')


def _drop_featurizer(module, state_dict, prefix, local_metadata):
    for k in [k for k in state_dict if k.startswith(prefix + 'featurizer.')]:
        del state_dict[k]
    return state_dict
