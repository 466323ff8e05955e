"""GeoPurify: student affinity distillation + geometry-guided pooling."""
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmdet3d.models.segmentors.base import Base3DSegmentor
from mmdet3d.registry import MODELS

from ovseg_plugins.text import (TextEmbeddingCache, Vocabulary, encode_queries,
                                get_templates, text_cache_key)
from ovseg_plugins.utils.checkpoint import load_torch_file
from ovseg_plugins.utils.typing import ConfigType, OptConfigType
from ovseg_plugins.utils.validation import (check_array, check_finite_output,
                                            check_int, check_number,
                                            check_xyz_rgb, file_errors)
from ...ops.knn import knn_indices
from ..utils import estimate_normals, scatter_mean, voxelize


@MODELS.register_module()
class GeoPurifySegmentor(Base3DSegmentor):
    """Open-vocabulary 3D segmentation with GeoPurify.

    Point columns: ``[x, y, z, r, g, b (0..255), fused (C), teacher (Ct)]``
    (fused / teacher features appended by ``LoadPointFeatures``).

    Call flow::

        loss():    voxelise (2 cm) -> X = [mean fused | rgb/255 | normal]
                   -> student (whole voxelised scene) -> embeddings
                   -> InfoNCE with teacher-chosen pairs (teacher per voxel,
                      kNN on voxel coords). No 3D labels.
        predict(): X -> student -> kNN (K, self excluded) -> row-softmax of
                   sharpen·cos -> F <- A·F, T times -> fused dims -> points
                   -> cosine with text embeddings -> labels.
        Deterministic: no random rotation/scale at test time.

    Args:
        backbone (dict): :class:`StudentAffinityNet`.
        loss (dict): :class:`AffinityInfoNCELoss`.
        decode_head (dict, optional): :class:`AffinityPurifyHead`; by default
            built from ``knn``, ``sharpen``, ``iterations`` and ``chunk``.
        class_names (str | list): Vocabulary (file / inline / list).
        fused_channels (int): C. Defaults to 512.
        teacher_channels (int): Ct of precomputed teacher columns
            (training only). Defaults to 0.
        teacher (dict, optional): An online teacher run on each training
            scene's ``(N, 6)`` xyz rgb instead of teacher columns, e.g.
            ``dict(type='GeometricTeacher')`` or
            ``dict(type='PointBackboneTeacher', backbone=<any mmdet3d
            backbone config>, checkpoint=..., color_scale=...)``.
        text_embeddings (str, optional): ``(num_classes, C)`` .pt/.npy file
            of class embeddings in the fused features' space.
        text_encoder (dict, optional): open_clip tower to embed
            ``templates`` × class names instead: ``dict(model_name=...,
            pretrained=..., model_cfg=None)``.
        templates (str | list): Defaults to ``['a {} in a scene']``.
        voxel_size (float): Defaults to 0.02.
        knn (int): Pooling neighbours. Defaults to 96.
        sharpen (float): Defaults to 20.
        iterations (int): Pooling sparse products. Defaults to 19 (the
            authors' code: 1 + 18); the paper's T = 18 is 18.
        normal_knn (int): Neighbours for PCA normals. Defaults to 16.
        normals (str): ``'points'``: PCA normals of the points (default);
            ``'columns'``: read them from point columns 6..8 (points
            ``[xyz, rgb, normal, fused, teacher]``, from ``AddPointNormals``:
            file / mesh-face normals).
        chunk (int): kNN query rows per step (memory chunk × N).
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
                 knn: int = 96,
                 sharpen: float = 20.,
                 iterations: int = 19,
                 normal_knn: int = 16,
                 normals: str = 'points',
                 chunk: int = 4096,
                 data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor or dict(
            type='Det3DDataPreprocessor'), init_cfg=init_cfg)
        self.train_cfg, self.test_cfg = train_cfg, test_cfg
        self.backbone = MODELS.build(backbone)
        self.loss_fn = MODELS.build(loss or dict(type='AffinityInfoNCELoss'))
        self.decode_head = MODELS.build(decode_head or dict(
            type='AffinityPurifyHead', knn=knn, sharpen=sharpen,
            iterations=iterations, chunk=chunk))
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
        self.knn = check_int('knn', knn, 'GeoPurifySegmentor', lo=1)
        self.normal_knn = check_int('normal_knn', normal_knn,
                                    'GeoPurifySegmentor', lo=3)
        if normals not in ('points', 'columns'):
            raise ValueError("normals must be 'points' or 'columns', got "
                             f'{normals!r}.')
        self.normals = normals
        self.chunk = check_int('chunk', chunk, 'GeoPurifySegmentor', lo=1)
        self.vocabulary = Vocabulary.build(class_names)
        text = self._text_embeddings(text_embeddings, text_encoder,
                                     get_templates(list(templates) if not
                                                   isinstance(templates, str)
                                                   else templates))
        self.register_buffer('text_embeds', F.normalize(text.float(), dim=-1),
                             persistent=False)
        self.register_buffer(
            'query_to_class',
            torch.as_tensor(self.vocabulary.query_to_class), persistent=False)

    def _text_embeddings(self, path, encoder_cfg, templates) -> torch.Tensor:
        n_q = len(self.vocabulary.queries)
        if path is not None:
            if path.endswith('.npy'):
                import os.path as osp
                if not osp.isfile(path):
                    raise FileNotFoundError(f'text embeddings not found: '
                                            f'{path!r}')
                with file_errors(path, 'text embeddings'):
                    emb = torch.from_numpy(np.load(path))
            else:
                emb = load_torch_file(path, 'text embeddings')
                emb = emb.get('text_embeds', emb) if isinstance(emb,
                                                                dict) else emb
            check_array('text embeddings', emb, path, nonzero_rows=True)
        elif encoder_cfg is not None:
            from ovseg_plugins.utils.open_clip_loader import build_open_clip
            cfg = dict(encoder_cfg)
            name = cfg.pop('model_name')
            clip, weights_id = build_open_clip(name, **cfg)
            import open_clip
            tok = open_clip.get_tokenizer(name)

            def compute():
                with torch.no_grad():
                    return encode_queries(
                        lambda p: clip.encode_text(tok(p)),
                        self.vocabulary.queries, templates)

            if weights_id is None:
                emb = compute()
            else:
                emb = TextEmbeddingCache().get_or_compute(
                    text_cache_key(f'open_clip:{name}', weights_id,
                                   self.vocabulary.queries, templates),
                    compute, rows=n_q)
        else:
            raise ValueError('GeoPurifySegmentor needs text_embeddings (a '
                             'file) or text_encoder (an open_clip tower).')
        if tuple(emb.shape) != (n_q, self.fused_channels):
            raise ValueError(
                f'text embeddings have shape {tuple(emb.shape)}, expected '
                f'({n_q} queries, {self.fused_channels}) to match the '
                'vocabulary and the fused features.')
        return emb

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

    def _voxel_inputs(self, pts: torch.Tensor, with_teacher: bool = False):
        xyz, rgb, fused, teacher = self._split(pts, with_teacher)
        coords, inv = voxelize(xyz, self.voxel_size)
        V = len(coords)
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
    def extract_feat(self, batch_inputs_dict: dict) -> List[torch.Tensor]:
        out = []
        for pts in batch_inputs_dict['points']:
            x, coords, _, _ = self._voxel_inputs(pts)
            out.append(self.backbone(x, coords))
        return out

    def encode_decode(self, batch_inputs: torch.Tensor,
                      batch_data_samples) -> torch.Tensor:
        return self.predict(dict(points=[batch_inputs]), batch_data_samples)

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
                return knn_indices(vox, self.knn, self.chunk, query=anchors)

            losses.append(self.loss_fn(emb, teacher, anchor_knn))
        return dict(loss_infonce=torch.stack(losses).mean())

    @torch.no_grad()
    def purify(self, pts: torch.Tensor) -> torch.Tensor:
        """Pooled fused features per point ``(N, C)``."""
        x, coords, inv, _ = self._voxel_inputs(pts)
        emb = self.backbone(x, coords)
        pooled = self.decode_head(x, emb, coords[:, 1:])
        return pooled[:, :self.fused_channels][inv]

    def predict(self, batch_inputs_dict: dict, batch_data_samples):
        seg_logits = []
        for pts in batch_inputs_dict['points']:
            # zero pooled features: label of the nearest non-zero point
            xyz = pts[:, :3] if getattr(self.decode_head, 'zero_fill',
                                        False) else None
            seg_logits.append(self.decode_head.classify(
                self.purify(pts), self.text_embeds, self.query_to_class,
                self.vocabulary.num_classes, xyz=xyz))
            check_finite_output('point logits', seg_logits[-1],
                                'GeoPurifySegmentor.predict')
        return self.postprocess_result(seg_logits, batch_data_samples)

    def _forward(self, batch_inputs_dict: dict, batch_data_samples=None):
        return [self.purify(p) for p in batch_inputs_dict['points']]
