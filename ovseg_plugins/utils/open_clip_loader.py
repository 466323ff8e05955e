"""Build open_clip models and resolve their weights without surprise downloads."""
import contextlib
import logging
import os
import os.path as osp
import pickle
from typing import Optional, Tuple, Union

import torch
from mmengine.logging import print_log

from ovseg_plugins.utils.checkpoint import (UnsafeCheckpointError,
                                            WeightsNotFoundError, file_sha256,
                                            is_path_like, is_torchscript,
                                            unsafe_checkpoint_error)
from ovseg_plugins.utils.torchscript_weights import torchscript_weights_file

# entries of a CLIP TorchScript state dict that are not weights: attributes
# OpenAI's archives keep (open_clip drops them too) and the causal mask that
# open_clip registers as a non-persistent buffer (scripted open_clip models)
JIT_EXTRAS = ('input_resolution', 'context_length', 'vocab_size',
              'attn_mask')
from ovseg_plugins.utils.io import atomic_write


def register_open_clip_config(name: str, model_cfg: dict) -> None:
    """Register an architecture dict under ``name`` with open_clip.

    open_clip reads architectures from JSON files (``add_model_config``); this
    writes the dict to the cache folder and registers it, so configs can define
    custom (e.g. tiny test) towers inline.
    """
    import json

    import open_clip
    if name in open_clip.list_models():
        if open_clip.get_model_config(name) == model_cfg:
            return
    from ovseg_plugins.utils.paths import default_cache_dir
    d = osp.join(default_cache_dir(), 'open_clip_configs')
    os.makedirs(d, exist_ok=True)
    path = osp.join(d, f'{name}.json')
    # atomic (temp file + rename): ranks of a distributed run register the
    # same config at the same time and must never read a half-written file
    def write(tmp):
        with open(tmp, 'w') as f:
            json.dump(model_cfg, f)

    atomic_write(path, write)
    open_clip.add_model_config(path)


def resolve_open_clip_weights(model_name: str, pretrained: Optional[str],
                              allow_download: bool = False
                              ) -> Tuple[Optional[str], Optional[str]]:
    """Find the local file for ``pretrained``.

    Args:
        model_name (str): open_clip architecture name, e.g. ``'ViT-B-16'``.
        pretrained (str, optional): A local file, or an open_clip tag
            (``'openai'``, ``'laion2b_s34b_b88k'``...), or None (random init).
        allow_download (bool): Download a tag's weights if they are not in the
            local cache. Defaults to False: nothing is fetched unless asked.

    Returns:
        tuple: ``(file or None, weights_id or None)``; the id keys caches.

    Raises:
        WeightsNotFoundError: The file is missing, or the tag's weights are not
            cached and downloading was not allowed (or failed).
    """
    if pretrained is None:
        return None, None
    if is_path_like(pretrained) or osp.isfile(osp.expanduser(pretrained)):
        path = osp.expanduser(pretrained)
        if not osp.isfile(path):
            raise WeightsNotFoundError(
                f'CLIP weights not found: {pretrained!r} (model '
                f'{model_name}). Put the checkpoint there or set '
                '`pretrained` to an existing file or an open_clip tag.')
        return path, 'sha256:' + file_sha256(path)
    import open_clip
    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise WeightsNotFoundError(
            f'Unknown open_clip weights {pretrained!r} for {model_name}; known '
            f'tags: {tags} (or give a local checkpoint file).')
    local = _cached_tag_file(cfg)
    if local is None:
        if not allow_download:
            raise WeightsNotFoundError(
                f'CLIP weights not found: {model_name}/{pretrained} is not in '
                'the local cache and downloading is off. Set '
                '`allow_download=True` on a connected machine, or give '
                '`pretrained=<local checkpoint file>`.')
        if not hub_reachable():
            raise WeightsNotFoundError(
                f'CLIP weights not found: {model_name}/{pretrained} is not '
                'cached and the model hub cannot be reached (offline). Give '
                '`pretrained=<local checkpoint file>`.')
        try:
            local = open_clip.download_pretrained(cfg)
        except Exception as e:  # noqa: BLE001
            raise WeightsNotFoundError(
                f'Could not download {model_name}/{pretrained} ({e}); give '
                '`pretrained=<local checkpoint file>` instead.') from e
        if not local:
            raise WeightsNotFoundError(
                f'open_clip returned no file for {model_name}/{pretrained}.')
    return local, f'open_clip:{model_name}/{pretrained}'


def hub_reachable(timeout: float = 3.0) -> bool:
    """Quick check that the Hugging Face hub answers (saves the ~45 s of
    retries huggingface_hub spends before failing on an offline machine)."""
    import socket
    from urllib.parse import urlparse
    if os.environ.get('HF_HUB_OFFLINE', '0') not in ('0', '', 'false'):
        return False
    host = urlparse(os.environ.get('HF_ENDPOINT',
                                   'https://huggingface.co')).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _cached_tag_file(cfg: dict) -> Optional[str]:
    """The locally cached file of an open_clip pretrained cfg, if any."""
    hf = cfg.get('hf_hub', '')
    if hf:
        try:
            from huggingface_hub import try_to_load_from_cache
            repo = hf.rstrip('/')
            for fname in ('open_clip_model.safetensors',
                          'open_clip_pytorch_model.bin',
                          'open_clip_pytorch_model.safetensors'):
                got = try_to_load_from_cache(repo, fname)
                if isinstance(got, str) and osp.isfile(got):
                    return got
        except Exception:  # noqa: BLE001
            pass
    url = cfg.get('url', '')
    if url:
        fname = osp.basename(url)
        root = osp.expanduser('~/.cache/clip')
        if osp.isfile(osp.join(root, fname)):
            return osp.join(root, fname)
    return None


class _DropNoWeightsWarning(logging.Filter):

    def filter(self, record: logging.LogRecord) -> bool:
        return 'No pretrained weights loaded' not in record.getMessage()


@contextlib.contextmanager
def _quiet_open_clip_no_weights_warning():
    """open_clip warns 'No pretrained weights loaded ... initialized
    randomly' whenever it creates an architecture without a tag, also when
    the weights are loaded right after: the caller says what was loaded."""
    flt = _DropNoWeightsWarning()
    loggers = [logging.getLogger(), logging.getLogger('open_clip')]
    handlers = [h for lg in loggers for h in lg.handlers]
    for obj in loggers + handlers:
        obj.addFilter(flt)
    try:
        yield
    finally:
        for obj in loggers + handlers:
            obj.removeFilter(flt)


def create_open_clip(model_name: str,
                     pretrained: Optional[str] = None,
                     model_cfg: Optional[dict] = None,
                     quick_gelu: Optional[bool] = None) -> torch.nn.Module:
    """Create an open_clip architecture with random weights (no file is
    looked up; ``pretrained`` only decides QuickGELU for an open_clip tag,
    from open_clip's built-in table).

    Returns:
        nn.Module: The model, in eval mode.
    """
    import open_clip
    if model_cfg is not None:
        register_open_clip_config(model_name, dict(model_cfg))
    if model_name not in open_clip.list_models():
        raise KeyError(
            f'Unknown open_clip architecture {model_name!r}; use one of '
            'open_clip.list_models() or pass `model_cfg` to define it.')
    if quick_gelu is None and pretrained is not None and not is_path_like(
            pretrained):
        quick_gelu = bool((open_clip.get_pretrained_cfg(
            model_name, pretrained) or {}).get('quick_gelu', False))
    with _quiet_open_clip_no_weights_warning():
        model = open_clip.create_model(
            model_name, pretrained=None, force_quick_gelu=bool(quick_gelu))
    return model.eval()


def load_open_clip_weights(model: torch.nn.Module, model_name: str,
                           path: str) -> None:
    """Load a local CLIP weights file into ``model`` (safe loader).

    Raises:
        UnsafeCheckpointError: The file holds pickled objects.
        ValueError: The file is not a ``model_name`` checkpoint.
    """
    import open_clip
    try:
        # torch.load(weights_only=True) with the safe loader's allow-list
        # (pickled objects: UnsafeCheckpointError naming the file); a
        # TorchScript archive (OpenAI's .pt) gives its tensors only, read
        # without its code
        open_clip.load_checkpoint(
            model, torchscript_weights_file(path, JIT_EXTRAS)
            if is_torchscript(path) else path, weights_only=True)
    except UnsafeCheckpointError:
        raise
    except pickle.UnpicklingError as e:
        raise unsafe_checkpoint_error(path, 'CLIP weights', e) from None
    except Exception as e:  # noqa: BLE001
        raise ValueError(
            f'Could not load CLIP weights {path!r} into {model_name}: '
            f'{type(e).__name__}: {str(e)[:600]}. Check that the file is '
            f'a {model_name} checkpoint (architecture and size).') from e
    print_log(f'open_clip {model_name}: weights loaded from {path}',
              'current')


def warn_random_clip(model_name: str) -> None:
    """Say that a CLIP model runs with random weights."""
    print_log(
        f'open_clip {model_name}: no pretrained weights given; using '
        'RANDOM weights (plumbing check only).', 'current', logging.WARNING)


def build_open_clip(model_name: str,
                    pretrained: Optional[str] = None,
                    model_cfg: Optional[dict] = None,
                    quick_gelu: Optional[bool] = None,
                    allow_download: bool = False
                    ) -> Tuple[torch.nn.Module, Optional[str]]:
    """Create an open_clip model and load its weights (no download by default).

    Returns:
        tuple: ``(model, weights_id)``; ``weights_id`` is None for random init.
    """
    model = create_open_clip(model_name, pretrained, model_cfg, quick_gelu)
    path, weights_id = resolve_open_clip_weights(model_name, pretrained,
                                                 allow_download)
    if path is not None:
        load_open_clip_weights(model, model_name, path)
    else:
        warn_random_clip(model_name)
    model.eval()
    return model, weights_id


def load_clip_cfg(spec):
    """open_clip model config for an architecture open_clip does not know:
    a JSON file or an inline JSON object (None: a registered name)."""
    if not spec:
        return None
    import json
    try:
        if osp.isfile(spec):
            with open(spec) as f:
                return json.load(f)
        return json.loads(spec)
    except json.JSONDecodeError as e:
        raise ValueError(f'--clip-cfg {spec!r} is neither a JSON file nor '
                         f'inline JSON: {e}') from e


def require_clip_weights(clip: Optional[str], weights: Optional[str],
                         random_flag: Optional[str] = None) -> None:
    """Command-line check: ``--clip NAME`` needs ``--clip-weights``.

    A CLIP without weights gives meaningless features and text embeddings
    that nothing downstream can tell from real ones, so the tools refuse it
    unless the user asked for a plumbing run (``random_flag``).

    Raises:
        SystemExit: One line naming the flags.
    """
    if clip and not weights:
        alt = f', or {random_flag} for a plumbing check with random ' \
            'weights' if random_flag else ''
        raise SystemExit(
            f'--clip {clip} needs --clip-weights: a local {clip} checkpoint '
            "file (e.g. the .pt of open_clip's or the authors' release) or an "
            f'open_clip tag already in the local cache{alt}.')


def cli_weights_message(err: Union[Exception, str],
                        flag: str = '--clip-weights') -> str:
    """A :class:`WeightsNotFoundError` (or its message) in command-line
    terms (``flag`` instead of the API's ``pretrained``)."""
    msg = str(err).splitlines()[0]
    for api, cli in (
            ('Set `allow_download=True` on a connected machine, or give '
             '`pretrained=<local checkpoint file>`.',
             'Download the checkpoint on a connected machine and give '
             f'{flag} <local checkpoint file>.'),
            ('Give `pretrained=<local checkpoint file>`.',
             f'Give {flag} <local checkpoint file>.'),
            ('give `pretrained=<local checkpoint file>` instead.',
             f'give {flag} <local checkpoint file> instead.'),
            ('set `pretrained` to an existing file or an open_clip tag.',
             f'give {flag} an existing file or an open_clip tag.'),
            ('or set allow_download=True on a connected machine',
             'or run where the hub is reachable')):
        msg = msg.replace(api, cli)
    return f'{flag}: {msg}'
