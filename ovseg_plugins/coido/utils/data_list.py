"""Identity of a dataset's sample list (the key space of CoIDO's files)."""
import hashlib
import json
from typing import Any, List


def _path_leaves(obj: Any, prefix: str = '') -> List[str]:
    """``key=value`` strings of every leaf whose key names a path/file."""
    out = []
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            v = obj[k]
            name = f'{prefix}.{k}' if prefix else str(k)
            if isinstance(v, (dict, list, tuple)) and not isinstance(v, str):
                out += _path_leaves(v, name)
            elif isinstance(v, str) and ('path' in str(k).lower()
                                         or 'file' in str(k).lower()):
                out.append(f'{name}={v}')
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            if isinstance(v, (dict, list, tuple)):
                out += _path_leaves(v, f'{prefix}[{i}]')
    return out


def data_list_hash(dataset) -> str:
    """SHA-256 (first 16 hex digits) of a dataset's ordered sample list.

    Every CoIDO file (feature bank, clusters, subset, scores, selection) is
    keyed by the sample index into ``dataset.data_list``; the hash ties a file
    to that list so that a file made for another split, another ``data_root``
    or a re-ordered annotation file is refused instead of silently selecting
    the wrong samples. Only path-like fields (``img_path``,
    ``seg_map_path``, ``lidar_points.lidar_path``, ...) and the length enter
    the hash, so pipeline or metainfo changes do not invalidate the files.
    Samples without any path field fall back to their full ``repr``.

    Args:
        dataset: An mmengine ``BaseDataset`` (``full_init`` is called) or a
            plain list of data-info dicts.

    Returns:
        str: 16 hex digits.
    """
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
        n = len(dataset)
        infos = (dataset.get_data_info(i) for i in range(n))
    else:
        infos, n = iter(dataset), len(dataset)
    h = hashlib.sha256(f'n={n}\n'.encode())
    for info in infos:
        leaves = _path_leaves({k: v for k, v in info.items()
                               if k != 'sample_idx'})
        h.update(('|'.join(leaves) if leaves else repr(sorted(
            (str(k), repr(v)) for k, v in info.items()
            if k != 'sample_idx'))).encode())
        h.update(b'\n')
    return h.hexdigest()[:16]


def check_hash(expected: str, actual: str, what: str, fix: str) -> None:
    """Raise a ``ValueError`` naming ``what`` and the fix on a mismatch."""
    if expected is not None and expected != actual:
        raise ValueError(
            f'{what} was made for a different data list (data_list_hash '
            f'{expected!r}), but this dataset hashes to {actual!r}: the '
            f'indices would point at the wrong samples. {fix}')


def to_jsonable(x: Any) -> Any:
    """numpy / torch scalars and arrays to plain Python for ``json``."""
    if hasattr(x, 'tolist'):
        return x.tolist()
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    return x


def dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), indent=1)
