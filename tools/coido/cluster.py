"""CoIDO phase 0b: the p % random subset and its spectral clusters.

    python tools/coido/cluster.py BANK --out-dir DIR [--ratio 0.2]
        [--seed 0] [--n-clusters 20] [--knn 30] [--hist-weight 0.3]

Writes ``subset.json`` and ``clusters.json`` into DIR (see
``ovseg_plugins.coido.apis.cluster_subset``).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import _common  # noqa: E402,F401


def main(argv=None):
    from ovseg_plugins.coido.apis import cluster_subset
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('bank')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--ratio', type=float, default=0.2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--n-clusters', type=int, default=20)
    p.add_argument('--knn', type=int, default=30)
    p.add_argument('--hist-weight', type=float, default=0.3)
    a = p.parse_args(argv)
    cluster_subset(a.bank, a.out_dir, a.ratio, a.seed, a.n_clusters, a.knn,
                   a.hist_weight)


if __name__ == '__main__':
    main()
