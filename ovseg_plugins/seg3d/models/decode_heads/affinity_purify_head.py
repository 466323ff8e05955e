"""Affinity-purify head: geometry-guided pooling, then a classifier."""
from typing import Optional

import torch
from mmdet3d.models.decode_heads.decode_head import Base3DDecodeHead
from mmdet3d.registry import MODELS
from torch import nn

from ovseg_plugins.utils.typing import ConfigType, OptConfigType
from ovseg_plugins.utils.validation import check_number
from .text_embedding_classifier import TextEmbeddingClassifier, text_scores

POOLING_SETTINGS = ('knn', 'sharpen', 'iterations', 'chunk')
_DEFAULT_LOSS = dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False,
                     class_weight=None, loss_weight=1.0)


def refuse_moved_settings(given: dict, owner: str, places: dict) -> None:
    """Refuse settings that live elsewhere (one place per setting): each
    key of ``given`` found in ``places`` names where it is set; any other
    key is an unknown argument."""
    if not given:
        return
    moved = [k for k in given if k in places]
    if moved:
        where = '; '.join(f'{k} -> {places[k]}' for k in moved)
        raise TypeError(
            f'{owner}: {", ".join(moved)} {"is" if len(moved) == 1 else "are"}'
            f' not set here (one place per setting): {where}')
    raise TypeError(f'{owner} got unexpected argument(s) {sorted(given)}')


@MODELS.register_module()
class AffinityPurifyHead(Base3DDecodeHead):
    """Purify features with learned affinities (GeoPurify's geometry-guided
    pooling, :class:`GeometryGuidedPooling`), then classify them.

    An mmdet3d :class:`Base3DDecodeHead` (stock ``forward(feats_dict)``,
    ``predict``, ``loss``, ``cls_seg``) with one of two classifiers, one
    of which is required (refused at build time otherwise):

    * **text** (GeoPurify, inside :class:`GeoPurifySegmentor`, which gives
      the head its class text embeddings): ``forward`` takes one scene's
      ``dict(feats=(V, C') voxel features, emb=(V, D) student embeddings,
      coords=(V, 3), point2voxel=(N,), xyz=(N, 3))``, pools the features
      (:meth:`pool`, the first ``C`` = text-width columns kept) and returns
      ``(1, num_classes, N)`` logits ``logit_scale · cos`` with the text,
      the best synonym of each class winning (:meth:`classify`, as the
      authors' ``logit_scale · f̂ · t̂ᵀ``); points whose pooled feature
      is exactly zero take the scores of the nearest point with a non-zero
      one (``zero_fill``, the authors' evaluation).
    * **base_head** (a stock decode head, e.g. the ``PointNet2Head`` of a
      stock mmdet3d config, in the ``decode_head`` slot of
      ``EncoderDecoder3D``): the wrapped head computes its pre-classifier
      features ``(B, channels, N)``; they are pooled over the K spatial
      neighbours of each point (``coord_key`` of the backbone output) with
      affinities from themselves, then classified by the wrapped head's
      classifier, which becomes this head's ``conv_seg`` (pooling features
      before the linear classifier equals pooling the logits: the rows of
      A sum to 1). ``num_classes``, ``channels``, ``ignore_index`` are the
      wrapped head's; its ``loss_decode`` config is this head's.

    Args:
        pooling (dict): :class:`GeometryGuidedPooling` config: the one place
            of ``knn``, ``sharpen``, ``iterations``, ``chunk``.
        base_head (dict, optional): A stock decode head to purify.
        text_embeddings (Tensor, optional): ``(Q, C)`` query embeddings
            (given by :class:`GeoPurifySegmentor`).
        query_to_class (Tensor, optional): ``(Q,)`` class of each query.
            Defaults to one class per query.
        num_classes (int, optional): With ``text_embeddings``; defaults to
            ``max(query_to_class) + 1``.
        zero_fill (bool): The text classifier's zero-feature rule. Defaults
            to True (authors').
        logit_scale (float): Scale of the text classifier's cosines (its
            logits; scores are their softmax). Defaults to 100.
        coord_key (str): Key of the point coordinates in the backbone's
            output dict (``base_head``); a list value (``fp_xyz`` of
            ``PointNet2SASSG``) gives its last level. Defaults to 'fp_xyz'.
        detach_affinity (bool): Treat the affinities as constants in the
            backward pass (``base_head``). Defaults to True.
    """

    def __init__(self,
                 pooling: ConfigType = dict(type='GeometryGuidedPooling'),
                 base_head: OptConfigType = None,
                 text_embeddings: Optional[torch.Tensor] = None,
                 query_to_class: Optional[torch.Tensor] = None,
                 num_classes: Optional[int] = None,
                 zero_fill: bool = True,
                 logit_scale: float = 100.,
                 coord_key: str = 'fp_xyz',
                 detach_affinity: bool = True,
                 init_cfg=None,
                 **kwargs) -> None:
        refuse_moved_settings(
            kwargs, 'AffinityPurifyHead',
            {k: f'decode_head.pooling.{k}' for k in POOLING_SETTINGS})
        if (base_head is None) == (text_embeddings is None):
            raise ValueError(
                'AffinityPurifyHead needs exactly one classifier: base_head='
                '<the stock decode head whose logits it purifies> (in a '
                'stock segmentor such as EncoderDecoder3D; a config that '
                'replaces the head with _delete_=True must give it), or the '
                'class text embeddings that GeoPurifySegmentor gives it; got '
                f'{"neither" if base_head is None else "both"}.')
        if base_head is not None:
            base = MODELS.build(base_head)
            if not isinstance(base, Base3DDecodeHead):
                raise TypeError(
                    'AffinityPurifyHead.base_head must be an mmdet3d '
                    f'Base3DDecodeHead, got {type(base).__name__}.')
            super().__init__(
                channels=base.channels, num_classes=base.num_classes,
                dropout_ratio=0,  # the wrapped head applies its dropout
                conv_cfg=base.conv_cfg, norm_cfg=base.norm_cfg,
                act_cfg=base.act_cfg,
                loss_decode=dict(base_head).get('loss_decode',
                                                _DEFAULT_LOSS),
                ignore_index=base.ignore_index, init_cfg=init_cfg)
            # the wrapped head's classifier is this head's: the wrapped
            # head now returns its pre-classifier features
            self.conv_seg = base.conv_seg
            base.conv_seg = nn.Identity()
            self.base_head = base
        else:
            text = torch.as_tensor(text_embeddings).detach().float()
            q2c = torch.arange(len(text)) if query_to_class is None else \
                torch.as_tensor(query_to_class, dtype=torch.long)
            n_cls = int(num_classes) if num_classes is not None else \
                int(q2c.max()) + 1
            super().__init__(channels=int(text.shape[1]), num_classes=n_cls,
                             dropout_ratio=0, init_cfg=init_cfg)
            self.conv_seg = TextEmbeddingClassifier(
                text, q2c, n_cls, check_number('logit_scale', logit_scale,
                                               'AffinityPurifyHead', lo=0,
                                               lo_open=True))
            self.base_head = None
        pooling = dict(pooling)
        pooling.setdefault('type', 'GeometryGuidedPooling')
        self.pooling = MODELS.build(pooling)
        self.zero_fill = zero_fill
        self.coord_key = coord_key
        self.detach_affinity = detach_affinity

    # ------------------------------------------------------------ text
    @property
    def has_text_classifier(self) -> bool:
        return self.base_head is None

    def _need_text(self, what: str) -> TextEmbeddingClassifier:
        if not self.has_text_classifier:
            raise RuntimeError(f'AffinityPurifyHead.{what} needs the text '
                               'classifier (GeoPurifySegmentor); this head '
                               'wraps a stock base_head.')
        return self.conv_seg

    def set_text(self, text_embeddings: torch.Tensor,
                 query_to_class: torch.Tensor, num_classes: int) -> None:
        """A new vocabulary for the text classifier."""
        self._need_text('set_text').set_text(text_embeddings, query_to_class,
                                             num_classes)
        self.num_classes = int(num_classes)

    @property
    def text_embeds(self) -> torch.Tensor:
        """``(Q, C)`` unit query embeddings of the text classifier."""
        return self._need_text('text_embeds').text_embeds

    @property
    def query_to_class(self) -> torch.Tensor:
        return self._need_text('query_to_class').query_to_class

    def classify(self, feats: torch.Tensor, xyz: Optional[torch.Tensor] = None,
                 point2voxel: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Text scores of pooled features (the text classifier).

        Args:
            feats (Tensor): ``(N, C)`` per point, or ``(V, C)`` per voxel
                with ``point2voxel``.
            xyz (Tensor, optional): ``(N, 3)`` point coordinates: with
                ``zero_fill``, points of a zero feature take the scores of
                the nearest point with a non-zero one.
            point2voxel (Tensor, optional): ``(N,)`` voxel of each point.

        Returns:
            Tensor: ``(num_classes, N)`` logits (``logit_scale · cos``).
        """
        clf = self._need_text('classify')
        scores = clf.logit_scale * text_scores(
            feats, clf.text_embeds, clf.query_to_class, clf.num_classes)
        zero = ~feats.ne(0).any(1)
        if point2voxel is not None:  # voxel -> points
            scores, zero = scores[:, point2voxel], zero[point2voxel]
        if self.zero_fill and xyz is not None and bool(zero.any()) and \
                not bool(zero.all()):
            from ...ops.knn import nearest_source
            nz = (~zero).nonzero(as_tuple=True)[0]
            z = zero.nonzero(as_tuple=True)[0]
            scores[:, z] = scores[:, nz[nearest_source(xyz[z], xyz[nz])]]
        return scores

    # ------------------------------------------------------------ pooling
    def pool(self, inputs: dict) -> torch.Tensor:
        """Pooled features of one scene (text classifier): ``(V, C)`` from
        ``inputs`` ``feats (V, C')`` (``C' >= C``), ``emb``, ``coords``."""
        self._need_text('pool')
        # the pooling acts on each channel alone: pool only the C kept
        return self.pooling(inputs['feats'][:, :self.channels],
                            inputs['emb'], inputs['coords'])

    def _pool_base_features(self, feats_dict: dict) -> torch.Tensor:
        """The stock slot: the wrapped head's ``(B, channels, N)``
        pre-classifier features, pooled with their own affinities."""
        feat = self.base_head(feats_dict)
        xyz = self._coords(feats_dict)
        if feat.ndim != 3 or feat.shape[1] != self.channels or \
                xyz.shape[:2] != (feat.shape[0], feat.shape[2]):
            raise ValueError(
                f'AffinityPurifyHead: {type(self.base_head).__name__} gives '
                f'features {tuple(feat.shape)} before its classifier, '
                f'expected (B, {self.channels}, N) matching {self.coord_key!r}'
                f' {tuple(xyz.shape)} (B, N, 3); set coord_key to the '
                'backbone output holding the coordinates of the predicted '
                'points.')
        k = min(self.pooling.knn, feat.shape[2] - 1)  # small patches
        if k < 1:
            return feat
        out = []
        for b in range(feat.shape[0]):
            f = feat[b].t()
            e = f.detach() if self.detach_affinity else f
            out.append(self.pooling(f, e, xyz[b].detach(), knn=k).t())
        return torch.stack(out).to(feat.dtype)

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
    def forward(self, feats_dict: dict) -> torch.Tensor:
        """Purified logits.

        Args:
            feats_dict (dict): The backbone's output (``base_head``), or one
                scene's voxel features (text classifier, see the class
                docstring).

        Returns:
            Tensor: ``(B, num_classes, N)`` logits (``B = 1`` for the text
            classifier).
        """
        if self.has_text_classifier:
            return self.classify(self.pool(feats_dict), feats_dict.get('xyz'),
                                 feats_dict.get('point2voxel'))[None]
        return self.cls_seg(self._pool_base_features(feats_dict))
