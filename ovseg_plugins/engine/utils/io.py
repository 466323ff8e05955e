"""Atomic writes and the index files of CoIDO (subset / selection)."""
import json
import os
import os.path as osp
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from .data_list import to_jsonable


def atomic_write_json(path: str, obj: Any) -> None:
    """Write JSON to ``path`` through a temp file + ``os.replace``.

    A reader (phase 2, another rank) sees either the old file or the complete
    new one, never a half-written file.
    """
    d = osp.dirname(osp.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix='.json', dir=d)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(to_jsonable(obj), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_save_torch(path: str, obj: Any) -> None:
    """``torch.save`` through a temp file + ``os.replace``."""
    import torch
    d = osp.dirname(osp.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix='.pt', dir=d)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def load_json(path: str, what: str) -> Any:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}.')
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{what} {path!r} is not valid JSON ({e}).')


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
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in idx):
        raise ValueError(f'indices_file {path!r}: "indices" must be integers.')
    return list(idx), h, meta
