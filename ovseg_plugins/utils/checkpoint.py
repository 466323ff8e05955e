"""Weight files: the package's one safe loader, and errors that name the
file and the fix.

Every torch file that ``ovseg_plugins`` and its tools read goes through
:func:`load_torch_file`: ``torch.load(weights_only=True)``, whose unpickler
builds only tensors, containers, numbers and strings plus the few classes
of :data:`SAFE_GLOBALS`, and refuses anything else, so a file cannot make
the loader run code. Importing this module (every config's
``custom_imports`` does, through ``ovseg_plugins.seg2d`` / ``seg3d`` /
``coido``) registers :data:`SAFE_GLOBALS` with torch, so mmengine's own
``load_checkpoint`` and ``Runner.resume`` (plain ``torch.load``, whose
default is ``weights_only=True`` since torch 2.6) read the checkpoints
mmengine 0.10.7's Runner writes, with no process-wide override.
"""
import hashlib
import inspect
import os
import os.path as osp
import pickle
import zipfile
from typing import Dict, Iterable, Optional

import numpy as np
import torch

from .validation import cap_message

# statistics methods a HistoryBuffer stores by reference (mmengine 0.10.7)
_HISTORY_STATS = ('min', 'max', 'mean', 'current')


class WeightsNotFoundError(FileNotFoundError):
    """Raised when weights are asked for but cannot be had (missing, offline)."""


class UnsafeCheckpointError(ValueError):
    """A file that only loads by running code stored in it (pickled objects
    outside :data:`SAFE_GLOBALS`, a TorchScript archive): it is not loaded."""


def _history_buffer_getattr(owner, name):
    """Stands in for ``builtins.getattr`` while unpickling: mmengine's
    ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'min')``. Only those methods are returned; a
    real ``getattr`` would let a file reach any attribute of any allowed
    object."""
    from mmengine.logging import HistoryBuffer
    names = set(_HISTORY_STATS) | set(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in names and inspect.isfunction(
            getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(owner, "__name__", type(owner).__name__)}, '
        f'{name!r}) is not allowed in a checkpoint (only the statistics '
        'methods of mmengine HistoryBuffer are)')


def _safe_globals() -> list:
    """What a checkpoint may hold besides tensors and plain containers:
    numpy arrays, scalars and dtypes (metrics, ``message_hub`` runtime info),
    mmengine's ``HistoryBuffer`` (``message_hub`` log scalars, read back by
    ``--resume``) and its statistics methods, and mmengine's ``ConfigDict``
    (a dict: stock runs save a dataset ``metainfo`` given in a config, e.g.
    mmdet3d's ``label2cat``, inside ``meta['dataset_meta']``). None of them
    runs code of the file's choosing when built."""
    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer
    core = getattr(np, '_core', None) or np.core
    out = [HistoryBuffer, ConfigDict, np.ndarray, np.dtype,
           bytes,  # empty numpy arrays pickle their data as bytes()
           (_history_buffer_getattr, 'builtins.getattr')]
    for mod in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        out += [(core.multiarray._reconstruct, f'{mod}._reconstruct'),
                (core.multiarray.scalar, f'{mod}.scalar')]
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25: DType classes
    if dtypes is not None:
        out += [t for t in vars(dtypes).values()
                if isinstance(t, type) and issubclass(t, np.dtype)]
    return out


SAFE_GLOBALS = _safe_globals()
torch.serialization.add_safe_globals(SAFE_GLOBALS)


def is_torchscript(path: str) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith('/constants.pkl') or n == 'constants.pkl'
                       for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_torch_file(path: str, what: str = 'checkpoint',
                    map_location='cpu', mmap: bool = False):
    """Load a ``.pt/.pth/.ckpt/.bin/.safetensors`` file without running code
    stored in it.

    ``torch.load(weights_only=True)`` with :data:`SAFE_GLOBALS`: tensors,
    containers, numbers, strings, numpy arrays/scalars and mmengine Runner
    checkpoints (``--resume`` state included) load; pickled objects of any
    other class (a ``__reduce__`` payload) and TorchScript archives are
    refused before anything in them runs. Config text a checkpoint holds
    (``meta.cfg``) comes back as a string and is never executed here.

    Args:
        path (str): The file.
        what (str): What the file is, for error messages.
        map_location: Passed to ``torch.load``.
        mmap (bool): Memory-map the tensors (``torch.load(mmap=True)``).

    Returns:
        What the file holds (usually a dict).

    Raises:
        WeightsNotFoundError: The file does not exist.
        UnsafeCheckpointError: Loading it would run code stored in the file
            (a subclass of ValueError).
        ValueError: The file cannot be read (truncated, not a torch file).
    """
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise WeightsNotFoundError(
            f'{what} not found: {path!r}. Give the path of an existing file '
            '(weights cannot be downloaded by this call).')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        try:
            return load_file(path, device=str(map_location))
        except Exception as e:  # noqa: BLE001 - re-raised with the file named
            raise _unreadable(path, what, e) from e
    refuse_torchscript(path, what)
    try:
        return torch.load(path, map_location=map_location, weights_only=True,
                          mmap=mmap)
    except pickle.UnpicklingError as e:
        raise unsafe_checkpoint_error(path, what, e) from None
    except Exception as e:  # noqa: BLE001 - re-raised with the file named
        raise _unreadable(path, what, e) from e


def refuse_torchscript(path: str, what: str = 'checkpoint') -> None:
    """Refuse a TorchScript archive: loading one compiles and may run the
    code it carries.

    Raises:
        UnsafeCheckpointError: Naming the file and the converter.
    """
    if is_torchscript(path):
        raise UnsafeCheckpointError(
            f'{what} {path!r} is a TorchScript archive (e.g. OpenAI\'s '
            'original CLIP .pt); an archive carries code and is not loaded. '
            'Convert it to a plain state dict (reads its tensors only, runs '
            'none of its code): python tools/model_converters/'
            f'torchscript2pth.py {path} <out.pth>, then give <out.pth>.')


# what torch's weights-only unpickler says when it refuses an object (other
# failures, e.g. 'Unsupported operand', are damaged data)
_UNSAFE_MARKS = ('GLOBAL', 'unrecognized function', 'Can only',
                 'not allowed in a checkpoint')


def unsafe_checkpoint_error(path: str, what: str,
                            err: Exception) -> ValueError:
    """The error for a file torch's weights-only unpickler refused
    (:class:`UnsafeCheckpointError` naming the file and the offending
    global), or a plain unreadable-file error for other unpickling
    failures (truncated data)."""
    msg = str(err)
    if not any(m in msg for m in _UNSAFE_MARKS):  # e.g. random bytes
        return _unreadable(path, what, err)
    return UnsafeCheckpointError(
        f'{what} {path!r} was not loaded: it holds pickled Python objects '
        f'that are not plain data ({_unsafe_reason(err)}), and building them '
        'could run code stored in the file. ovseg_plugins loads tensors, '
        'containers, numbers, strings, numpy arrays and mmengine '
        'checkpoints only. If you trust the file, re-save its tensors in a '
        'trusted session: torch.save({"state_dict": model.state_dict()}, '
        '"clean.pth").')


def _unsafe_reason(err: Exception) -> str:
    """The offending global or operation from torch's weights-only
    message (the first line that is not torch's advice)."""
    import re
    msg = str(err)
    m = re.search(r'GLOBAL (\S+)', msg)
    if m:
        return f'GLOBAL {m.group(1)}'
    advice = ('Weights only load failed', 'Check the doc', 'Please file')
    lines = [ln.strip() for ln in msg.splitlines()
             if ln.strip() and not ln.startswith(advice)]
    return cap_message(lines[0] if lines else msg, 200)


def _unreadable(path: str, what: str, e: Exception) -> ValueError:
    return ValueError(
        f'Could not read {what} {path!r} ({type(e).__name__}: '
        f'{cap_message(e, 400)}). The file may be truncated or not a PyTorch '
        'checkpoint; download or convert it again.')


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
