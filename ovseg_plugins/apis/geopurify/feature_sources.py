"""2D feature sources for lifting: a view -> a ``(D, h, w)`` feature map and
the text embeddings in the same space.

A source is called with a :class:`~ovseg_plugins.seg3d.posed_view.PosedView`
and returns the map and the ``(H', W')`` image pixels it covers (a padded
image may cover more than the view's image); ``text(queries, templates)``
gives ``(Q, D)`` embeddings. Any object with these two methods plugs into
``GeoPurifyInferencer(feature_model=...)`` and
:func:`ovseg_plugins.seg3d.lifting.lift_views`.
"""
import os.path as osp
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ovseg_plugins.text import encode_queries

__all__ = ['ClipFeatureSource', 'FeatureMapSource', 'CallableFeatureSource',
           'text_from', 'build_feature_source']

# CLIP's image normalisation (RGB, 0..1)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipFeatureSource:
    """Dense CLIP features of a view's image (our SegEarth-OV
    ``DenseCLIPViT``) and the matching text tower.

    Args:
        model_name (str): open_clip architecture, e.g. ``'ViT-B-16'``.
        pretrained (str, optional): open_clip tag or local weights file
            (None: random weights, plumbing only).
        model_cfg (dict, optional): Architecture dict for custom towers.
        device (str): Defaults to 'cpu'.
    """

    def __init__(self, model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = None,
                 model_cfg: Optional[dict] = None, device: str = 'cpu'):
        from mmengine.registry import DefaultScope

        import ovseg_plugins.seg2d  # noqa: F401  (registers DenseCLIPViT)
        from mmseg.registry import MODELS as SEG_MODELS
        with DefaultScope.overwrite_default_scope('mmseg'):
            self.backbone = SEG_MODELS.build(dict(
                type='DenseCLIPViT', model_name=model_name,
                pretrained=pretrained, model_cfg=model_cfg)).eval()
        self.backbone.ensure_weights()  # named weights: refused now if absent
        self.backbone.to(device)
        self.device = device
        self.random_weights = pretrained is None
        self.dim = int(self.backbone.embed_dim)
        self.mean = torch.tensor(CLIP_MEAN)
        self.std = torch.tensor(CLIP_STD)

    def text(self, queries: Sequence[str],
             templates: Sequence[str]) -> torch.Tensor:
        """``(Q, D)`` unit text embeddings averaged over ``templates``."""
        return encode_queries(self.backbone.encode_text, list(queries),
                              list(templates)).cpu()

    @torch.no_grad()
    def __call__(self, view) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """``(D, h, w)`` map of ``view.image`` and the image size the map
        covers (the patch-padded image)."""
        x = torch.from_numpy(np.ascontiguousarray(view.image)).float()
        x = x.div(255).permute(2, 0, 1)
        x = ((x - self.mean[:, None, None]) / self.std[:, None, None])[None]
        p = self.backbone.patch_size
        H, W = x.shape[-2:]
        x = F.pad(x, (0, (-W) % p, 0, (-H) % p))
        fmap = self.backbone(x.to(self.device))[0][0].float().cpu()
        return fmap, (H + (-H) % p, W + (-W) % p)


class FeatureMapSource:
    """Precomputed 2D feature maps of any model: ``<feature_dir>/<view
    id>.npy`` of shape ``(D, h, w)`` covering the whole image, with a
    text-embeddings file in the same space (``.pt`` dict from
    ``tools/geopurify/text_embeddings.py``, or a ``(Q, D)`` tensor / array
    in vocabulary query order; only needed for :meth:`text`)."""

    def __init__(self, feature_dir: str,
                 text_embeddings: Union[str, dict, torch.Tensor, np.ndarray,
                                        Callable, None] = None):
        if not osp.isdir(feature_dir):
            raise FileNotFoundError(f'feature-map folder not found: '
                                    f'{feature_dir!r}')
        self.feature_dir = feature_dir
        self._text = text_embeddings
        self.dim = None

    def text(self, queries: Sequence[str],
             templates: Sequence[str]) -> torch.Tensor:
        if self._text is None:
            raise ValueError('feature maps need text embeddings in the same '
                             'space (tools/geopurify/text_embeddings.py or '
                             "your model's).")
        return text_from(self._text, queries)

    def __call__(self, view) -> Tuple[torch.Tensor, Tuple[int, int]]:
        from ovseg_plugins.utils.validation import check_array, file_errors
        path = osp.join(self.feature_dir, f'{view.id}.npy')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'feature map not found: {path} (one (D, h, w) .npy per '
                'frame id is needed)')
        with file_errors(path, 'feature map'):
            fmap = torch.from_numpy(np.load(path)).float()
        if fmap.ndim != 3:
            raise ValueError(f'{path}: shape {tuple(fmap.shape)}, expected '
                             '(D, h, w)')
        check_array('feature map', fmap, path)
        return fmap, view.image_hw


class CallableFeatureSource:
    """Any 2D model as two callables: ``image_fn(rgb (H, W, 3) uint8) ->
    (D, h, w)`` and ``text_fn(list of queries) -> (Q, D)``."""

    def __init__(self, image_fn: Callable, text_fn: Callable):
        self.image_fn = image_fn
        self.text_fn = text_fn
        self.dim = None

    def text(self, queries, templates) -> torch.Tensor:
        return torch.as_tensor(self.text_fn(list(queries))).float()

    def __call__(self, view):
        fmap = torch.as_tensor(self.image_fn(view.image)).float()
        return fmap, view.image_hw


def text_from(spec, queries: Sequence[str]) -> torch.Tensor:
    """``(Q, D)`` embeddings of ``queries`` from a file / dict / tensor /
    callable (a dict from ``tools/geopurify/text_embeddings.py``: rows
    picked by query name)."""
    from ovseg_plugins.seg3d.models.segmentors.geopurify_segmentor import \
        select_queries
    if callable(spec) and not isinstance(spec, (torch.Tensor, np.ndarray)):
        return torch.as_tensor(spec(list(queries))).float()
    where = 'text embeddings'
    if isinstance(spec, str):
        from ovseg_plugins.utils.checkpoint import load_torch_file
        where = spec
        from ovseg_plugins.utils.validation import load_npy
        spec = load_npy(spec, 'text embeddings') if spec.endswith(
            '.npy') else load_torch_file(spec, 'text embeddings')
    if isinstance(spec, dict):
        return select_queries(spec, queries, where).float()
    emb = torch.as_tensor(spec).float()
    if emb.ndim != 2 or len(emb) != len(queries):
        raise ValueError(
            f'{where}: shape {tuple(emb.shape)} does not give one row per '
            f'query ({len(queries)}: {list(queries)[:5]}); use a file from '
            'tools/geopurify/text_embeddings.py (rows picked by name).')
    return emb


def build_feature_source(feature_model=None, feature_maps: Optional[str] = None,
                         text_embeddings=None, device: str = 'cpu'):
    """The 2D source of ``GeoPurifyInferencer``'s arguments.

    Args:
        feature_model (dict | object | callable, optional): ``dict(
            model_name=..., pretrained=...)`` for :class:`ClipFeatureSource`,
            an object with ``text()`` and ``__call__(view)``, or an image
            callable (needs ``text_embeddings``).
        feature_maps (str, optional): Folder for :class:`FeatureMapSource`
            (needs ``text_embeddings``).
        text_embeddings (optional): See :func:`text_from`.
        device (str): Device of the dense CLIP.

    Raises:
        ValueError: No 2D model, or maps / a callable without text
            embeddings, saying what to give.
    """
    if feature_maps is not None:
        if text_embeddings is None:
            raise ValueError('feature_maps needs text_embeddings in the '
                             'same space (tools/geopurify/'
                             'text_embeddings.py or your model\'s).')
        return FeatureMapSource(feature_maps, text_embeddings)
    if isinstance(feature_model, dict):
        return ClipFeatureSource(device=device, **feature_model)
    if feature_model is not None and hasattr(feature_model, 'text'):
        return feature_model
    if callable(feature_model):
        if text_embeddings is None:
            raise ValueError('a callable feature_model needs '
                             'text_embeddings (a file or a callable).')
        return CallableFeatureSource(
            feature_model, lambda q: text_from(text_embeddings, q))
    raise ValueError(
        'give the 2D model: feature_model=dict(model_name=..., '
        'pretrained=<weights>) for dense CLIP, or feature_maps=<dir> '
        'with text_embeddings=<file>.')
