"""GeoPurify: student affinity distillation + geometry-guided pooling."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmdet3d.models.segmentors.base import Base3DSegmentor
from mmdet3d.registry import MODELS

from ovseg_plugins.text import Vocabulary, get_templates
from ovseg_plugins.utils.typing import ConfigType, OptConfigType
from ovseg_plugins.utils.validation import (check_finite_output, check_int,
                                            check_number, check_xyz_rgb)
from ...ops.knn import knn_indices
from ..decode_heads.affinity_purify_head import (POOLING_SETTINGS,
                                                  refuse_moved_settings)
from ..utils import estimate_normals, scatter_mean, voxelize
from .class_text import class_text_embeddings, select_queries

__all__ = ['GeoPurifySegmentor', 'select_queries']

# settings that are not the segmentor's (one place per setting)
_ELSEWHERE = dict(
    {k: f'model.decode_head.pooling.{k}' for k in POOLING_SETTINGS},
    knn='model.decode_head.pooling.knn (pooling) or model.loss.knn (the '
    'InfoNCE micro negatives\' neighbours)')


@MODELS.register_module()
class GeoPurifySegmentor(Base3DSegmentor):
    """Open-vocabulary 3D segmentation with GeoPurify.

    Point columns: ``[x, y, z, r, g, b (0..255), fused (C), teacher (Ct)]``
    (fused / teacher features appended by ``LoadPointFeatures``).

    Call flow::

        loss():    voxelise (2 cm) -> X = [mean fused | rgb/255 | normal]
                   -> student (whole voxelised scene) -> embeddings
                   -> InfoNCE with teacher-chosen pairs (teacher per voxel,
                      kNN (loss.knn) on voxel coords). No 3D labels.
        extract_feat(): X, student embeddings, voxel coords (per scene)
        encode_decode() / predict(): extract_feat -> decode_head
                   (AffinityPurifyHead: GeometryGuidedPooling — kNN (K,
                   self excluded), row-softmax of sharpen·cos, F <- A·F,
                   T times — fused dims -> points -> cosine with the text
                   embeddings) -> (num_classes, N) logits -> labels.
        Deterministic: no random rotation/scale at test time.

    Args:
        backbone (dict): :class:`StudentAffinityNet`.
        loss (dict): :class:`AffinityInfoNCELoss`.
        decode_head (dict, optional): :class:`AffinityPurifyHead` (default:
            its defaults); the segmentor gives it the class text embeddings
            (its classifier). The pooling settings live in its ``pooling``
            (``knn``, ``sharpen``, ``iterations``, ``chunk``; the segmentor
            refuses them), the InfoNCE neighbours in ``loss.knn``.
        class_names (str | list): Vocabulary (file / inline / list).
        fused_channels (int): C. Defaults to 512.
        teacher_channels (int): Ct of precomputed teacher columns
            (training only). Defaults to 0.
        teacher (dict, optional): An online teacher run on each training
            scene's ``(N, 6)`` xyz rgb instead of teacher columns, e.g.
            ``dict(type='GeometricTeacher')`` or
            ``dict(type='PointBackboneTeacher', backbone=<any mmdet3d
            backbone config>, checkpoint=..., color_scale=...)``.
        text_embeddings (str | Tensor, optional): ``(num_queries, C)``
            .pt/.npy file (or array) of class embeddings in the fused
            features' space (``tools/geopurify/text_embeddings.py`` writes
            one).
        text_encoder (dict, optional): open_clip tower to embed
            ``templates`` × class names instead: ``dict(model_name=...,
            pretrained=..., model_cfg=None)``.
        templates (str | list): Defaults to ``['a {} in a scene']``.
        voxel_size (float): Defaults to 0.02.
        normal_knn (int): Neighbours for PCA normals. Defaults to 16.
        normals (str): ``'points'``: PCA normals of the points (default);
            ``'columns'``: read them from point columns 6..8 (points
            ``[xyz, rgb, normal, fused, teacher]``, from ``AddPointNormals``:
            file / mesh-face normals).
        train_cfg, test_cfg (dict, optional): Accepted for mmdet3d's
            ``init_model`` and stock configs; unused.
    """

    def __init__(self,
                 backbone: ConfigType,
                 class_names: Union[str, Sequence],
                 loss: OptConfigType = None,
                 decode_head: OptConfigType = None,
                 fused_channels: int = 512,
                 teacher_channels: int = 0,
                 teacher: OptConfigType = None,
                 text_embeddings: Optional[str] = None,
                 text_encoder: OptConfigType = None,
                 templates: Union[str, Sequence[str]] = ('a {} in a scene', ),
                 voxel_size: float = 0.02,
                 normal_knn: int = 16,
                 normals: str = 'points',
                 data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg=None,
                 **kwargs):
        refuse_moved_settings(kwargs, 'GeoPurifySegmentor', _ELSEWHERE)
        super().__init__(data_preprocessor=data_preprocessor or dict(
            type='Det3DDataPreprocessor'), init_cfg=init_cfg)
        self.train_cfg, self.test_cfg = train_cfg, test_cfg
        self.backbone = MODELS.build(backbone)
        self.loss_fn = MODELS.build(loss or dict(type='AffinityInfoNCELoss'))
        self.fused_channels = check_int('fused_channels', fused_channels,
                                        'GeoPurifySegmentor', lo=1)
        self.teacher_channels = check_int('teacher_channels',
                                          teacher_channels,
                                          'GeoPurifySegmentor', lo=0)
        # an online teacher (frozen; GeometricTeacher, PointBackboneTeacher
        # around any mmdet3d backbone config) replaces teacher columns
        self.teacher = MODELS.build(teacher) if teacher is not None else None
        if self.teacher is not None:
            self.teacher.requires_grad_(False)
        self.voxel_size = check_number('voxel_size', voxel_size,
                                       'GeoPurifySegmentor', lo=0,
                                       lo_open=True)
        self.normal_knn = check_int('normal_knn', normal_knn,
                                    'GeoPurifySegmentor', lo=3)
        if normals not in ('points', 'columns'):
            raise ValueError("normals must be 'points' or 'columns', got "
                             f'{normals!r}.')
        self.normals = normals
        self.vocabulary = Vocabulary.build(class_names)
        self._text_encoder_cfg = text_encoder
        self._templates = get_templates(list(templates) if not isinstance(
            templates, str) else templates)
        self._meta_override: dict = {}
        self._purified = None  # (key, pooled point features): see purified
        text = self._text_embeddings(text_embeddings, text_encoder,
                                     self._templates)
        head = dict(decode_head or dict(type='AffinityPurifyHead'))
        if head.get('base_head') is not None:
            raise ValueError(
                'GeoPurifySegmentor classifies by text: its decode_head '
                '(AffinityPurifyHead) takes no base_head.')
        head.update(text_embeddings=text,
                    query_to_class=self.vocabulary.query_to_class,
                    num_classes=self.vocabulary.num_classes)
        self.decode_head = MODELS.build(head)

    @property
    def text_embeds(self) -> torch.Tensor:
        """``(Q, C)`` unit text embeddings of the vocabulary's queries
        (the decode head's classifier)."""
        return self.decode_head.text_embeds

    @property
    def query_to_class(self) -> torch.Tensor:
        return self.decode_head.query_to_class

    @property
    def chunk(self) -> int:
        """kNN query rows per step (the pooling's setting, used by every
        kNN of the model)."""
        return self.decode_head.pooling.chunk

    def _text_embeddings(self, path, encoder_cfg, templates) -> torch.Tensor:
        return class_text_embeddings(self.vocabulary.queries,
                                     self.fused_channels, path, encoder_cfg,
                                     templates)

    # ------------------------------------------------------------ helpers
    def _split(self, pts: torch.Tensor, with_teacher: bool = False):
        C = self.fused_channels
        Ct = self.teacher_channels if with_teacher else 0
        o = 9 if self.normals == 'columns' else 6  # first fused column
        need = o + C + Ct
        if pts.shape[0] == 0:
            raise ValueError('empty point cloud')
        if pts.shape[1] < need:
            raise ValueError(
                f'points have {pts.shape[1]} columns, GeoPurify needs '
                f'{need} (xyz, rgb, {"normal, " if o == 9 else ""}{C} fused, '
                f'{Ct} teacher): add '
                f'{"AddPointNormals and " if o == 9 else ""}'
                'LoadPointFeatures to the pipeline.')
        check_xyz_rgb(pts, 'GeoPurifySegmentor input points')
        return (pts[:, :3], pts[:, 3:6], pts[:, o:o + C],
                pts[:, o + C:o + C + Ct])

    def _voxel_inputs(self, pts: torch.Tensor, with_teacher: bool = False,
                      fused_only: bool = False):
        """Voxel features ``x (V, C + 6)`` (fused, rgb, normals; ``(V, C)``
        fused only with ``fused_only``: no normals are estimated), batch
        coordinates ``(V, 4)``, the point -> voxel index and the voxel
        teacher features (or None)."""
        xyz, rgb, fused, teacher = self._split(pts, with_teacher)
        coords, inv = voxelize(xyz, self.voxel_size)
        V = len(coords)
        if fused_only:
            return (scatter_mean(fused, inv, V),
                    torch.cat([coords.new_zeros(V, 1), coords], 1), inv, None)
        if self.normals == 'columns':
            normals = F.normalize(pts[:, 6:9], dim=1)
        else:
            nbr_pts = knn_indices(xyz, self.normal_knn, self.chunk)
            normals = estimate_normals(xyz, nbr_pts)
        x = scatter_mean(torch.cat([fused, rgb / 255., normals], 1), inv, V)
        x = torch.cat([x[:, :-3], F.normalize(x[:, -3:], dim=1)], 1)
        batch_coords = torch.cat([coords.new_zeros(V, 1), coords], 1)
        t = scatter_mean(teacher, inv, V) if teacher.shape[1] else None
        return x, batch_coords, inv, t

    # ------------------------------------------------------------ API
    def _scene_feats(self, pts: torch.Tensor) -> dict:
        x, coords, inv, _ = self._voxel_inputs(pts)
        return dict(feats=x, emb=self.backbone(x, coords),
                    coords=coords[:, 1:], point2voxel=inv, xyz=pts[:, :3])

    def extract_feat(self, batch_inputs_dict: dict) -> List[dict]:
        """Per scene: ``feats (V, C + 6)`` voxel inputs, ``emb (V, D)``
        student embeddings, ``coords (V, 3)`` voxel coordinates,
        ``point2voxel (N,)`` and ``xyz (N, 3)``: the decode head's input."""
        return [self._scene_feats(p) for p in batch_inputs_dict['points']]

    def encode_decode(self, batch_inputs, batch_input_metas=None):
        """Logits of points: ``(N, C)`` one scene -> ``(1, num_classes,
        N)``; ``(B, N, C)`` -> ``(B, num_classes, N)``; a list of scenes ->
        a list of ``(num_classes, N)``."""
        scenes = list(batch_inputs) if isinstance(batch_inputs, (
            list, tuple)) or batch_inputs.ndim == 3 else [batch_inputs]
        out = [self.decode_head.predict(f, batch_input_metas, self.test_cfg)
               for f in self.extract_feat(dict(points=scenes))]
        if isinstance(batch_inputs, (list, tuple)):
            return [o[0] for o in out]
        return torch.cat(out)

    def loss(self, batch_inputs_dict: dict,
             batch_data_samples) -> Dict[str, torch.Tensor]:
        if self.teacher is None and self.teacher_channels <= 0:
            raise ValueError('training needs teacher features: set '
                             'teacher_channels and load them with '
                             'LoadPointFeatures, or set an online teacher.')
        losses = []
        for pts in batch_inputs_dict['points']:
            online = self.teacher is not None
            x, coords, inv, teacher = self._voxel_inputs(pts, not online)
            if online:
                t_pts = self.teacher(pts[:, :6])
                if t_pts.shape[0] != pts.shape[0]:
                    raise ValueError(
                        f'the online teacher returned {t_pts.shape[0]} rows '
                        f'for {pts.shape[0]} points')
                teacher = scatter_mean(t_pts.float(), inv, len(coords))
            emb = self.backbone(x, coords)
            vox = coords[:, 1:].float()

            def anchor_knn(anchors, vox=vox):  # only the anchors' rows
                return knn_indices(vox, self.loss_fn.knn, self.chunk,
                                   query=anchors)

            losses.append(self.loss_fn(emb, teacher, anchor_knn))
        return dict(loss_infonce=torch.stack(losses).mean())

    @torch.no_grad()
    def purify(self, pts: torch.Tensor) -> torch.Tensor:
        """Pooled fused features per point ``(N, C)``."""
        f = self._scene_feats(pts)
        return self.decode_head.pool(f)[f['point2voxel']]

    def predict(self, batch_inputs_dict: dict, batch_data_samples):
        seg_logits = []
        for pts in batch_inputs_dict['points']:
            # the head's classifier on the (cached) purified features; zero
            # pooled features: scores of the nearest non-zero point
            seg_logits.append(self.decode_head.classify(
                self.purified(pts), pts[:, :3]))
            check_finite_output('point logits', seg_logits[-1],
                                'GeoPurifySegmentor.predict')
        return self.postprocess_result(seg_logits, batch_data_samples)

    def _forward(self, batch_inputs_dict: dict, batch_data_samples=None):
        return [self.purify(p) for p in batch_inputs_dict['points']]

    # ------------------------------------------------------------ vocabulary
    def set_vocabulary(self, class_names: Union[str, Sequence, Vocabulary],
                       text_embeddings=None) -> None:
        """Switch to new classes without rebuilding the model.

        Geometry-guided pooling is class-free, so the purified features of
        a scene stay valid: the next :meth:`predict` on the same points
        re-classifies the cached features (see :meth:`purified`) instead of
        purifying again.

        Args:
            class_names (str | list | Vocabulary): Classes with synonyms (a
                class-name file, ``"a,b;c"`` or a list).
            text_embeddings (str | Tensor, optional): ``(num_queries, C)``
                embeddings of the new queries. Required when the model was
                built from an embeddings file; by default the text encoder
                the model was built with embeds the new queries.
        """
        vocab = Vocabulary.build(class_names)
        old = self.vocabulary
        self.vocabulary = vocab
        try:
            if text_embeddings is None and self._text_encoder_cfg is None:
                raise ValueError(
                    'set_vocabulary: this model was built from a text-'
                    'embeddings file; pass text_embeddings for the new '
                    f'{len(vocab.queries)} queries (tools/geopurify/'
                    'text_embeddings.py writes them).')
            text = self._text_embeddings(text_embeddings,
                                         self._text_encoder_cfg,
                                         self._templates)
        except Exception:
            self.vocabulary = old
            raise
        self.decode_head.set_text(text, vocab.query_to_class,
                                  vocab.num_classes)

    @property
    def dataset_meta(self) -> dict:
        """``classes`` (first synonym of each vocabulary class) and a
        ``palette`` of the current vocabulary, plus any other metainfo set
        on the model (e.g. by ``mmdet3d.apis.init_model``)."""
        from ovseg_plugins.seg3d.visualization.palette import class_palette
        meta = dict(self._meta_override)
        classes = tuple(self.vocabulary.class_names)
        palette = meta.get('palette')
        if palette is None or len(palette) != len(classes) or \
                tuple(meta.get('classes') or ()) != classes:
            palette = class_palette(len(classes)).tolist()
        meta.update(classes=classes, palette=palette)
        return meta

    @dataset_meta.setter
    def dataset_meta(self, meta: Optional[dict]) -> None:
        # classes always follow the vocabulary; keep the rest (palette when
        # it matches the classes, dataset-specific keys)
        self._meta_override = dict(meta or {})

    # ------------------------------------------------------------ caching
    def _purify_key(self, pts: torch.Tensor):
        """Identity of (points, student weights) for the purified cache:
        storage, shape, in-place version and column sums of the points and
        the in-place versions of the student's parameters and buffers."""
        p = pts.detach()
        return (p.data_ptr(), tuple(p.shape), p._version, str(p.device),
                tuple(p.double().sum(0).tolist()),
                tuple(t._version for t in self.backbone.state_dict(
                    keep_vars=True).values()),
                tuple(t._version for t in self.decode_head.state_dict(
                    keep_vars=True).values()))

    @torch.no_grad()
    def purified(self, pts: torch.Tensor) -> torch.Tensor:
        """:meth:`purify` with a one-scene cache (eval mode only): calling
        it again on the same, unchanged points with unchanged weights
        returns the cached ``(N, C)`` features."""
        if self.training:
            self._purified = None
            return self.purify(pts)
        key = self._purify_key(pts)
        if self._purified is not None and self._purified[0] == key:
            return self._purified[1]
        out = self.purify(pts)
        self._purified = (key, out)
        return out

    def clear_purified_cache(self) -> None:
        """Drop the cached purified features."""
        self._purified = None

    @torch.no_grad()
    def purify_with_teacher(self, pts: torch.Tensor,
                            teacher: OptConfigType = None,
                            per_voxel: bool = False,
                            reference: bool = False):
        """Geometry-guided pooling with affinities from an online teacher
        instead of a trained student (no checkpoint needed).

        The teacher runs on the voxel centroids (mean xyz and colour of
        each voxel's points): its neighbourhoods then have the same scale
        for clouds of any density, and it costs ``V`` instead of ``N``
        points.

        Args:
            pts (Tensor): ``(N, 6 + C)`` points (see the class docstring).
            teacher (dict | nn.Module, optional): Defaults to the model's
                ``teacher`` or a :class:`GeometricTeacher`.
            per_voxel (bool): Return the ``(V, C)`` voxel features and the
                point -> voxel index ``(N,)`` instead of ``(N, C)`` (all
                points of a voxel share its features).
            reference (bool): Run the earlier implementation, for
                comparisons: point normals estimated (then dropped), all
                voxel channels pooled with the reference products, one
                neighbour search per teacher K, grid kNN only. The result is
                the same; the default path skips the unused work and runs
                the fast products and the k-d tree kNN.

        Returns:
            Tensor | tuple: ``(N, C)`` pooled fused features, or
            ``((V, C), (N,))`` with ``per_voxel``.
        """
        if teacher is None:
            teacher = self.teacher if self.teacher is not None else dict(
                type='GeometricTeacher')
        if isinstance(teacher, dict):
            teacher = MODELS.build(teacher)
        if reference:
            return self._purify_with_teacher_reference(pts, teacher,
                                                       per_voxel)
        # only the fused channels are pooled and kept: no normals needed
        x, coords, inv, _ = self._voxel_inputs(pts, fused_only=True)
        centroids = scatter_mean(pts[:, :6].float(), inv, len(coords))
        emb = F.normalize(teacher(centroids).float(), dim=-1)
        pooled = self.decode_head.pool(dict(feats=x, emb=emb,
                                            coords=coords[:, 1:]))
        del x, emb
        return (pooled, inv) if per_voxel else pooled[inv]

    def _purify_with_teacher_reference(self, pts, teacher, per_voxel):
        """:meth:`purify_with_teacher` as it was first written (see its
        ``reference``)."""
        from ...ops.knn import use_tree
        pooling = self.decode_head.pooling
        shared = getattr(teacher, 'shared_knn', None)
        fast = pooling.fast
        try:
            pooling.fast = False
            if shared is not None:
                teacher.shared_knn = False
            with use_tree(False):
                x, coords, inv, _ = self._voxel_inputs(pts)
                centroids = scatter_mean(pts[:, :6].float(), inv,
                                         len(coords))
                emb = F.normalize(teacher(centroids).float(), dim=-1)
                pooled = pooling(x, emb, coords[:, 1:])
        finally:
            pooling.fast = fast
            if shared is not None:
                teacher.shared_knn = shared
        pooled = pooled[:, :self.decode_head.channels]
        return (pooled, inv) if per_voxel else pooled[inv]
