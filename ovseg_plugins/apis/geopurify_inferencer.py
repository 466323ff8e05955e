"""Free-text 3D segmentation of your own point cloud with GeoPurify.

One call runs the whole chain on a point cloud (.ply / .pcd / .bin / .npy
/ ScanNet .pth)::

    read -> views (posed RGB-D frames, or rendered from the coloured cloud)
         -> 2D features per view (dense CLIP, or precomputed maps of any
            model) -> lifted to the points (consensus top-k fusion)
         -> purified (geometry-guided pooling with a trained student, or
            with the online geometric teacher when no checkpoint is given)
         -> cosine with the text embeddings of free-text classes (synonyms:
            the best-matching synonym wins) -> per-point labels and scores.

It follows mmdet3d's ``LidarSeg3DInferencer`` conventions (an mmengine
``BaseInferencer``: ``inferencer(inputs, out_dir=...)`` returns
``{'predictions': [...], 'visualization': [...]}``; predictions hold
``pts_semantic_mask``) and adds ``pts_scores``, the class names, and files
per input: ``<stem>_labels.npy``, ``<stem>_scores.npy``, a coloured
``<stem>_labels.ply`` (with ``label`` / ``score`` properties) and a
``<stem>_labels.png`` picture with a legend, all written atomically.

Papers: GeoPurify (arXiv 2510.02186, ICLR 2026, github.com/tj12323/GeoPurify);
OpenScene (CVPR 2023, github.com/pengsongyou/openscene) for the 2D-to-3D
lifting set-up.
"""
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.infer.infer import BaseInferencer
from mmengine.logging import print_log

from ovseg_plugins.apis.geopurify.feature_sources import (
    CallableFeatureSource, ClipFeatureSource, FeatureMapSource,
    build_feature_source)
from ovseg_plugins.apis.geopurify.progress import (SizedIterable,
                                                   StageProgress)
from ovseg_plugins.apis.geopurify.scene_inputs import (inputs_to_list,
                                                       read_input,
                                                       scene_views)
from ovseg_plugins.seg3d.io.results import write_cloud_results
from ovseg_plugins.seg3d.models.decode_heads.text_embedding_classifier import \
    point_scores
from ovseg_plugins.seg3d.pointcloud_io import PointCloud
from ovseg_plugins.seg3d.visualization.palette import class_palette
from ovseg_plugins.text import Vocabulary, get_templates
from ovseg_plugins.utils.io import atomic_write
from ovseg_plugins.utils.picture_stamp import RANDOM_WEIGHTS_STAMP

InputType = Union[str, np.ndarray, PointCloud, dict]

__all__ = ['GeoPurifyInferencer', 'ClipFeatureSource', 'FeatureMapSource',
           'CallableFeatureSource']


# ---------------------------------------------------------------- inferencer
def _register(cls):
    """Register in mmdet3d's INFERENCERS as ``seg3d-geopurify``."""
    from mmdet3d.registry import INFERENCERS
    INFERENCERS.register_module(name='seg3d-geopurify', module=cls,
                                force=True)
    return cls


@_register
class GeoPurifyInferencer(BaseInferencer):
    """GeoPurify on user point clouds with free-text classes.

    Args:
        classes (str | list | Vocabulary): Classes with synonyms:
            ``"chair,stool;table;floor"`` (``;`` between classes, ``,``
            between synonyms), a class-name file or a list.
        model (str | dict | Config, optional): A GeoPurify config: a file,
            a name under ``configs/`` (``'geopurify/scannet'``) or a dict /
            ``Config`` with ``model``. None: the model config stored in the
            checkpoint as data (``meta['model_cfg']``), else the training
            configs' base ``configs/_base_/models/geopurify_student.py``
            (the authors' defaults) sized for the 2D features and the
            checkpoint's shapes (:mod:`~ovseg_plugins.apis.geopurify.
            model_config`). Config text stored in a checkpoint is never
            executed.
        weights (str, optional): Trained student checkpoint (mmengine
            checkpoint of ``GeoPurifySegmentor`` or its ``state_dict``).
            None: pooling affinities come from the online geometric
            teacher (training-free), said in the log.
        feature_model (dict | callable, optional): The 2D model: ``dict(
            model_name='ViT-B-16', pretrained=<weights>, model_cfg=None)``
            for our dense CLIP, or a :class:`CallableFeatureSource`-like
            object.
        feature_maps (str, optional): Folder of precomputed ``<frame
            id>.npy`` ``(D, h, w)`` maps (needs posed frames and
            ``text_embeddings``).
        text_embeddings (str | dict | Tensor | callable, optional): Text
            embeddings in the 2D features' space for ``feature_maps``.
        templates (str | list): Prompt templates. Defaults to
            ``'a {} in a scene'``.
        views (int): Rendered yaw angles per camera position when no
            frames are given.
        render_size (tuple): ``(W, H)`` of rendered views.
        fov, pitch, splat, eye_height: Rendering (see
            ``ovseg_plugins.seg3d.rendering``).
        render_layout (str): Camera layout of rendered views: ``'auto'``
            (inside a room, outside an object), ``'centre'``,
            ``'corners'`` or ``'outside'`` (``rendering.orbit_cameras``).
        frame_step (int): Use frames whose id is a multiple of this.
        depth_scale (float): Depth PNG units per metre.
        lift_cfg (dict, optional): Lifting settings
            (:class:`~ovseg_plugins.seg3d.lifting.LiftConfig`:
            ``vis_threshold``, ``cut_boundary``, ``k``, ``logit_scale``,
            ``min_visible``, ``zbuffer``, ...; the authors' defaults
            otherwise), the same as ``tools/geopurify/lift_features.py``'s.
        teacher (dict, optional): Online teacher config for the
            checkpoint-free path. Defaults to ``GeometricTeacher``.
        device (str, optional): Defaults to 'cpu'.
        show_progress (bool): A progress bar per stage.
    """

    preprocess_kwargs: set = {'frames', 'load_dim', 'images', 'undistort'}
    #: how this door's users set ``min_visible`` (named when no view is
    #: usable; tools set their own option, e.g. ``'--min-visible'``)
    min_visible_hint: str = 'lift_cfg=dict(min_visible=...)'
    forward_kwargs: set = set()
    visualize_kwargs: set = {'return_vis', 'img_out_dir', 'no_save_vis'}
    postprocess_kwargs: set = {'pred_out_dir', 'no_save_pred'}

    def __init__(self,
                 classes,
                 model: Union[str, dict, Config, None] = None,
                 weights: Optional[str] = None,
                 feature_model: Union[dict, Callable, None] = None,
                 feature_maps: Optional[str] = None,
                 text_embeddings=None,
                 templates: Union[str, Sequence[str]] = ('a {} in a scene', ),
                 views: int = 8,
                 render_size: Tuple[int, int] = (320, 240),
                 fov: float = 70.,
                 pitch: float = -15.,
                 splat: int = 2,
                 eye_height: float = 1.4,
                 render_layout: str = 'auto',
                 frame_step: int = 20,
                 depth_scale: float = 1000.,
                 lift_cfg: Optional[dict] = None,
                 teacher: Optional[dict] = None,
                 device: Optional[str] = None,
                 show_progress: bool = True) -> None:
        device = device or 'cpu'
        self.source = build_feature_source(feature_model, feature_maps,
                                           text_embeddings, device)
        # a dense CLIP without weights: labels mean nothing (stamped)
        self.random_weights = bool(getattr(self.source, 'random_weights',
                                           False))
        if isinstance(templates, str) and '{}' in templates:
            templates = [templates]
        self.templates = get_templates(templates if isinstance(
            templates, str) else list(templates))
        self.vocabulary = Vocabulary.build(classes)
        self.text = self.source.text(self.vocabulary.queries, self.templates)
        self.render_cfg = dict(views=views, size=tuple(render_size), fov=fov,
                               pitch=pitch, splat=splat,
                               eye_height=eye_height, layout=render_layout)
        from ovseg_plugins.seg3d.lifting import LiftConfig
        self.frame_step, self.depth_scale = frame_step, depth_scale
        self.lift_cfg = LiftConfig.build(lift_cfg)
        self.teacher_cfg = teacher or dict(type='GeometricTeacher')
        self._teacher = None
        self._scene_cache: Optional[tuple] = None
        self.stage_times: Dict[str, float] = {}
        self.stage_spans: List[Tuple[str, float, float]] = []
        self._model_spec = model  # resolved in _init_model
        super().__init__(model=ConfigDict(), weights=weights, device=device,
                         scope='mmdet3d', show_progress=show_progress)
        self.cfg = self.model.cfg

    # ------------------------------------------------------------ set-up
    def _init_model(self, cfg, weights: Optional[str], device: str = 'cpu'):
        """The model from a GeoPurify config (see ``model``), sized for the
        2D source, with the vocabulary's text embeddings."""
        import ovseg_plugins.seg3d  # noqa: F401  (registers)
        from ovseg_plugins.apis.geopurify.model_config import (
            build_model, for_vocabulary, inference_model_cfg)
        from ovseg_plugins.utils.checkpoint import (load_state_dict_strict,
                                                    load_torch_file)
        sd, meta = None, None
        if weights is not None:
            ckpt = load_torch_file(weights, 'student checkpoint')
            sd = ckpt.get('state_dict', ckpt) if isinstance(ckpt,
                                                            dict) else None
            if not isinstance(sd, dict):
                raise ValueError(f'{weights}: not a state dict / mmengine '
                                 'checkpoint.')
            meta = ckpt.get('meta') if isinstance(ckpt.get('meta'),
                                                  dict) else {}
        mcfg, where, cfg = inference_model_cfg(
            self._model_spec, int(self.text.shape[1]), sd, meta, weights)
        print_log(f'GeoPurify model from {where}', logger='current')
        if sd is not None and self._model_spec is None and \
                'model_cfg' not in meta and isinstance(meta.get('cfg'), str):
            print_log(f'{weights}: the config text stored in the checkpoint '
                      'is not executed; the student is built from the base '
                      'config and its weights\' shapes (pass model=<training '
                      'config> for its other settings).', logger='current')
        model = build_model(for_vocabulary(mcfg, self.vocabulary, self.text),
                            where)
        if sd is not None:
            sd = {k: v for k, v in sd.items()
                  if not k.startswith(('teacher.', 'loss_fn.'))}
            load_state_dict_strict(model, sd, f'student checkpoint '
                                   f'{weights!r}')
            print_log(f'student loaded from {weights}', 'current')
        self.has_student = sd is not None
        model.cfg = cfg
        return model.to(device).eval()

    def _init_pipeline(self, cfg) -> Callable:
        return lambda x: x  # reading happens in preprocess()

    def _init_collate(self, cfg) -> Callable:
        return lambda x: x

    def _init_visualizer(self, cfg):
        """The registered 3D picture renderer (``PointSegLocalVisualizer``,
        as ``tools/test.py --show-dir``), stamped when the 2D model has
        random weights."""
        from mmdet3d.registry import VISUALIZERS
        from mmengine.registry import DefaultScope

        # whatever scope the caller left (an OVSegInferencer leaves mmseg's)
        with DefaultScope.overwrite_default_scope('mmdet3d'):
            return VISUALIZERS.build(dict(
                type='PointSegLocalVisualizer',
                name=f'geopurify_inferencer_{id(self)}_{time.time_ns()}',
                stamp=RANDOM_WEIGHTS_STAMP if self.random_weights else None))

    # ------------------------------------------------------------ vocabulary
    def set_vocabulary(self, classes) -> None:
        """New classes for the next calls. A scene already processed (the
        same input) is re-classified from its cached purified features: no
        re-lifting or re-purifying (its lifting kept the consensus weights
        of the vocabulary it was first run with)."""
        vocab = Vocabulary.build(classes)
        text = self.source.text(vocab.queries, self.templates)
        self.model.set_vocabulary(vocab, text)
        self.vocabulary, self.text = vocab, text

    @property
    def classes(self) -> List[str]:
        return list(self.vocabulary.class_names)

    # ------------------------------------------------------------ inputs
    def _inputs_to_list(self, inputs) -> list:
        return inputs_to_list(inputs)

    def preprocess(self, inputs: list, batch_size: int = 1,
                   frames: Optional[str] = None,
                   load_dim: Optional[int] = None,
                   images: Optional[str] = None, undistort: bool = False,
                   **kwargs):
        for item in inputs:
            yield read_input(item, frames, load_dim, images, undistort)

    # ------------------------------------------------------------ the chain
    def _views(self, data: dict):
        """The view source of one input (:func:`scene_views`)."""
        return scene_views(data, self.render_cfg, self.frame_step,
                           self.depth_scale)

    def _lift(self, cloud: PointCloud, views, stages: StageProgress
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        from ovseg_plugins.seg3d.lifting import lift_views
        with stages.stage('lift', len(views)) as step:
            try:
                res = lift_views(
                    torch.from_numpy(cloud.xyz), views, self.text,
                    self.source, self.lift_cfg, progress=step,
                    name=cloud.path or 'input',
                    option_hint=self.min_visible_hint)
            except ValueError as e:
                if not isinstance(views, SizedIterable) or 'none of the' not in \
                        str(e):
                    raise
                # rendered views: the poses are ours, the cloud is too small
                raise ValueError(
                    f'{cloud.path or "input"}: the cloud is too small or too '
                    f'sparse for the view rule: {len(cloud)} points, and no '
                    f'rendered view sees {self.lift_cfg.min_visible} of them '
                    '(a view is used only with at least min_visible visible '
                    f'points). Lower {self.min_visible_hint} (e.g. to '
                    f'{max(1, len(cloud) // 20)}), or give a denser cloud or '
                    'posed images.') from e
        return res.fused, res.seen

    def _purify(self, pts: torch.Tensor, stages: StageProgress
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Purified features: ``(N, C)`` and None, or ``(V, C)`` voxel
        features and the point -> voxel index."""
        with stages.stage('purify'):
            if self.has_student:
                return self.model.purified(pts), None
            if self._teacher is None:
                from mmengine.registry import DefaultScope
                from mmdet3d.registry import MODELS
                with DefaultScope.overwrite_default_scope('mmdet3d'):
                    self._teacher = MODELS.build(dict(self.teacher_cfg))
                print_log('no student checkpoint: geometry-guided pooling '
                          'uses affinities of the online '
                          f'{type(self._teacher).__name__} (training-free)',
                          logger='current')
            return self.model.purify_with_teacher(pts, self._teacher,
                                                  per_voxel=True)

    @torch.no_grad()
    def forward(self, data: dict, **kwargs) -> List[dict]:
        """Run the chain on one preprocessed input."""
        cloud = data['cloud']
        stages = StageProgress(self.show_progress)
        cache = self._scene_cache
        with stages:
            dev = next(iter(self.model.buffers())).device
            if data['key'] is not None and cache is not None and \
                    cache[0] == (data['key'], self.has_student):
                (pooled, inv), seen = cache[1], cache[2]
                print_log('same scene: re-classifying its cached purified '
                          'features', logger='current')
            else:
                fused, seen = self._lift(cloud, self._views(data), stages)
                pts = torch.cat([torch.from_numpy(cloud.points),
                                 fused.float()], 1).to(dev)
                del fused  # only the points tensor is needed now
                pooled, inv = self._purify(pts, stages)
                del pts
                self._scene_cache = ((data['key'], self.has_student),
                                     (pooled, inv), seen) \
                    if data['key'] is not None else None
            with stages.stage('classify'):
                # the model's classifier and score rule (as tools/test.py);
                # zero pooled features take the nearest non-zero point's
                logits = self.model.decode_head.classify(
                    pooled, torch.from_numpy(cloud.xyz).to(pooled.device),
                    inv)
                scores, labels = point_scores(logits)
        self.stage_times = dict(stages.times)
        self.stage_spans = list(stages.spans)
        return [dict(name=data['name'], cloud=cloud,
                     pts_semantic_mask=labels.cpu().numpy().astype(np.int64),
                     pts_scores=scores.cpu().numpy().astype(np.float32),
                     pts_seen=seen.cpu().numpy(),
                     classes=list(self.vocabulary.class_names))]

    def __call__(self, inputs, return_datasamples: bool = False,
                 batch_size: int = 1, out_dir: str = '', **kwargs) -> dict:
        """Segment ``inputs``.

        Args:
            inputs: A point-cloud file, a folder of them, an ``(N, 6)``
                array, a :class:`PointCloud`, ``{'points': ..., 'frames':
                scene_dir}`` or a list of those.
            out_dir (str): Save ``<stem>_labels.npy``, ``_scores.npy``,
                ``_labels.ply`` and ``_labels.png`` there ('' = nothing).
            frames (str): Posed views for every input: a folder of RGB-D
                frames (ScanNet or mmdet3d layout) or a COLMAP model /
                project folder (``sparse/0``, images in ``images/``); else
                views are rendered from the cloud.
            images (str): COLMAP: the image folder (default: the
                project's ``images/``).
            undistort (bool): COLMAP: undistort the images of distorted
                cameras with OpenCV instead of refusing them.
            load_dim (int): Columns of ``.bin`` files (default 6).
            return_vis (bool): Return the pictures.

        Returns:
            dict: ``predictions`` (per input: ``pts_semantic_mask (N,)``,
            ``pts_scores (N,)``, ``pts_seen (N,)`` (seen by some view),
            ``classes``, ``files``) and ``visualization``.
        """
        kwargs.update(img_out_dir=out_dir, pred_out_dir=out_dir)
        pre, fwd, vis_kw, post = self._dispatch_kwargs(**kwargs)
        ori = self._inputs_to_list(inputs)
        preds = []
        for data in self.preprocess(ori, batch_size, **pre):
            preds.extend(self.forward(data, **fwd))
        visualization = self.visualize(ori, preds, **vis_kw)
        return self.postprocess(preds, visualization, return_datasamples,
                                **post)

    # ------------------------------------------------------------ outputs
    def _stem(self, pred: dict, i: int) -> str:
        return pred['name'] or f'{i:08d}'

    def visualize(self, inputs: list, preds: List[dict],
                  return_vis: bool = False, img_out_dir: str = '',
                  no_save_vis: bool = False, **kwargs):
        if no_save_vis:
            img_out_dir = ''
        if not img_out_dir and not return_vis:
            return None
        out = []
        for i, pred in enumerate(preds):
            self.visualizer.dataset_meta = dict(
                classes=pred['classes'],
                palette=class_palette(len(pred['classes'])).tolist())
            path = osp.join(img_out_dir, self._stem(pred, i) +
                            '_labels.png') if img_out_dir else None
            img = self.visualizer.add_datasample(
                self._stem(pred, i), dict(points=pred['cloud'].points),
                _data_sample(pred), draw_gt=False, out_file=path)
            if path:
                pred.setdefault('files', {})['png'] = path
            out.append(img)
        return out if return_vis else None

    def postprocess(self, preds: List[dict], visualization=None,
                    return_datasample: bool = False, pred_out_dir: str = '',
                    no_save_pred: bool = False, **kwargs) -> dict:
        if no_save_pred:
            pred_out_dir = ''
        results = []
        for i, pred in enumerate(preds):
            cloud = pred.pop('cloud')
            if pred_out_dir:
                stem = osp.join(pred_out_dir, self._stem(pred, i))
                lab, sc = pred['pts_semantic_mask'], pred['pts_scores']
                atomic_write(stem + '_labels.npy',
                             lambda t: np.save(t, lab), suffix='.npy')
                atomic_write(stem + '_scores.npy',
                             lambda t: np.save(t, sc), suffix='.npy')
                pal = class_palette(len(pred['classes']))
                files = write_cloud_results(stem, cloud, lab, sc,
                                            pred['classes'], pal[lab])
                pred.setdefault('files', {}).update(
                    labels=stem + '_labels.npy', scores=stem + '_scores.npy',
                    **files)
            results.append(_data_sample(pred) if return_datasample else pred)
        return dict(predictions=results, visualization=visualization)


def _data_sample(pred: dict):
    """A prediction as mmdet3d's ``Det3DDataSample`` (``pred_pts_seg``,
    the class names in its metainfo)."""
    from mmdet3d.structures import Det3DDataSample, PointData
    ds = Det3DDataSample()
    ds.pred_pts_seg = PointData(
        pts_semantic_mask=torch.from_numpy(pred['pts_semantic_mask']))
    ds.set_metainfo(dict(classes=pred['classes']))
    return ds
