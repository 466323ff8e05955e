"""Weight-file helpers with errors that name the file and the fix."""
import hashlib
import os
import os.path as osp
from typing import Dict, Iterable, Optional

import torch

from .validation import cap_message


class WeightsNotFoundError(FileNotFoundError):
    """Raised when weights are asked for but cannot be had (missing, offline)."""


def load_torch_file(path: str, what: str = 'checkpoint',
                    map_location='cpu') -> dict:
    """Load a trusted local ``.pt/.pth/.ckpt/.bin/.safetensors`` file.

    Args:
        path (str): The file.
        what (str): What the file is, for error messages.
        map_location: Passed to ``torch.load``.

    Returns:
        dict: What the file holds.

    Raises:
        WeightsNotFoundError: The file does not exist.
        ValueError: The file cannot be read (truncated, not a torch file).
    """
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise WeightsNotFoundError(
            f'{what} not found: {path!r}. Give the path of an existing file '
            '(weights cannot be downloaded by this call).')
    try:
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            return load_file(path, device=str(map_location))
        # weights_only=False: Lightning / Runner checkpoints hold python
        # objects (hyper-parameters, HistoryBuffer). Only load trusted files.
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # noqa: BLE001 - re-raised with the file named
        raise ValueError(
            f'Could not read {what} {path!r} ({type(e).__name__}: '
            f'{cap_message(e, 400)}). The '
            'file may be truncated or not a PyTorch checkpoint; download or '
            'convert it again.') from e


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """Content hash of a file (used to key caches on checkpoint contents)."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _fmt_keys(keys: Iterable[str], limit: int = 10) -> str:
    keys = sorted(keys)
    s = ', '.join(keys[:limit])
    if len(keys) > limit:
        s += f', ... ({len(keys)} in all)'
    return s


def load_state_dict_strict(module: torch.nn.Module,
                           state_dict: Dict[str, torch.Tensor],
                           source: str = 'state_dict',
                           ignore_missing: Optional[Iterable[str]] = None
                           ) -> None:
    """Load a state dict and fail with a message naming the key mismatch.

    Args:
        module (nn.Module): Target module.
        state_dict (dict): Weights to load.
        source (str): Where the weights come from (shown in errors).
        ignore_missing (Iterable[str], optional): Missing keys to tolerate.

    Raises:
        KeyError: Missing or unexpected keys, or shape mismatches; the message
            lists them and says the checkpoint is probably of another
            architecture.
    """
    own = module.state_dict()
    ignore = set(ignore_missing or ())
    missing = set(own) - set(state_dict) - ignore
    unexpected = set(state_dict) - set(own)
    shape_bad = [
        f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model '
        f'{tuple(own[k].shape)}' for k in set(own) & set(state_dict)
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    if missing or unexpected or shape_bad:
        msg = [f'{source} does not match {type(module).__name__}:']
        if missing:
            msg.append(f'missing keys: {_fmt_keys(missing)}')
        if unexpected:
            msg.append(f'unexpected keys: {_fmt_keys(unexpected)}')
        if shape_bad:
            msg.append('shape mismatches: ' + '; '.join(shape_bad[:5]))
        msg.append('The checkpoint is probably of another architecture or '
                   'needs converting (see tools/model_converters/).')
        raise KeyError(' '.join(msg))
    module.load_state_dict(state_dict, strict=not ignore)


def is_path_like(s: str) -> bool:
    """Whether a weights spec names a file rather than a registry tag."""
    s = str(s)
    return (os.sep in s or s.startswith('.') or s.startswith('~')
            or s.endswith(('.pt', '.pth', '.bin', '.ckpt', '.safetensors')))
