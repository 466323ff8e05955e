"""CoIDO phase 0b: the p % random subset and its spectral clusters."""
import os.path as osp
import time
from typing import Callable

CLUSTER_KEYS = ('ratio', 'seed', 'n_clusters', 'knn', 'hist_weight')


def check_cluster_options(opts: dict) -> dict:
    """Validate ``coido.cluster`` (names the field and the allowed range)."""
    bad = set(opts) - set(CLUSTER_KEYS)
    if bad:
        raise KeyError(f'coido.cluster: unknown keys {sorted(bad)}; allowed: '
                       f'{", ".join(CLUSTER_KEYS)}.')
    r = opts.get('ratio', 0.2)
    if isinstance(r, bool) or not isinstance(r, (int, float)) or \
            not 0 < r <= 1:
        raise ValueError(f'coido.cluster.ratio must be in (0, 1], got {r!r}.')
    for k, lo in (('n_clusters', 1), ('knn', 1), ('seed', 0)):
        v = opts.get(k, lo)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f'coido.cluster.{k} must be an integer >= {lo}, '
                             f'got {v!r}.')
    w = opts.get('hist_weight', 0.3)
    if isinstance(w, bool) or not isinstance(w, (int, float)) or \
            not 0 <= w <= 1:
        raise ValueError('coido.cluster.hist_weight must be in [0, 1], got '
                         f'{w!r}.')
    return opts


def cluster_subset(bank_path: str, out_dir: str, ratio: float = 0.2,
                   seed: int = 0, n_clusters: int = 20, knn: int = 30,
                   hist_weight: float = 0.3,
                   log: Callable[[str], None] = print) -> dict:
    """Draw the subset, cluster it, write ``subset.json`` and
    ``clusters.json`` (atomically, stamped ``phase='cluster'`` with the
    bank's data-list hash and ``bank_stamp``).

    The subset is ``draw_subset(N, ratio, seed)`` (the same draw as
    ``IndexSubsetSampler(ratio=, subset_seed=)``); it is clustered GLOBALLY
    with ``sklearn.cluster.SpectralClustering`` on a cosine kNN graph (k
    nearest, weight (1 + cos) / 2, symmetrised) of
    :func:`~ovseg_plugins.coido.utils.cluster_features`; any subset of >= 2
    samples works (the cluster count is capped below its size, and the log
    says so). ``clusters.json`` holds ``{sample_idx: cluster}`` of the
    subset and ``assignments``: the nearest-centroid cluster of every one of
    the N samples (used by ``CoIDOSelectionHook(cluster_quotas=True)``).

    Returns:
        dict: ``seconds``, ``n_subset`` and the clustering info.
    """
    from ..utils import (atomic_write_json, cluster_features, draw_subset,
                         load_feature_bank, nearest_centroid,
                         spectral_clusters)
    check_cluster_options(dict(ratio=ratio, seed=seed, n_clusters=n_clusters,
                               knn=knn, hist_weight=hist_weight))
    t0 = time.perf_counter()
    bank = load_feature_bank(bank_path)
    sub = draw_subset(len(bank), ratio, seed)
    if len(sub) < 2:
        raise ValueError(f'coido.cluster.ratio={ratio} of {len(bank)} samples '
                         f'gives a subset of {len(sub)}; CoIDO needs >= 2: '
                         'raise the ratio.')
    x = cluster_features(bank, sub, hist_weight)
    labels, info = spectral_clusters(x, n_clusters, knn, seed, log=log)
    x_all = cluster_features(bank, range(len(bank)), hist_weight)
    assign = nearest_centroid(x_all, x, labels)
    stamp = dict(phase='cluster', data_list_hash=bank.data_list_hash,
                 bank_stamp=bank.stamp)
    atomic_write_json(osp.join(out_dir, 'subset.json'),
                      dict(stamp, indices=sub.tolist(), ratio=ratio,
                           subset_seed=seed, n_total=len(bank)))
    atomic_write_json(osp.join(out_dir, 'clusters.json'),
                      dict(stamp,
                           clusters={str(int(i)): int(c)
                                     for i, c in zip(sub, labels)},
                           method='sklearn SpectralClustering(affinity='
                           'precomputed, assign_labels=discretize) on a '
                           'cosine kNN graph, global', ratio=ratio,
                           subset_seed=seed, hist_weight=hist_weight,
                           assignments=assign.tolist(),
                           assignment_rule='nearest cluster mean (cosine) '
                           'of the clustering features, all N samples',
                           **info))
    dt = time.perf_counter() - t0
    log(f'[cluster] subset {len(sub)}/{len(bank)} (ratio {ratio}, seed '
        f'{seed}) -> {info["n_clusters"]} clusters, k={info["k"]}, sizes '
        f'{info["sizes"]} ({dt:.1f} s)')
    return dict(seconds=dt, n_subset=int(len(sub)), **info)
