"""Atomic writes and the index files of CoIDO (subset / selection)."""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

from ovseg_plugins.utils.io import atomic_write
from .data_list import to_jsonable


def atomic_write_json(path: str, obj: Any) -> None:
    """Write JSON to ``path`` through a temp file + ``os.replace``.

    A reader (phase 2, another rank) sees either the old file or the complete
    new one, never a half-written file.
    """
    def write(tmp):
        with open(tmp, 'w') as f:
            json.dump(to_jsonable(obj), f)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write, suffix='.json')


def atomic_save_torch(path: str, obj: Any) -> None:
    """``torch.save`` through a temp file + ``os.replace``."""
    import torch
    atomic_write(path, lambda tmp: torch.save(obj, tmp), suffix='.pt')


def load_json(path: str, what: str) -> Any:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}.')
    with open(path, encoding='utf-8') as f:
        try:
            return json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f'{what} {path!r} is not valid JSON ({e}).') \
                from None


def load_indices_file(path: str) -> Tuple[List[int], Optional[str],
                                          Dict[str, Any]]:
    """Read a subset / selection file.

    Accepted forms: a JSON list of global sample indices, or an object with
    ``indices`` (list) and optionally ``data_list_hash``.

    Returns:
        tuple: ``(indices, data_list_hash or None, the whole object)``.
    """
    obj = load_json(path, 'indices_file')
    if isinstance(obj, list):
        idx, h, meta = obj, None, {}
    elif isinstance(obj, dict) and 'indices' in obj:
        idx, h, meta = obj['indices'], obj.get('data_list_hash'), obj
    else:
        raise ValueError(
            f'indices_file {path!r} must hold a JSON list of sample indices '
            'or an object with an "indices" list (as written by '
            'tools/coido/cluster.py or CoIDOSelectionHook).')
    if not isinstance(idx, list):
        raise ValueError(f'indices_file {path!r}: field "indices" must be a '
                         f'list of sample indices, got {type(idx).__name__}.')
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in idx):
        raise ValueError(f'indices_file {path!r}: field "indices" must hold '
                         'integer sample indices only.')
    return list(idx), h, meta
