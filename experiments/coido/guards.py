"""Label-noise guards tried in the CoIDO experiments (NOT part of CoIDO).

Experiment code: leak-free, none of these guards made the selection beat
random on the controlled set (README.md), so they left the package.

* a label-noise guard: drop samples whose noise signal is an extreme
  outlier under the modified (MAD) z-score rule of Iglewicz & Hoaglin
  (z > 3.5). Signals: ``'knn_label'`` = excess disagreement (Hellinger²)
  between a sample's class histogram and the mean histogram of its k
  nearest neighbours in the bank embedding, over the neighbours' own
  disagreement (a k-NN label-noise check in the spirit of Bahri et al. 2020,
  "Deep k-NN for noisy labels": an image whose labels contradict those of
  consistent visual neighbours is more likely mislabelled than hard);
  ``'score'`` = the negated scorer output (trims the extreme low tail);
  ``'knn_model_ce'`` = how much worse the phase-1 segmentor fits a sample
  (its per-sample CE, one inference pass over all N) than the median of its
  k nearest bank neighbours (the small-loss criterion of noisy-label
  learning, e.g. Co-teaching, Han et al. 2018, with a local baseline: hard
  regions have hard neighbours, a mislabelled crop has easy ones).
* cluster coverage: every bank row is assigned to the nearest centroid of
  the spectral clusters of the p % subset (``tools/coido/cluster.py`` writes
  the assignment of all N), and the budget is split over the clusters in
  proportion to their size (the balance L_D asks of the weights, enforced at
  selection time).
"""
from typing import Optional

import numpy as np
import torch

NOISE_SIGNALS = ('knn_label', 'score', 'knn_model_ce')


def robust_z(x) -> np.ndarray:
    """Modified z-score ``(x - median) / (1.4826 · MAD)``; falls back to the
    mean absolute deviation (× 1.2533) when the MAD is 0, and to zeros when
    ``x`` is constant."""
    x = np.asarray(x, dtype=np.float64)
    med = np.median(x)
    dev = np.abs(x - med)
    scale = 1.4826 * np.median(dev)
    if scale <= 0:
        scale = 1.2533 * dev.mean()
    if scale <= 0:
        return np.zeros_like(x)
    return (x - med) / scale


def _knn_chunks(embed: torch.Tensor, ok: torch.Tensor, k: int,
                chunk: int, exclude=None):
    """Yield ``(start, stop, nbr (b, k))``: the ``k`` nearest other rows
    (cosine on ``embed``) among the ``ok`` rows, ``chunk`` queries at a
    time; nothing when fewer than 2 rows are ``ok``. ``exclude``: optional
    ``(N, N)`` bool (dense or a ``scipy.sparse`` matrix), ``exclude[i, j]``
    = row ``j`` may not be a neighbour of row ``i``: it ranks after every
    allowed row, in cosine order (so it is used only when fewer than ``k``
    allowed rows remain)."""
    e = torch.nn.functional.normalize(embed.float(), dim=1)
    n = e.shape[0]
    k = int(min(k, int(ok.sum()) - 1))
    if k < 1:
        return
    for s in range(0, n, chunk):
        t = min(s + chunk, n)
        sim = e[s:t] @ e.T
        if exclude is not None:  # after every allowed row, in cosine order
            ex = exclude[s:t]
            ex = ex.toarray() if hasattr(ex, 'toarray') else ex
            sim[torch.as_tensor(np.asarray(ex, dtype=bool))] -= 4
        sim[:, ~ok] = -float('inf')
        r = torch.arange(s, t)
        sim[r - s, r] = -float('inf')
        yield s, t, sim.topk(k, dim=1).indices


def knn_label_inconsistency(embed: torch.Tensor, hist: torch.Tensor,
                            k: int = 10, chunk: int = 2048,
                            exclude=None) -> np.ndarray:
    """Per sample: how much more its class histogram disagrees with its
    ``k`` nearest other rows (cosine on ``embed``) than those neighbours
    disagree among themselves.

    ``m`` = mean histogram of the neighbours, ``H²(p, q) = 1 - Σ √(p·q)``
    (Hellinger², in [0, 1]); signal = ``H²(h_i, m) - mean_j H²(h_j, m)``.
    The local baseline keeps samples of visually heterogeneous regions
    (whose neighbours disagree with each other too) from looking noisy;
    a sample whose labels contradict consistent neighbours stands out.

    Args:
        embed (Tensor): ``(N, D)`` embeddings.
        hist (Tensor): ``(N, C)`` class fractions (rows sum to 1; all-zero
            rows = unlabelled, they get 0 and are nobody's neighbour).
        k (int): Neighbours (capped at N - 1).
        exclude (np.ndarray, optional): ``(N, N)`` bool, pairs that may not
            be neighbours (e.g. crops sharing pixels, so that agreement
            between copies of the same pixels does not count as evidence);
            dense or ``scipy.sparse`` (see :func:`load_exclude_pairs`).

    Returns:
        np.ndarray: ``(N,)`` in [-1, 1].
    """
    h = hist.float().clamp_min(0)
    lab = h.sum(1) > 0
    out = torch.zeros(len(h))
    for s, t, nbr in _knn_chunks(embed, lab, k, chunk, exclude):
        out[s:t] = label_disagreement(h, torch.arange(s, t), nbr)
    return out.numpy()


def label_disagreement(hist: torch.Tensor, rows: torch.Tensor,
                       nbr: torch.Tensor) -> torch.Tensor:
    """The ``knn_label`` signal of ``rows`` given their neighbours:
    ``H²(h_i, m) - mean_j H²(h_j, m)`` with ``m`` the neighbours' mean
    histogram (see :func:`knn_label_inconsistency`).

    Args:
        hist (Tensor): ``(N, C)`` class fractions (all-zero = unlabelled).
        rows (Tensor): ``(b,)`` query rows.
        nbr (Tensor): ``(b, k)`` neighbour rows of each query.

    Returns:
        Tensor: ``(b,)``; 0 for an unlabelled query.
    """
    h = hist.float().clamp_min(0)
    nh = h[nbr]  # (b, k, C)
    m = nh.mean(1)
    own = 1 - (m * h[rows]).sqrt().sum(1).clamp(0, 1)
    base = (1 - (nh * m[:, None]).sqrt().sum(2).clamp(0, 1)).mean(1)
    return torch.where(h[rows].sum(1) > 0, own - base, torch.zeros_like(own))


def knn_excess(embed: torch.Tensor, value, valid=None, k: int = 10,
               chunk: int = 2048, exclude=None) -> np.ndarray:
    """Per sample: ``value_i - median(value_j)`` over its ``k`` nearest
    other valid rows (cosine on ``embed``); invalid rows get 0 and are
    nobody's neighbour.

    Args:
        embed (Tensor): ``(N, D)`` embeddings.
        value: ``(N,)`` per-sample values (e.g. the phase-1 model's CE).
        valid: ``(N,)`` bool, optional.
        k (int): Neighbours (capped at the valid count - 1).
        exclude (optional): ``(N, N)`` bool pairs that may not be
            neighbours (as in :func:`knn_label_inconsistency`).

    Returns:
        np.ndarray: ``(N,)``.
    """
    v = torch.as_tensor(np.asarray(value, dtype=np.float32))
    ok = torch.ones(len(v), dtype=torch.bool) if valid is None else \
        torch.as_tensor(np.asarray(valid, dtype=bool))
    ok = ok & torch.isfinite(v)
    out = torch.zeros(len(v))
    for s, t, nbr in _knn_chunks(embed, ok, k, chunk, exclude):
        base = v[nbr].median(1).values
        out[s:t] = torch.where(ok[s:t], v[s:t] - base, torch.zeros_like(base))
    return out.numpy()


def noise_signal(kind: str, scores: np.ndarray,
                 embed: Optional[torch.Tensor] = None,
                 hist: Optional[torch.Tensor] = None,
                 k: int = 10, model_ce=None, valid=None,
                 exclude=None) -> np.ndarray:
    """The guard's signal (higher = more suspicious) of all N samples;
    ``exclude``: pairs that may not be each other's k-NN neighbours (the
    two k-NN signals; see :func:`load_exclude_pairs`)."""
    if kind == 'score':
        return -np.asarray(scores, dtype=np.float64)
    if kind == 'knn_label':
        if hist is None or embed is None:
            raise ValueError('noise_guard signal "knn_label" needs the '
                             'feature bank\'s class histograms (a labelled '
                             'dataset); use signal="score" or no guard.')
        return knn_label_inconsistency(embed, hist, k, exclude=exclude)
    if kind == 'knn_model_ce':
        if model_ce is None or embed is None:
            raise ValueError('noise_guard signal "knn_model_ce" needs the '
                             'phase-1 model\'s per-sample CE of all N '
                             'samples (CoIDOSelectionHook computes it).')
        return knn_excess(embed, model_ce, valid, k, exclude=exclude)
    raise ValueError(f'noise_guard signal must be one of {NOISE_SIGNALS}, '
                     f'got {kind!r}.')


def load_exclude_pairs(path: str, n: int, data_hash: Optional[str] = None):
    """The noise guard's ``exclude`` file: sample pairs that are not
    independent evidence about each other's labels (overlapping crops of one
    scene, near-duplicates), so they may not be each other's neighbours.

    The file is JSON ``{"pairs": [[i, j], ...], "data_list_hash": "..."}``
    (symmetric: ``[i, j]`` also excludes ``[j, i]``; the hash optional but
    checked against ``data_hash`` when both are given).

    Returns:
        scipy.sparse.csr_matrix: ``(n, n)`` bool.
    """
    from scipy import sparse

    from ovseg_plugins.coido.utils.data_list import check_hash
    from ovseg_plugins.coido.utils.io import load_json
    obj = load_json(path, 'noise_guard exclude file')
    pairs = obj.get('pairs') if isinstance(obj, dict) else None
    fix = ('write {"pairs": [[i, j], ...], "data_list_hash": ...} with '
           'global sample indices of this training set.')
    if not isinstance(pairs, list):
        raise ValueError(f'noise_guard exclude file {path!r} has no "pairs" '
                         f'list: {fix}')
    if not all(isinstance(q, list) and len(q) == 2 and all(
            isinstance(i, int) and not isinstance(i, bool) for i in q)
            for q in pairs):
        raise ValueError(f'noise_guard exclude file {path!r}: every pair must '
                         f'be two integer sample indices: {fix}')
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if p.size and (p.min() < 0 or p.max() >= n):
        raise ValueError(f'noise_guard exclude file {path!r}: indices must '
                         f'lie in [0, {n}) (the dataset has {n} samples), got '
                         f'[{p.min()}, {p.max()}].')
    if data_hash is not None:
        check_hash(obj.get('data_list_hash'), data_hash,
                   f'noise_guard exclude file {path!r}',
                   'Re-write it for this training set.')
    r = np.concatenate([p[:, 0], p[:, 1]])
    c = np.concatenate([p[:, 1], p[:, 0]])
    # COO -> CSR sums repeated pairs (True + True = True)
    return sparse.coo_matrix((np.ones(len(r), bool), (r, c)),
                             shape=(n, n)).tocsr()


def noise_outliers(signal, z_max: float = 3.5) -> np.ndarray:
    """``(N,)`` bool: the samples whose modified z-score exceeds ``z_max``
    (one-sided: only suspiciously HIGH signals are excluded)."""
    return robust_z(signal) > z_max


GUARD_KEYS = ('signal', 'k', 'z_max', 'batch_size', 'exclude')


def select_variant(model, dataset, out_dir: str, budget=0.2,
                   noise_guard: Optional[dict] = None,
                   cluster_quotas: bool = False,
                   selected_name: str = 'selected.json',
                   scores_name: str = 'coido_scores.json',
                   collate_fn=None) -> dict:
    """``CoIDOSelectionHook.select`` with an optional label-noise guard in
    front: ``noise_guard=dict(signal='knn_label' | 'score' |
    'knn_model_ce', k=10, z_max=3.5, batch_size=8, exclude=pairs file)``
    drops the samples whose signal has a modified z-score > ``z_max`` (they
    become ineligible) before the hook ranks the rest."""
    from ovseg_plugins.coido.hooks import CoIDOSelectionHook
    from ovseg_plugins.coido.hooks.coido_selection_hook import \
        per_sample_model_ce
    from ovseg_plugins.coido.utils import data_list_hash, load_feature_bank
    hook = CoIDOSelectionHook(budget=budget, cluster_quotas=cluster_quotas,
                              selected_name=selected_name,
                              scores_name=scores_name)
    if noise_guard is None:
        return hook.select(model, dataset, out_dir, collate_fn)
    g = dict(noise_guard)
    bad = set(g) - set(GUARD_KEYS)
    if bad or g.get('signal', 'knn_label') not in NOISE_SIGNALS:
        raise ValueError(f'noise_guard must be dict(signal=one of '
                         f'{NOISE_SIGNALS}, {", ".join(GUARD_KEYS[1:])}), '
                         f'got {g}.')
    kind = g.get('signal', 'knn_label')
    scores = model.score_bank().numpy()
    n = len(scores)
    bank = load_feature_bank(model.bank_path)
    h = data_list_hash(dataset)
    model_ce = None
    if kind == 'knn_model_ce':
        model_ce = per_sample_model_ce(model, dataset,
                                       int(g.get('batch_size', 8)),
                                       collate_fn)
    sig = noise_signal(kind, scores, bank.embeddings, bank.class_hist,
                       int(g.get('k', 10)), model_ce=model_ce,
                       valid=model.bank_valid.cpu().numpy(),
                       exclude=None if g.get('exclude') is None else
                       load_exclude_pairs(g['exclude'], n, h))
    out = noise_outliers(sig, float(g.get('z_max', 3.5)))

    class _Guarded:
        """The model with the guard's samples made ineligible."""

        def __getattr__(self, name):
            return getattr(model, name)

        bank_valid = model.bank_valid & torch.from_numpy(~out).to(
            model.bank_valid.device)

        def score_bank(self):
            return torch.from_numpy(scores)

    s = hook.select(_Guarded(), dataset, out_dir, collate_fn)
    s['noise_guard'] = dict(g, n_excluded=int(out.sum()),
                            excluded=np.flatnonzero(out).tolist())
    return s
