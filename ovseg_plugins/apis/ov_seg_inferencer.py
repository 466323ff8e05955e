"""Open-vocabulary 2D inferencer (SegEarth-OV, its baselines, SegEarth-OV3).

An :class:`mmseg.apis.MMSegInferencer` whose classes are free text::

    from ovseg_plugins.apis import OVSegInferencer
    inferencer = OVSegInferencer('segearth', weights='ViT-B-16.pt',
                                 classes='road,parking lot;building;tree')
    out = inferencer('demo/aerial_demo.png', out_dir='outputs')
    out['predictions']            # (H, W) label map
    inferencer.set_vocabulary(['water', 'boat'])  # no rebuild
    inferencer.segment_raster('scene.tif', 'outputs/scene_labels.tif',
                              scores='outputs/scene_scores.tif',
                              quicklook='outputs/scene.png',
                              polygons='outputs/scene.geojson')
"""
import glob
import logging
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmseg.apis import MMSegInferencer
from mmseg.registry import MODELS

from ovseg_plugins.apis.config_names import (ALIASES, CONFIG_ROOT,  # noqa: F401,E501
                                             REPO_ROOT, resolve_config)
from ovseg_plugins.utils import (UnsafeCheckpointError, WeightsNotFoundError,
                                 load_torch_file)
from ovseg_plugins.utils.deferred_weights import (DeferredWeights,
                                                  ensure_model_weights)
from ovseg_plugins.utils.io import atomic_write
from ovseg_plugins.utils.picture_stamp import RANDOM_WEIGHTS_STAMP

IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
DEFAULT_MODEL = 'segearth'
# Images without a dataset config: long side to 448 like the authors' demos.
DEFAULT_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(448, 448), keep_ratio=True),
    dict(type='PackSegInputs')
]
SAM3_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]


def _is_segmentor_checkpoint(path: str) -> bool:
    """True for an mmengine checkpoint of a whole segmentor (``state_dict``
    with ``backbone.*`` keys); False for backbone weights (CLIP .pt, SAM 3
    directory)."""
    if not osp.isfile(path) or not path.endswith(('.pth', '.ckpt', '.pt')):
        return False
    try:
        ckpt = load_torch_file(path, 'weights', mmap=True)
    except UnsafeCheckpointError:
        raise  # names the file; nothing in it ran
    except Exception:  # noqa: BLE001 - other formats: backbone weights
        return False
    sd = ckpt.get('state_dict') if isinstance(ckpt, dict) else None
    return isinstance(sd, dict) and any(
        k.startswith('backbone.') for k in sd)


def _background_for_new_classes(bg_idx: Optional[int],
                                prob_thd: Optional[float], old_prob_thd: float,
                                old_bg_idx: int):
    """``(bg_idx, prob_thd)`` for a new vocabulary: without ``bg_idx`` the
    background index becomes 0 and a background rule of the previous classes
    (``old_prob_thd > 0``: it named one of them) is switched off, logged."""
    if bg_idx is not None:
        return bg_idx, prob_thd
    if prob_thd is None and old_prob_thd > 0:
        print_log(
            'new classes: the background rule of the previous ones (pixels '
            f'whose best probability is below prob_thd={old_prob_thd:g} -> '
            f'their class {old_bg_idx}) is off; give bg_idx= and prob_thd= '
            '(image_demo.py: --bg-idx, --prob-thd) to apply one to your '
            'classes.', 'current', logging.WARNING)
        prob_thd = 0.
    return 0, prob_thd


class OVSegInferencer(MMSegInferencer):
    """Open-vocabulary segmentation inferencer.

    Args:
        model (str | Config | dict): Config path, config name under
            ``configs/`` ('segearth/potsdam', 'segearth/baselines/
            clearclip_loveda', 'segearth_ov3/potsdam') or an alias
            ('segearth' = SegEarth-OV ViT-B/16, 'segearth_ov3').
            Defaults to 'segearth'.
        weights (str, optional): Backbone weights (an open_clip tag such as
            'openai' or a local CLIP checkpoint for SegEarth-OV; a local
            ``from_pretrained`` directory for SegEarth-OV3) or an mmengine
            checkpoint of the whole segmentor (``state_dict`` with
            ``backbone.*``). Default: the config's.
        classes (str | list, optional): The vocabulary: a list (items may be
            lists of synonyms or ``"a,b"`` strings), an inline
            ``"road,parking lot;building;tree"`` string (``;`` between
            classes, ``,`` between synonyms) or a class-name file (one class
            per line). Default: the config's ``class_names``.
        palette (list, optional): One RGB triple per class.
        device (str, optional): 'cpu', 'cuda', 'cuda:1'... Default: CUDA if
            available.
        bg_idx (int, optional): Background class index (where the winning
            probability is below ``prob_thd``). Default: the config's.
        prob_thd (float, optional): Default: the config's.
        cfg_options (dict, optional): Further overrides of the config
            (e.g. ``{'model.test_cfg.crop_size': (448, 448)}``).
        allow_download (bool): Let the backbone download its weights.
            Defaults to False.
        random_weights_ok (bool): If the config's default weights cannot be
            found, warn and continue with random weights
            (``self.random_weights`` is True, ``self.random_weights_reason``
            the missing-weights message) instead of raising; weights
            given as ``weights`` must exist in any case. Defaults to False.
        scope (str): Defaults to 'mmseg'.
    """

    def __init__(self,
                 model: Union[str, Config, dict] = DEFAULT_MODEL,
                 weights: Optional[str] = None,
                 classes: Optional[Union[str, Sequence]] = None,
                 palette: Optional[Sequence] = None,
                 device: Optional[str] = None,
                 bg_idx: Optional[int] = None,
                 prob_thd: Optional[float] = None,
                 cfg_options: Optional[dict] = None,
                 allow_download: bool = False,
                 random_weights_ok: bool = False,
                 scope: str = 'mmseg') -> None:
        import ovseg_plugins.seg2d  # noqa: F401  (registers the models)
        if isinstance(model, str):
            cfg = Config.fromfile(resolve_config(model))
        elif isinstance(model, (Config, ConfigDict, dict)):
            cfg = Config(dict(model)) if isinstance(model, dict) else \
                model.copy()
        else:
            raise TypeError(f'model must be a config path / name or a '
                            f'Config, got {type(model).__name__}.')
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if classes is not None:
            cfg.model.class_names = classes
            # the config's background rule names one of ITS classes
            bg_idx, prob_thd = _background_for_new_classes(
                bg_idx, prob_thd, cfg.model.get('prob_thd', 0),
                cfg.model.get('bg_idx', 0))
        if cfg.model.get('class_names') is None:
            raise ValueError(
                'No vocabulary: pass classes= (e.g. "road,parking lot;'
                'building;tree" or a class-name file); the config '
                f'{getattr(cfg, "filename", "")!r} sets no class_names.')
        if bg_idx is not None:
            cfg.model.bg_idx = int(bg_idx)
        if prob_thd is not None:
            cfg.model.prob_thd = float(prob_thd)
        if cfg.model.backbone.get('type') in ('DenseCLIPViT', 'HFSam3'):
            cfg.model.backbone.allow_download = bool(allow_download)
        if 'visualizer' not in cfg:
            cfg.visualizer = dict(type='SegLocalVisualizer',
                                  name='ov_seg_visualizer')
        # pictures are written by visualize() itself (out_dir); a config's
        # LocalVisBackend without a save_dir would only warn on every build
        cfg.visualizer.pop('vis_backends', None)
        self._palette = palette
        self._weights_arg = weights
        self._random_weights_ok = random_weights_ok
        self.random_weights = False
        self.random_weights_reason: Optional[str] = None  # why, if fallen back
        with warnings.catch_warnings():
            # MMSegInferencer warns about Cityscapes names it never uses here:
            # dataset_meta comes from the vocabulary.
            warnings.filterwarnings('ignore', message='.*cityscapes.*')
            warnings.filterwarnings('ignore', message='Checkpoint is not')
            super().__init__(model=cfg, weights=weights, device=device,
                             scope=scope)

    # ------------------------------------------------------------ building
    def _init_model(self, cfg, weights: Optional[str], device: str = 'cpu'):
        cfg.model.pop('pretrained', None)
        checkpoint = None
        if weights is not None:
            if _is_segmentor_checkpoint(weights):
                # its tensors replace the config's named weights, which
                # are then never looked up (deferred to first need)
                checkpoint = load_torch_file(weights, 'checkpoint')
            else:
                cfg.model.backbone.pretrained = weights
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        self._load_weights_to_model(model, checkpoint, cfg)
        try:
            # the named weights a checkpoint did not supply, now (the
            # backbone defers them to first need)
            ensure_model_weights(model)
        except WeightsNotFoundError as e:
            # only the config's default weights may fall back to random
            # ones: weights the caller named must exist
            if not self._random_weights_ok or weights is not None:
                raise
            self.random_weights_reason = str(e).splitlines()[0]
            warnings.warn(f'{self.random_weights_reason} -> running with '
                          'RANDOM weights (plumbing check only).')
            for m in model.modules():
                if isinstance(m, DeferredWeights):
                    m.drop_pending_weights()
            cfg.model.backbone.pretrained = None
            self.random_weights = True
        if cfg.model.backbone.get('pretrained') is None and checkpoint is None:
            self.random_weights = True
        model.to(device)
        model.eval()
        return model

    def _load_weights_to_model(self, model, checkpoint: Optional[dict],
                               cfg) -> None:
        """Load a segmentor checkpoint (if any); the class names and palette
        always come from the vocabulary (``model.dataset_meta``)."""
        if checkpoint is not None:
            _load_checkpoint_to_model(model, checkpoint)
            if hasattr(model, 'set_vocabulary'):
                # text embeddings of the loaded weights, not the built ones
                model.__dict__.pop('_text_memo', None)
                model.set_vocabulary(model.vocabulary)
        if self._palette is not None and hasattr(model, '_set_palette'):
            model._set_palette(self._palette)

    def _init_pipeline(self, cfg):
        if cfg.get('test_dataloader') is None:
            cfg.test_dataloader = dict(dataset=dict(pipeline=(
                SAM3_PIPELINE if cfg.model.type == 'SAM3Segmentor' else
                DEFAULT_PIPELINE)))
        return super()._init_pipeline(cfg)

    def _init_collate(self, cfg):
        """mmengine's ``pseudo_collate`` unless the config names another
        (the base class would first look the name up in a 'function'
        registry that mmseg does not have, with a warning each run)."""
        from mmengine.dataset import pseudo_collate
        if cfg.get('test_dataloader', {}).get('collate_fn') is None:
            return pseudo_collate
        return super()._init_collate(cfg)

    # ------------------------------------------------------------ vocabulary
    def set_vocabulary(self, classes: Union[str, Sequence],
                       bg_idx: Optional[int] = None,
                       palette: Optional[Sequence] = None,
                       prob_thd: Optional[float] = None) -> None:
        """Switch the vocabulary (no rebuild); see ``classes`` above.

        Without ``bg_idx`` the background index becomes 0 and a background
        rule of the previous classes (``prob_thd > 0``) is switched off,
        with a log line: it named one of those classes.
        """
        bg_idx, prob_thd = _background_for_new_classes(
            bg_idx, prob_thd, self.model.prob_thd, self.model.bg_idx)
        self.model.set_vocabulary(classes, bg_idx=bg_idx, palette=palette)
        if prob_thd is not None:
            from ovseg_plugins.utils.validation import check_range
            self.model.prob_thd = check_range('prob_thd', prob_thd, 0, 1,
                                              'set_vocabulary')

    @property
    def classes(self) -> List[str]:
        """Display name (first synonym) of each class."""
        return self.model.dataset_meta['classes']

    @property
    def palette(self) -> List[List[int]]:
        return self.model.dataset_meta['palette']

    # ------------------------------------------------------------ calling
    def load_image(self, path: str) -> np.ndarray:
        """The ``(H, W, 3)`` BGR uint8 pixels the model sees for ``path``:
        read by the test pipeline's own loader (same decoder, EXIF
        orientation and bit-depth reduction), so a picture drawn from them
        matches the labels."""
        for t in self.pipeline.transforms:
            if hasattr(t, 'from_file'):  # mmseg's InferencerLoader
                return t.from_file(dict(img_path=path))['img']
        raise RuntimeError('the test pipeline has no image loader')

    def _inputs_to_list(self, inputs) -> list:
        if isinstance(inputs, str):
            if osp.isdir(inputs):
                files = sorted(
                    f for f in glob.glob(osp.join(inputs, '*'))
                    if f.lower().endswith(IMAGE_EXTS))
                if not files:
                    raise ValueError(f'No images ({", ".join(IMAGE_EXTS)}) '
                                     f'in folder {inputs!r}.')
                return files
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        for x in inputs:
            if isinstance(x, str) and not osp.isfile(x):
                raise FileNotFoundError(f'Input image not found: {x!r}.')
            if not isinstance(x, (str, np.ndarray)):
                raise TypeError(f'Inputs are image paths or (H, W, 3) BGR '
                                f'arrays; got {type(x).__name__}.')
        return list(inputs)

    def __call__(self, inputs, classes: Optional[Union[str, Sequence]] = None,
                 **kwargs) -> dict:
        """Segment ``inputs`` (a path, an ``(H, W, 3)`` BGR array as from
        ``cv2.imread``, a list of those, or a folder of images).

        Args:
            classes (optional): A vocabulary for THIS call only (its
                background rule as in :meth:`set_vocabulary`); afterwards
                the inferencer's own vocabulary, background rule and palette
                are back. Use :meth:`set_vocabulary` to switch for good.
            **kwargs: :class:`MMSegInferencer` options: ``out_dir`` (writes
                ``vis/`` pictures and ``pred/`` label PNGs), ``batch_size``,
                ``return_vis``, ``return_datasamples``, ``show``,
                ``opacity``.

        Returns:
            dict: ``predictions`` ((H, W) label maps) and ``visualization``.
        """
        if classes is None:
            return super().__call__(inputs, **kwargs)
        m = self.model
        saved = (m.vocabulary, m.bg_idx, m.prob_thd, m._custom_palette)
        self.set_vocabulary(classes)
        try:
            return super().__call__(inputs, **kwargs)
        finally:  # the call's vocabulary does not outlive the call
            m.set_vocabulary(saved[0], bg_idx=saved[1], palette=saved[3])
            m.prob_thd = saved[2]

    def visualize(self, inputs: list, preds, return_vis: bool = False,
                  show: bool = False, wait_time: int = 0,
                  img_out_dir: str = '', opacity: float = 0.8):
        """As :meth:`MMSegInferencer.visualize`; pictures are written
        atomically (temp file + rename) under the same names."""
        if img_out_dir == '':
            return super().visualize(inputs, preds, return_vis, show,
                                     wait_time, '', opacity)
        import mmcv
        start = self.num_visualized_imgs
        vis = super().visualize(inputs, preds, True, show, wait_time, '',
                                opacity)
        for k, (x, v) in enumerate(zip(inputs, vis)):
            name = osp.basename(x) if isinstance(x, str) else \
                f'{start + k:08d}_vis.jpg'
            atomic_write(osp.join(img_out_dir, name),
                         lambda p, v=v: mmcv.imwrite(v[..., ::-1], p),
                         suffix=osp.splitext(name)[1])
        return vis if return_vis else None

    def postprocess(self, preds, visualization,
                    return_datasample: bool = False,
                    pred_out_dir: str = '') -> dict:
        """As :meth:`MMSegInferencer.postprocess`; label PNGs
        (``%08d_pred.png``) are written atomically."""
        start = self.num_pred_imgs
        results = super().postprocess(preds, visualization, return_datasample,
                                      '')
        if pred_out_dir and not return_datasample:
            for k, pred in enumerate(preds):
                data = pred.pred_sem_seg.numpy().data[0].astype(np.uint8)
                atomic_write(
                    osp.join(pred_out_dir, f'{start + k:08d}_pred.png'),
                    lambda p, d=data: Image.fromarray(d).save(p,
                                                              format='PNG'),
                    suffix='.png')
        return results

    # ------------------------------------------------------------ rasters
    def identity(self) -> dict:
        """The model config (without class names) and weights file behind
        the predictions (compared when a raster run is resumed)."""
        import hashlib
        import json

        from .raster.run_folder import file_identity
        model = {k: v for k, v in self.cfg.model.to_dict().items()
                 if k != 'class_names'}
        text = json.dumps(model, sort_keys=True, default=str)
        w = self._weights_arg
        return dict(model=hashlib.sha256(text.encode()).hexdigest()[:16],
                    weights=None if w is None else file_identity(w),
                    random_weights=self.random_weights)

    def segment_raster(self, src, out_path: str, **kwargs) -> Dict:
        """Segment a raster of any size (a file, a URL, or a folder of tiles)
        into a label Cloud-Optimised GeoTIFF with the source's CRS and
        transform, window by window on the model's own slide grid
        (``test_cfg``); under torchrun the processes share the windows.

        Args:
            src (str | list[str]): GeoTIFF / any GDAL raster, an
                ``http(s)://`` / ``s3://`` URL or ``/vsi*`` path, or a folder
                or list of tiles on one pixel grid (one mosaic output).
            out_path (str): Label COG path.
            **kwargs: :func:`ovseg_plugins.apis.raster.segment_raster`
                options (``bands``, ``tile_size``, ``scores``, ``quicklook``,
                ``polygons``, ``resume``...). Returns its summary dict.
        """
        from .raster import segment_raster
        meta = self.model.dataset_meta
        kwargs.setdefault('prob_thd', float(getattr(self.model, 'prob_thd',
                                                    0.)))
        kwargs.setdefault('bg_idx', int(getattr(self.model, 'bg_idx', 0)))
        if self.random_weights:  # said in the file and on the picture
            kwargs['tags'] = dict(kwargs.get('tags') or {},
                                  ovseg_random_weights='true')
            kwargs.setdefault('stamp', RANDOM_WEIGHTS_STAMP)
        kwargs['identity'] = dict(self.identity(),
                                  **(kwargs.get('identity') or {}))
        return segment_raster(self.model, src, out_path,
                              class_names=meta['classes'],
                              palette=meta['palette'], **kwargs)
