"""GeoPurify's student affinity network on sparse voxels."""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule

from ovseg_plugins.seg3d.ops import SubMConv3d


class _SparseBlock(nn.Module):

    def __init__(self, c, backend='auto'):
        super().__init__()
        self.conv1 = SubMConv3d(c, c, backend=backend)
        self.bn1 = nn.BatchNorm1d(c)
        self.conv2 = SubMConv3d(c, c, backend=backend)
        self.bn2 = nn.BatchNorm1d(c)

    def forward(self, x, coords, cache):
        y = F.relu(self.bn1(self.conv1(x, coords, cache)))
        y = self.bn2(self.conv2(y, coords, cache))
        return F.relu(x + y)


@MODELS.register_module()
class StudentAffinityNet(BaseModule):
    """3³ submanifold conv → ``num_blocks`` residual blocks → 1×1 → unit
    embeddings; no down-sampling (stride 1 everywhere).

    Input per voxel: ``[fused 2D feature | rgb | normal]``. Pure-PyTorch
    sparse convolution (:class:`SubMConv3d`), so it trains on CPU.

    Args:
        in_channels (int): Defaults to 512 + 6.
        hidden_channels (int): Defaults to 512.
        embed_dim (int): Defaults to 128.
        num_blocks (int): Defaults to 4.
        sparse_backend (str): ``'auto'`` (spconv on CUDA when installed,
            else the pure-PyTorch convolution), ``'torch'`` or ``'spconv'``.
    """

    def __init__(self, in_channels: int = 518, hidden_channels: int = 512,
                 embed_dim: int = 128, num_blocks: int = 4,
                 sparse_backend: str = 'auto',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.stem = SubMConv3d(in_channels, hidden_channels,
                               backend=sparse_backend)
        self.stem_bn = nn.BatchNorm1d(hidden_channels)
        self.blocks = nn.ModuleList(
            _SparseBlock(hidden_channels, sparse_backend)
            for _ in range(num_blocks))
        self.head = nn.Linear(hidden_channels, embed_dim)

    def forward(self, feats: torch.Tensor,
                coords: torch.Tensor) -> torch.Tensor:
        """``(V, C_in)`` voxel features at ``(V, 4)`` coords -> ``(V, D)``
        L2-normalised embeddings."""
        if feats.shape[1] != self.in_channels:
            raise ValueError(
                f'StudentAffinityNet expects {self.in_channels} input '
                f'channels ([fused feature | rgb | normal]), got '
                f'{feats.shape[1]}')
        if not torch.isfinite(feats).all():
            raise ValueError('StudentAffinityNet input contains NaN/inf')
        cache: Dict = {}
        x = F.relu(self.stem_bn(self.stem(feats, coords, cache)))
        for blk in self.blocks:
            x = blk(x, coords, cache)
        return F.normalize(self.head(x), dim=-1)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs):
        """Refuse weights without this student, or of other sizes, even
        from a non-strict loader (mmengine's ``load_checkpoint``, used by
        ``mmdet3d.apis.init_model``, only warns and keeps random weights).

        Raises:
            KeyError: Missing student keys or shape mismatches, named.
        """
        own = {k: v for k, v in self.state_dict(prefix=prefix).items()
               if not k.endswith('num_batches_tracked')}
        missing = sorted(k for k in own if k not in state_dict)
        shapes = [f'{k}: weights {tuple(state_dict[k].shape)} vs model '
                  f'{tuple(v.shape)}' for k, v in own.items()
                  if k in state_dict and hasattr(state_dict[k], 'shape')
                  and tuple(state_dict[k].shape) != tuple(v.shape)]
        if missing or shapes:
            what = (f'missing {missing[:3]} ({len(missing)} keys)'
                    if missing else 'shape mismatches: ' +
                    '; '.join(shapes[:3]))
            raise KeyError(
                f'StudentAffinityNet: the weights loaded into {prefix or ""}'
                f'* do not hold this student ({what}); give a checkpoint of '
                'this GeoPurify config (the student\'s sizes are in '
                'model.backbone).')
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
