"""CoIDO phase 0b: the p % random subset and its spectral clusters.

    python tools/coido/cluster.py BANK --out-dir DIR [--ratio 0.2]
        [--seed 0] [--n-clusters 20] [--knn 30] [--hist-weight 0.3]

Draws the deterministic subset ``draw_subset(N, ratio, seed)`` (the same
draw as ``IndexSubsetSampler(ratio=, subset_seed=)``), clusters it GLOBALLY
(not in chunks) with ``sklearn.cluster.SpectralClustering`` on a cosine kNN
graph (k nearest, weight (1 + cos) / 2, symmetrised), and writes
``subset.json`` (indices + data-list hash) and ``clusters.json``
(``{sample_idx: cluster}`` + settings + sizes, plus ``assignments``: the
nearest-centroid cluster of every one of the N samples, used only by the
optional cluster-quota safeguard of ``CoIDOSelectionHook``).
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import _common  # noqa: E402,F401


def cluster(bank_path: str, out_dir: str, ratio: float = 0.2, seed: int = 0,
            n_clusters: int = 20, knn: int = 30, hist_weight: float = 0.3,
            log=print) -> dict:
    from ovseg_plugins.coido.utils import (atomic_write_json,
                                            cluster_features, draw_subset,
                                            load_feature_bank,
                                            nearest_centroid,
                                            spectral_clusters)
    t0 = time.perf_counter()
    bank = load_feature_bank(bank_path)
    sub = draw_subset(len(bank), ratio, seed)
    x = cluster_features(bank, sub, hist_weight)
    labels, info = spectral_clusters(x, n_clusters, knn, seed)
    x_all = cluster_features(bank, range(len(bank)), hist_weight)
    assign = nearest_centroid(x_all, x, labels)
    h = bank.data_list_hash
    atomic_write_json(osp.join(out_dir, 'subset.json'),
                      dict(data_list_hash=h, indices=sub.tolist(),
                           ratio=ratio, subset_seed=seed, n_total=len(bank)))
    atomic_write_json(osp.join(out_dir, 'clusters.json'),
                      dict(data_list_hash=h,
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('bank')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--ratio', type=float, default=0.2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--n-clusters', type=int, default=20)
    p.add_argument('--knn', type=int, default=30)
    p.add_argument('--hist-weight', type=float, default=0.3)
    a = p.parse_args(argv)
    cluster(a.bank, a.out_dir, a.ratio, a.seed, a.n_clusters, a.knn,
            a.hist_weight)


if __name__ == '__main__':
    main()
