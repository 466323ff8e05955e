"""Affinity-purify head: geometry-guided pooling + open-vocabulary labels."""
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule

from ovseg_plugins.utils.validation import check_int, check_number

from ...ops.knn import canonical_order, nearest_source, spatial_order
from .geometry_guided_pooling import (affinity_weights,
                                      geometry_guided_pooling, knn_indices)


@MODELS.register_module()
class AffinityPurifyHead(BaseModule):
    """Purify per-voxel (or per-point) features with learned affinities and
    label them by cosine with text embeddings; usable after any mmdet3d
    point model that yields embeddings.

    ``nbr = kNN(coords, K)`` (self excluded), ``A = row-softmax(sharpen ·
    cos(emb_i, emb_j))`` over the K neighbours, ``F ← A·F`` for
    ``iterations`` steps (K-sparse, chunked kNN, never N×N).

    Neighbours tied at the K-th distance are resolved by the lower
    ``(x, y, z)`` (lexicographic), so the result depends on the point set
    only, not on the order of the rows (the authors' faiss search leaves
    this order implementation-defined).

    Args:
        knn (int): K. Defaults to 96.
        sharpen (float): Defaults to 20.
        iterations (int): Sparse products ``A·F``. Defaults to 19, as the
            authors' code (one product, then 18 more); the paper's
            ``T = 18`` is ``iterations=18``.
        chunk (int): kNN query rows per step.
        zero_fill (bool): In :meth:`classify` with ``xyz``, points whose
            pooled feature is exactly zero take the scores (hence the label)
            of the nearest point with a non-zero feature, as the authors'
            evaluation. Defaults to True.
    """

    def __init__(self, knn: int = 96, sharpen: float = 20.,
                 iterations: int = 19, chunk: int = 4096,
                 zero_fill: bool = True, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.knn = check_int('knn', knn, 'AffinityPurifyHead', lo=1)
        self.sharpen = check_number('sharpen', sharpen, 'AffinityPurifyHead',
                                    lo=0, lo_open=True)
        self.iterations = check_int('iterations', iterations,
                                    'AffinityPurifyHead', lo=0)
        self.chunk = check_int('chunk', chunk, 'AffinityPurifyHead', lo=1)
        self.zero_fill = zero_fill

    def forward(self, feats: torch.Tensor, emb: torch.Tensor,
                coords: torch.Tensor) -> torch.Tensor:
        """``feats (N, C)``, ``emb (N, D)``, ``coords (N, 3)`` -> ``(N, C)``."""
        if not (len(feats) == len(emb) == len(coords)):
            raise ValueError(f'feats {len(feats)}, embeddings {len(emb)} and '
                             f'coords {len(coords)} must have one row each')
        # work in Morton order (3-4x faster sparse products: neighbours'
        # rows are close in memory), return in the caller's order. Both
        # orders are computed from the sorted point set, and the kNN runs
        # in (x, y, z) order (ties -> lower x, y, z), then is re-indexed to
        # Morton positions: nothing depends on the caller's row order.
        lex = canonical_order(coords)
        perm = lex[spatial_order(coords[lex])]
        nbr_lex = knn_indices(coords[lex].float(), self.knn, self.chunk)
        lpos = torch.argsort(lex)
        nbr = torch.argsort(perm)[lex[nbr_lex[lpos[perm]]]]
        w = affinity_weights(emb[perm], nbr, self.sharpen)
        out = geometry_guided_pooling(feats[perm], nbr, w, self.iterations)
        return out[torch.argsort(perm)]

    @staticmethod
    def classify(feats: torch.Tensor, text_embeds: torch.Tensor,
                 query_to_class: torch.Tensor, num_classes: int,
                 xyz: torch.Tensor = None) -> torch.Tensor:
        """Cosine with each query, max over a class's synonyms.

        Args:
            feats (Tensor): ``(N, C)`` pooled features.
            xyz (Tensor, optional): ``(N, 3)``; when given, points whose
                feature is exactly zero take the scores of the nearest
                point with a non-zero feature (the authors' rule; without
                it their scores are all 0 and the argmax is class 0).

        Returns:
            Tensor: ``(num_classes, N)`` scores.
        """
        q = F.normalize(feats.float(), dim=-1) @ F.normalize(
            text_embeds.float(), dim=-1).t()
        cls = q.new_full((q.shape[0], num_classes), -float('inf'))
        cls = cls.scatter_reduce(1, query_to_class.expand_as(q), q,
                                 reduce='amax')
        if xyz is not None:
            zero = ~feats.ne(0).any(1)
            if bool(zero.any()) and not bool(zero.all()):
                nz = (~zero).nonzero(as_tuple=True)[0]
                z = zero.nonzero(as_tuple=True)[0]
                cls[z] = cls[nz[nearest_source(xyz[z], xyz[nz])]]
        return cls.t()
