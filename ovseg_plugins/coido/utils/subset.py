"""Deterministic random subsets and per-rank slicing."""
from typing import Sequence

import numpy as np


def subset_size(n: int, ratio: float) -> int:
    """``round(ratio * n)``, at least 1; ``ratio`` in (0, 1]."""
    if not 0 < ratio <= 1:
        raise ValueError(f'ratio must be in (0, 1], got {ratio}.')
    if n <= 0:
        raise ValueError('the dataset is empty.')
    return max(1, int(round(ratio * n)))


def draw_subset(n: int, ratio: float, seed: int) -> np.ndarray:
    """The p % random subset of ``range(n)``: sorted, depends only on
    ``(n, ratio, seed)`` (numpy PCG64), identical on every rank/machine."""
    k = subset_size(n, ratio)
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    return np.sort(rng.permutation(n)[:k]).astype(np.int64)


def validate_indices(indices: Sequence[int], n: int, where: str) -> np.ndarray:
    """Check range / duplicates / emptiness; return an int64 array."""
    a = np.asarray(list(indices), dtype=np.int64)
    if a.size == 0:
        raise ValueError(f'{where}: the index list is empty.')
    bad = a[(a < 0) | (a >= n)]
    if bad.size:
        raise ValueError(
            f'{where}: indices {bad[:5].tolist()} are out of range for a '
            f'dataset of {n} samples; the file was made for another dataset.')
    if np.unique(a).size != a.size:
        raise ValueError(f'{where}: the index list has duplicates.')
    return a


def resolve_subset(dataset, indices_file=None, ratio=None, subset_seed=0,
                   check_data_hash: bool = True, owner: str = 'sampler'):
    """The global indices a subset sampler iterates over.

    Exactly one of ``indices_file`` (a JSON list, or an object with
    ``indices`` and ``data_list_hash``) and ``ratio`` (+ ``subset_seed``,
    :func:`draw_subset`) must be given. A file carrying a
    ``data_list_hash`` that does not match ``dataset`` is refused.

    Returns:
        np.ndarray: int64 global indices in file order (ratio: sorted).
    """
    from .data_list import check_hash, data_list_hash
    from .io import load_indices_file
    if (indices_file is None) == (ratio is None):
        raise ValueError(f'{owner}: give exactly one of indices_file= (a '
                         'subset/selection JSON) or ratio= (+ subset_seed=).')
    n = len(dataset)
    if ratio is not None:
        return draw_subset(n, float(ratio), subset_seed)
    idx, h, _ = load_indices_file(indices_file)
    if check_data_hash and h is not None:
        check_hash(h, data_list_hash(dataset), f'indices_file '
                   f'{indices_file!r}', 'Re-run the CoIDO selection (phase '
                   '1, tools/coido/run.py) on this dataset, or point '
                   'indices_file at the file made for it.')
    return validate_indices(idx, n, f'indices_file {indices_file!r}')
