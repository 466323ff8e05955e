"""Open-vocabulary classifier: cosine of features with class text
embeddings, the best-matching synonym of each class wins."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...ops.knn import nearest_source

__all__ = ['text_scores', 'point_scores', 'TextEmbeddingClassifier']


def text_scores(feats: torch.Tensor, text_embeds: torch.Tensor,
                query_to_class: torch.Tensor, num_classes: int,
                xyz: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Cosine with each query, max over a class's synonyms.

    Args:
        feats (Tensor): ``(N, C)`` features.
        text_embeds (Tensor): ``(Q, C)`` query embeddings.
        query_to_class (Tensor): ``(Q,)`` class of each query.
        num_classes (int): Classes.
        xyz (Tensor, optional): ``(N, 3)``; when given, points whose
            feature is exactly zero take the scores of the nearest point
            with a non-zero feature (the GeoPurify authors' rule; without
            it their scores are all 0 and the argmax is class 0).

    Returns:
        Tensor: ``(num_classes, N)`` scores (cosines).
    """
    q = F.normalize(feats.float(), dim=-1) @ F.normalize(
        text_embeds.float(), dim=-1).t()
    cls = q.new_full((q.shape[0], num_classes), -float('inf'))
    cls = cls.scatter_reduce(1, query_to_class.to(q.device).expand_as(q), q,
                             reduce='amax')
    if xyz is not None:
        zero = ~feats.ne(0).any(1)
        if bool(zero.any()) and not bool(zero.all()):
            nz = (~zero).nonzero(as_tuple=True)[0]
            z = zero.nonzero(as_tuple=True)[0]
            cls[z] = cls[nz[nearest_source(xyz[z], xyz[nz])]]
    return cls.t()


def point_scores(logits: torch.Tensor):
    """The score rule of every 3D door: the softmax over classes of
    ``(num_classes, N)`` logits; a point's score is its label's
    probability.

    Returns:
        tuple: ``scores (N,)`` float32 and ``labels (N,)`` int64.
    """
    return torch.softmax(logits.float(), dim=0).max(0)


class TextEmbeddingClassifier(nn.Module):
    """:func:`text_scores` as the ``conv_seg`` of a decode head: ``(B, C,
    N)`` features -> ``(B, num_classes, N)`` logits ``logit_scale · cos``
    (the GeoPurify authors' logits). The text embeddings are
    non-persistent buffers (they follow the vocabulary, not the
    checkpoint).

    Args:
        text_embeds (Tensor): ``(Q, C)`` query embeddings.
        query_to_class (Tensor): ``(Q,)`` class of each query.
        num_classes (int): Classes.
        logit_scale (float): Scale of the cosines. Defaults to 100.
    """

    def __init__(self, text_embeds: torch.Tensor,
                 query_to_class: torch.Tensor, num_classes: int,
                 logit_scale: float = 100.):
        super().__init__()
        self.logit_scale = float(logit_scale)
        self.register_buffer('text_embeds', torch.empty(0), persistent=False)
        self.register_buffer('query_to_class', torch.empty(0, dtype=torch.long),
                             persistent=False)
        self.set_text(text_embeds, query_to_class, num_classes)

    def set_text(self, text_embeds: torch.Tensor,
                 query_to_class: torch.Tensor, num_classes: int) -> None:
        """New vocabulary (device kept)."""
        text_embeds = torch.as_tensor(text_embeds).detach().float()
        q2c = torch.as_tensor(query_to_class, dtype=torch.long)
        if text_embeds.ndim != 2 or len(text_embeds) != len(q2c):
            raise ValueError(
                f'text embeddings of shape {tuple(text_embeds.shape)} for '
                f'{len(q2c)} queries: expected ({len(q2c)}, C)')
        if len(q2c) and (int(q2c.min()) < 0 or
                         int(q2c.max()) >= num_classes):
            raise ValueError(f'query_to_class must be in [0, {num_classes})')
        dev = self.text_embeds.device
        self.text_embeds = F.normalize(text_embeds, dim=-1).to(dev)
        self.query_to_class = q2c.to(dev)
        self.num_classes = int(num_classes)

    @property
    def channels(self) -> int:
        return int(self.text_embeds.shape[1])

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """``(B, C, N)`` -> ``(B, num_classes, N)``."""
        return self.logit_scale * torch.stack([
            text_scores(f.t(), self.text_embeds, self.query_to_class,
                        self.num_classes) for f in feat])
