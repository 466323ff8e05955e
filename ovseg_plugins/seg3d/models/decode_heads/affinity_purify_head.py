"""Affinity-purify head: geometry-guided pooling + open-vocabulary labels."""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmdet3d.models.decode_heads.decode_head import Base3DDecodeHead
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule

from ovseg_plugins.utils.typing import OptConfigType, SampleList
from ovseg_plugins.utils.validation import check_int, check_number

from ...ops.knn import canonical_order, nearest_source, spatial_order
from .geometry_guided_pooling import (affinity_weights,
                                      geometry_guided_pooling, knn_indices)


@MODELS.register_module()
class AffinityPurifyHead(Base3DDecodeHead):
    """Purify per-voxel (or per-point) features with learned affinities and
    label them by cosine with text embeddings.

    ``nbr = kNN(coords, K)`` (self excluded), ``A = row-softmax(sharpen ·
    cos(emb_i, emb_j))`` over the K neighbours, ``F ← A·F`` for
    ``iterations`` steps (K-sparse, chunked kNN, never N×N).

    Neighbours tied at the K-th distance are resolved by the lower
    ``(x, y, z)`` (lexicographic), so the result depends on the point set
    only, not on the order of the rows (the authors' faiss search leaves
    this order implementation-defined).

    Two ways in:

    * inside :class:`GeoPurifySegmentor`: ``head(feats, emb, coords)``
      pools the fused 2D features with the student's embeddings;
    * in the ``decode_head`` slot of a stock mmdet3d ``EncoderDecoder3D``:
      an mmdet3d :class:`Base3DDecodeHead` wrapping the config's own head
      (``base_head``, e.g. the ``PointNet2Head`` of a stock config). Its
      class logits ``(B, C, N)`` are pooled over the K spatial neighbours
      of each point with affinities from the base head's last features
      (the input of its ``conv_seg``: pooling logits equals pooling those
      features before the linear classifier, since the rows of A sum to
      1). ``num_classes``, ``ignore_index``, ``loss_by_feat`` and
      ``cls_seg`` are the base head's, so training, ``slide`` inference and
      checkpoints of the wrapped head keep working
      (``decode_head.base_head.*`` keys).

    Args:
        knn (int): K. Defaults to 96.
        sharpen (float): Defaults to 20.
        iterations (int): Sparse products ``A·F``. Defaults to 19, as the
            authors' code (one product, then 18 more); the paper's
            ``T = 18`` is ``iterations=18``.
        chunk (int): kNN query rows per step.
        base_head (dict, optional): A stock decode head to purify.
        coord_key (str): Key of the point coordinates in the backbone's
            output dict; a list value (``fp_xyz`` of ``PointNet2SASSG``)
            gives its last level. Defaults to 'fp_xyz'.
        detach_affinity (bool): Treat the affinities as constants in the
            backward pass (the loss then trains the base head through the
            pooled logits only). Defaults to True.
        zero_fill (bool): In :meth:`classify` with ``xyz``, points whose
            pooled feature is exactly zero take the scores (hence the label)
            of the nearest point with a non-zero feature, as the authors'
            evaluation. Defaults to True.
    """

    def __init__(self, knn: int = 96, sharpen: float = 20.,
                 iterations: int = 19, chunk: int = 4096,
                 zero_fill: bool = True,
                 base_head: OptConfigType = None, coord_key: str = 'fp_xyz',
                 detach_affinity: bool = True, init_cfg=None):
        # Base3DDecodeHead.__init__ would add its own conv_seg and loss:
        # the classifier and loss are the wrapped head's (or none at all
        # inside GeoPurifySegmentor, which classifies by text).
        BaseModule.__init__(self, init_cfg=init_cfg)
        self.knn = check_int('knn', knn, 'AffinityPurifyHead', lo=1)
        self.sharpen = check_number('sharpen', sharpen, 'AffinityPurifyHead',
                                    lo=0, lo_open=True)
        self.iterations = check_int('iterations', iterations,
                                    'AffinityPurifyHead', lo=0)
        self.chunk = check_int('chunk', chunk, 'AffinityPurifyHead', lo=1)
        self.zero_fill = zero_fill
        self.coord_key = coord_key
        self.detach_affinity = detach_affinity
        if base_head is not None:
            self.base_head = MODELS.build(base_head)
            if not hasattr(self.base_head, 'conv_seg'):
                raise TypeError(
                    f'AffinityPurifyHead.base_head must be a Base3DDecodeHead '
                    f'with conv_seg (its input gives the affinities); got '
                    f'{type(self.base_head).__name__}.')
            for attr in ('num_classes', 'channels', 'ignore_index',
                         'dropout_ratio', 'conv_cfg', 'norm_cfg', 'act_cfg'):
                setattr(self, attr, getattr(self.base_head, attr, None))
        else:
            self.base_head = None
            self.num_classes = None
            self.ignore_index = None

    # ------------------------------------------------------------ pooling
    def purify(self, feats: torch.Tensor, emb: torch.Tensor,
               coords: torch.Tensor, knn: Optional[int] = None
               ) -> torch.Tensor:
        """``feats (N, C)``, ``emb (N, D)``, ``coords (N, 3)`` -> ``(N, C)``
        (``knn`` defaults to ``self.knn``)."""
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
        nbr_lex = knn_indices(coords[lex].float(), knn or self.knn, self.chunk)
        lpos = torch.argsort(lex)
        nbr = torch.argsort(perm)[lex[nbr_lex[lpos[perm]]]]
        w = affinity_weights(emb[perm], nbr, self.sharpen)
        out = geometry_guided_pooling(feats[perm], nbr, w, self.iterations)
        return out[torch.argsort(perm)]

    def forward(self, feats, emb: Optional[torch.Tensor] = None,
                coords: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Pool features (GeoPurify) or purify a stock head's logits.

        Args:
            feats (Tensor | dict): ``(N, C)`` features with ``emb (N, D)``
                and ``coords (N, 3)``, or (stock segmentor) the backbone's
                feature dict.

        Returns:
            Tensor: ``(N, C)`` pooled features, or ``(B, num_classes, N)``
            purified logits for the dict input.
        """
        if isinstance(feats, dict):
            return self._purify_base_head(feats)
        if emb is None or coords is None:
            raise TypeError('AffinityPurifyHead(feats, emb, coords): give '
                            'emb and coords, or the backbone feature dict'
                            ' (stock segmentor, with base_head).')
        return self.purify(feats, emb, coords)

    def _purify_base_head(self, feats: dict) -> torch.Tensor:
        """The stock slot: the wrapped head's ``(B, C, N)`` logits pooled
        with the affinities of its own pre-logit features."""
        logits, pre = self._base_logits(feats)
        xyz = self._coords(feats)
        if xyz.shape[:2] != (logits.shape[0], logits.shape[2]):
            raise ValueError(
                f'AffinityPurifyHead: {self.coord_key!r} has shape '
                f'{tuple(xyz.shape)} but the base head predicts '
                f'{tuple(logits.shape)} (B, C, N); set coord_key to the '
                'backbone output holding the (B, N, 3) coordinates of the '
                'predicted points.')
        out = []
        k = min(self.knn, logits.shape[2] - 1)  # small patches: K < N
        for b in range(logits.shape[0]):
            if k < 1:
                out.append(logits[b])
                continue
            e = pre[b].t()
            if self.detach_affinity:
                e = e.detach()
            out.append(self.purify(logits[b].t(), e, xyz[b].detach(), k).t())
        return torch.stack(out).to(logits.dtype)

    def _base_logits(self, feats_dict: dict):
        if self.base_head is None:
            raise RuntimeError(
                'AffinityPurifyHead in a stock segmentor wraps its decode '
                'head: set decode_head=dict(type=\'AffinityPurifyHead\', '
                'base_head=<the stock head config>).')
        captured: List[torch.Tensor] = []
        handle = self.base_head.conv_seg.register_forward_pre_hook(
            lambda module, args: captured.append(args[0]))
        try:
            logits = self.base_head(feats_dict)
        finally:
            handle.remove()
        if not captured:
            raise RuntimeError(
                f'{type(self.base_head).__name__} did not call its conv_seg; '
                'AffinityPurifyHead needs its pre-classifier features.')
        return logits, captured[-1]

    def _coords(self, feats_dict: dict) -> torch.Tensor:
        if self.coord_key not in feats_dict:
            raise KeyError(
                f'AffinityPurifyHead: the backbone output has no '
                f'{self.coord_key!r} (keys: {sorted(feats_dict)}); set '
                'coord_key to the entry with the (B, N, 3) point coordinates.')
        xyz = feats_dict[self.coord_key]
        if isinstance(xyz, (list, tuple)):
            xyz = xyz[-1]
        return xyz[..., :3]

    # ------------------------------------------------------------ mmdet3d API
    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        return self.base_head.cls_seg(feat)

    def loss_by_feat(self, seg_logit: torch.Tensor,
                     batch_data_samples: SampleList) -> Dict[str, torch.Tensor]:
        """The wrapped head's loss on the purified logits."""
        return self.base_head.loss_by_feat(seg_logit, batch_data_samples)

    def init_weights(self) -> None:
        BaseModule.init_weights(self)

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
