"""CoIDO's importance-diversity scorer: an MLP, one unbounded scalar."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from ovseg_plugins.utils.typing import OptMultiConfig


def _block(cin: int, cout: int, dropout: float, act: bool = True):
    layers = [nn.Linear(cin, cout), nn.LayerNorm(cout)]
    if act:
        layers += [nn.GELU(), nn.Dropout(dropout)]
    return layers


@MODELS.register_module()
class CoIDOScorer(BaseModule):
    """Per-sample importance-diversity score (CoIDO, Yan et al. 2025).

    Every block is Linear -> LayerNorm -> GELU -> Dropout; the output is a raw,
    unbounded scalar (no sigmoid): the weights are a softmax of these scores
    over the (global) batch, and selection keeps the lowest scores.

    Flow::

        embed (B, D)  -> embed_proj  -> (B, H)  \
                                                 cat (B, 2H) -> fusion (B, H)
        stats (B, k)  -> stats_proj  -> (B, H)  /
        h = fused + enhancer(fused)  (residual)  -> head -> (B,)

    Args:
        embed_dim (int): D of the bank embeddings.
        stats_dim (int): k label statistics (0: embeddings only).
        hidden (int): H. Defaults to 256 (the authors' code).
        dropout (float): Defaults to 0.1.
        init_cfg (dict, optional): Defaults to trunc-normal(0.02) Linear.
    """

    def __init__(self, embed_dim: int, stats_dim: int = 0, hidden: int = 256,
                 dropout: float = 0.1, init_cfg: OptMultiConfig = dict(
                     type='TruncNormal', layer='Linear', std=0.02, bias=0.)):
        super().__init__(init_cfg=init_cfg)
        if embed_dim <= 0:
            raise ValueError(f'embed_dim must be > 0, got {embed_dim}.')
        H = hidden
        self.embed_dim, self.stats_dim = embed_dim, stats_dim
        self.embed_proj = nn.Sequential(*_block(embed_dim, 2 * H, dropout),
                                        *_block(2 * H, H, dropout))
        self.stats_proj = nn.Sequential(
            *_block(stats_dim, H // 2, dropout),
            *_block(H // 2, H, dropout)) if stats_dim > 0 else None
        cin = 2 * H if stats_dim > 0 else H
        self.fusion = nn.Sequential(*_block(cin, H, dropout),
                                    *_block(H, H, dropout, act=False))
        self.enhancer = nn.Sequential(*_block(H, 2 * H, dropout),
                                      *_block(2 * H, H, dropout, act=False))
        self.head = nn.Sequential(*_block(H, H // 2, dropout),
                                  nn.Linear(H // 2, 1))

    def forward(self, embed: torch.Tensor,
                stats: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Args: embed ``(B, D)``, stats ``(B, k)``. Returns ``(B,)``."""
        if embed.shape[-1] != self.embed_dim:
            raise ValueError(f'CoIDOScorer expects {self.embed_dim}-d '
                             f'embeddings, got {embed.shape[-1]}.')
        h = self.embed_proj(embed)
        if self.stats_proj is not None:
            if stats is None or stats.shape[-1] != self.stats_dim:
                raise ValueError(f'CoIDOScorer expects {self.stats_dim} '
                                 'label statistics per sample.')
            h = torch.cat([h, self.stats_proj(stats)], -1)
        h = self.fusion(h)
        h = h + self.enhancer(h)
        return self.head(h).squeeze(-1)
