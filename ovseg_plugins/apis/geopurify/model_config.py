"""The model config :class:`~ovseg_plugins.apis.GeoPurifyInferencer` builds.

Always a GeoPurify config, never a dict of the inferencer's own:

1. the user's config (a file, a name under ``configs/`` such as
   ``'geopurify/scannet'``, or a dict / ``Config`` with ``model``);
2. else the model config stored in the checkpoint as plain data
   (``meta['model_cfg']``, written by the training runtime's
   ``StoreModelConfigHook``; config *text* found in a checkpoint is never
   executed);
3. else the training configs' own base,
   ``configs/_base_/models/geopurify_student.py`` (the authors' defaults:
   19 pooling products, K = 96, zero-feature fill), sized for the 2D
   features and, with a bare student state dict, for its shapes.

Then the inference-time entries: the vocabulary and its text embeddings
from the 2D source, no teacher (training only). Every refusal names the
file (config or checkpoint) and the key.
"""
import copy
import re
from typing import Optional, Tuple, Union

from mmengine.config import Config, ConfigDict

__all__ = ['BASE_MODEL_CONFIG', 'load_model_config', 'student_sizes',
           'inference_model_cfg', 'for_vocabulary', 'build_model']

#: the base every configs/geopurify/*.py training config inherits
BASE_MODEL_CONFIG = 'geopurify'  # alias of _base_/models/geopurify_student.py


def load_model_config(model: Union[str, dict, Config, None]
                      ) -> Tuple[Optional[Config], str]:
    """``(config, where)`` of ``model`` (None: ``(None, '')``)."""
    if model is None:
        return None, ''
    if isinstance(model, str):
        from ovseg_plugins.apis.config_names import resolve_config
        path = resolve_config(model)
        return Config.fromfile(path), path
    if isinstance(model, Config):
        return model, model.filename or 'the model config'
    if isinstance(model, dict):
        return Config(dict(model)), 'the model config'
    raise TypeError(f'model must be a config file, a config name, a dict or '
                    f'a Config, got {type(model).__name__}')


def base_model_config() -> Tuple[Config, str]:
    """The training configs' base model config and its path."""
    from ovseg_plugins.apis.config_names import resolve_config
    path = resolve_config(BASE_MODEL_CONFIG)
    return Config.fromfile(path), path


def student_sizes(sd: dict, where: str) -> dict:
    """``StudentAffinityNet`` sizes of a student state dict.

    Raises:
        KeyError: No student weights, naming the file and the keys.
    """
    stem = sd.get('backbone.stem.weight')
    head = sd.get('backbone.head.weight')
    if stem is None or head is None:
        raise KeyError(
            f'{where}: holds no GeoPurify student (no backbone.stem.weight / '
            f'backbone.head.weight; keys: {sorted(sd)[:5]}); give a '
            'GeoPurifySegmentor checkpoint, or its training config as model=.')
    blocks = {k.split('.')[2] for k in sd if k.startswith('backbone.blocks.')}
    return dict(in_channels=int(stem.shape[1]),
                hidden_channels=int(stem.shape[2]),
                embed_dim=int(head.shape[0]), num_blocks=len(blocks))


def _model_of(cfg, where: str) -> dict:
    if 'model' not in cfg:
        raise KeyError(f'{where}: no `model` key; give a GeoPurify config '
                       '(e.g. configs/geopurify/scannet.py).')
    m = copy.deepcopy(cfg['model'])
    m = m.to_dict() if isinstance(m, ConfigDict) else dict(m)
    if m.get('type') != 'GeoPurifySegmentor':
        raise ValueError(
            f'{where}: model.type is {m.get("type")!r}; GeoPurifyInferencer '
            'needs a GeoPurifySegmentor config (e.g. configs/geopurify/'
            'scannet.py).')
    return m


def inference_model_cfg(model, fused_channels: int,
                        sd: Optional[dict] = None,
                        meta: Optional[dict] = None,
                        weights: Optional[str] = None
                        ) -> Tuple[dict, str, Config]:
    """The model config to build, where it came from, and the config.

    Args:
        model: The user's config (see the module docstring) or None.
        fused_channels (int): Width of the 2D features (text embeddings).
        sd (dict, optional): The student state dict, when weights are
            given.
        meta (dict, optional): The checkpoint's ``meta``.
        weights (str, optional): The checkpoint file (for messages).

    Returns:
        tuple: ``(model config dict, where, Config)`` — the model config
        still without the vocabulary (see :func:`for_vocabulary`).

    Raises:
        KeyError / ValueError: A config or stored description that cannot
            build the model, naming the file and the key.
    """
    cfg, where = load_model_config(model)
    stored = (meta or {}).get('model_cfg')
    if cfg is None and stored is not None:
        where = f"{weights}: meta['model_cfg']"
        if not isinstance(stored, dict):
            raise TypeError(
                f'{where} is a {type(stored).__name__}, expected the model '
                'config as a dict (written by StoreModelConfigHook); give '
                'the training config as model=.')
        cfg = Config(dict(model=stored))
    if cfg is not None:
        m = _model_of(cfg, where)
        got = m.get('fused_channels', 512)
        if int(got) != fused_channels:
            raise ValueError(
                f'{where}: model.fused_channels={got} but the 2D source '
                f'gives {fused_channels}-d features: use the 2D model the '
                'student was trained with (or a config for its width).')
        return m, where, cfg
    cfg, where = base_model_config()
    m = _model_of(cfg, where)
    extra = 3 if m.get('normals') == 'columns' else 0
    sizes = dict(in_channels=fused_channels + 6 + extra)
    if sd is not None:
        got = student_sizes(sd, weights)
        if got['in_channels'] != sizes['in_channels']:
            raise ValueError(
                f'{weights}: the student takes {got["in_channels"] - 6}-d '
                f'2D features (backbone.stem.weight), the 2D source gives '
                f'{fused_channels}-d: use the 2D model the student was '
                'trained with.')
        sizes = got
    m['backbone'].update(sizes)
    m['fused_channels'] = fused_channels
    return m, where, cfg


def for_vocabulary(m: dict, vocabulary, text) -> dict:
    """``m`` for inference with ``vocabulary`` and its ``(Q, C)`` text
    embeddings: no text encoder, no teacher (training only)."""
    m = dict(m, class_names=vocabulary, text_embeddings=text,
             text_encoder=None, teacher=None, teacher_channels=0)
    m.pop('pretrained', None)
    return m


def _parts(m: dict, path: str = 'model'):
    """``(key, type)`` of every part of a model config (depth first)."""
    if isinstance(m.get('type'), str):
        yield path, m['type']
    for k, v in m.items():
        if isinstance(v, dict):
            yield from _parts(v, f'{path}.{k}')


def build_model(m: dict, where: str):
    """Build ``m`` in mmdet3d's registry; a config that cannot build the
    model is refused naming ``where`` (the file) and the key.

    Raises:
        TypeError / ValueError / KeyError: The builder's error, prefixed
            with ``where`` and the key of the part that refused (e.g.
            ``model.decode_head``).
    """
    from mmdet3d.registry import MODELS
    from mmengine.registry import DefaultScope
    try:
        with DefaultScope.overwrite_default_scope('mmdet3d'):
            return MODELS.build(m)
    except (TypeError, ValueError, KeyError) as e:
        msg = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
        # the deepest part whose class the message names refused
        named = [k for k, t in _parts(m)
                 if re.search(rf'\b{re.escape(t)}\b', msg)]
        key = max(named, key=lambda k: k.count('.')) if named else 'model'
        raise type(e)(f'{where}: {key} cannot be built: {msg}') from e
