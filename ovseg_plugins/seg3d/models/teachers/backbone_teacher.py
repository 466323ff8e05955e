"""Run any mmdet3d point backbone online as GeoPurify's teacher."""
from typing import Optional

import torch
import torch.nn as nn
from mmdet3d.registry import MODELS

from ovseg_plugins.utils.checkpoint import (load_state_dict_strict,
                                            load_torch_file)
from ovseg_plugins.utils.typing import ConfigType
from ...ops.knn import nearest_source


@MODELS.register_module()
class PointBackboneTeacher(nn.Module):
    """A frozen mmdet3d point backbone (PointNet++, DGCNN, ... or anything in
    the registry with that interface) producing per-point teacher features.

    The backbone receives ``(1, N, 3 + 3)`` points with colours multiplied
    by ``color_scale / 255`` (feed colours in the scale the teacher was
    trained with: 1.0 for [0, 1], 255 for 0..255). Its output dict's
    ``feature_key`` (last entry if a list; ``(1, C, M)``) at ``xyz_key``
    (``(1, M, 3)``) is mapped back to every input point by nearest
    neighbour; when ``xyz_key`` is None the features must be per input
    point.

    Args:
        backbone (dict): mmdet3d backbone config.
        checkpoint (str, optional): Weights (plain or ``state_dict``,
            ``prefix`` stripped), loaded strictly.
        prefix (str): Key prefix to strip, e.g. ``'backbone.'``.
        color_scale (float): Defaults to 1.0 (colours in [0, 1]).
        feature_key (str): Defaults to ``'fp_features'``.
        xyz_key (str, optional): Defaults to ``'fp_xyz'``.
    """

    def __init__(self, backbone: ConfigType,
                 checkpoint: Optional[str] = None, prefix: str = '',
                 color_scale: float = 1.0,
                 feature_key: str = 'fp_features',
                 xyz_key: Optional[str] = 'fp_xyz'):
        super().__init__()
        self.backbone = MODELS.build(backbone)
        if checkpoint is not None:
            sd = load_torch_file(checkpoint, 'teacher checkpoint')
            sd = sd.get('state_dict', sd)
            if prefix:
                sd = {k[len(prefix):]: v for k, v in sd.items()
                      if k.startswith(prefix)}
            load_state_dict_strict(self.backbone, sd, checkpoint)
        self.backbone.eval().requires_grad_(False)
        self.color_scale = color_scale
        self.feature_key = feature_key
        self.xyz_key = xyz_key

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # frozen: BN statistics never move
        return self

    @staticmethod
    def _last(x):
        return x[-1] if isinstance(x, (list, tuple)) else x

    @torch.no_grad()
    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """``points (N, ≥6)`` xyz rgb (0..255) -> ``(N, C)``."""
        inp = torch.cat([points[:, :3], points[:, 3:6] *
                         (self.color_scale / 255.)], 1).float()[None]
        out = self.backbone(inp)
        if not isinstance(out, dict) or self.feature_key not in out:
            raise KeyError(f'teacher backbone output has no '
                           f'{self.feature_key!r}; set feature_key to one '
                           f'of {list(out) if isinstance(out, dict) else []}')
        feats = self._last(out[self.feature_key])[0].t()  # (M, C)
        if self.xyz_key is None:
            if len(feats) != len(points):
                raise ValueError(
                    f'teacher returned {len(feats)} features for '
                    f'{len(points)} points; set xyz_key to map them back')
            return feats
        xyz = self._last(out[self.xyz_key])[0]
        return feats[nearest_source(points[:, :3], xyz)]
