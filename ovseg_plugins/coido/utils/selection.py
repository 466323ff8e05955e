"""CoIDO selection: keep the lowest scorer outputs, optional group quotas."""
from typing import Dict, Optional, Sequence, Union

import numpy as np


def budget_count(budget: Union[int, float], n: int) -> int:
    """A ratio in (0, 1] or an absolute count -> a count in [1, n]."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float,
                                                           np.integer,
                                                           np.floating)):
        hint = ''
        if isinstance(budget, str):
            hint = (f' (a string: write budget={budget.strip()} without '
                    'quotes in the config / --cfg-options)')
        raise TypeError(
            f'coido.selection.budget must be a ratio in (0, 1] (float) or a '
            f'count of samples (int), got {budget!r}{hint}.')
    if isinstance(budget, np.floating):
        budget = float(budget)
    if isinstance(budget, float):
        if not 0 < budget <= 1:
            raise ValueError(f'budget ratio must be in (0, 1], got {budget}.')
        return max(1, int(round(budget * n)))
    if not 1 <= int(budget) <= n:
        raise ValueError(f'budget count must be in [1, {n}], got {budget}.')
    return int(budget)


def group_quotas(groups: Sequence, k: int) -> Dict:
    """CoIDO's per-source allocation: ``max(1, floor(k · n_g / N))`` per
    group, the remainder added to (or taken from) the largest group."""
    names, counts = np.unique(np.asarray(groups, dtype=object).astype(str),
                              return_counts=True)
    n = counts.sum()
    q = {g: max(1, int(k * c // n)) for g, c in zip(names, counts)}
    q = {g: min(v, int(c)) for (g, v), c in zip(q.items(), counts)}
    largest = names[np.argmax(counts)]
    q[largest] = int(np.clip(q[largest] + k - sum(q.values()), 0,
                             counts.max()))
    return q


def select_lowest(scores: Sequence[float], budget: Union[int, float],
                  groups: Optional[Sequence] = None,
                  eligible: Optional[Sequence[bool]] = None) -> np.ndarray:
    """Indices of the lowest scores (CoIDO: difficulty = -score, keep the
    highest difficulty), ties broken by the lower index.

    Args:
        scores: ``(N,)`` raw scorer outputs.
        budget: Ratio of N or a count.
        groups: Optional ``(N,)`` group labels (source dataset, city,
            domain); each group gets a quota proportional to its size.
        eligible: Optional ``(N,)`` mask; ineligible samples are never
            selected (e.g. no valid label pixels).

    Returns:
        np.ndarray: sorted int64 indices.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = s.size
    if not np.all(np.isfinite(s)):
        raise ValueError('scores contain NaN/inf; the scorer diverged.')
    k = budget_count(budget, n)
    ok = np.ones(n, bool) if eligible is None else np.asarray(eligible, bool)
    idx = np.arange(n)
    # np.lexsort: last key primary -> (score asc, index asc): stable tie-break
    order = np.lexsort((idx, s))
    order = order[ok[order]]
    if groups is None:
        return np.sort(order[:k]).astype(np.int64)
    g = np.asarray(groups, dtype=object).astype(str)
    if g.size != n:
        raise ValueError(f'groups has {g.size} entries for {n} scores.')
    # quotas over the ELIGIBLE members (an excluded sample must not hold a
    # slot), then any shortfall (groups smaller than their quota) is filled
    # with the lowest remaining eligible scores, so exactly min(k, #eligible)
    # samples are selected
    if not ok.any():
        return np.zeros(0, np.int64)
    names = np.unique(g[ok])
    if names.size >= k:  # more groups than slots: each group's best, then
        # the k lowest of those
        best = np.array([order[g[order] == name][0] for name in names])
        picked = order[np.isin(order, best)][:k]
    else:
        quotas = group_quotas(g[ok], min(k, int(ok.sum())))
        picked = np.concatenate([order[g[order] == name][:q]
                                 for name, q in quotas.items()])
    short = min(k, order.size) - picked.size
    if short > 0:
        rest = order[~np.isin(order, picked)]
        picked = np.concatenate([picked, rest[:short]])
    return np.sort(picked).astype(np.int64)
