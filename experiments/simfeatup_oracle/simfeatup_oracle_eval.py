"""SimFeatUp vs bilinear on real aerial tiles, from ground-truth features.

    python experiments/simfeatup_oracle/simfeatup_oracle_eval.py \
        [--data-root ../shared/data/rs] [--steps 30] [--lr 1e-3] \
        [--scalar-lr 5e-2] [--crop 64] [--batch 4] [--folds 0,1,2] \
        [--no-ablation]

The procedure (label-derived features, leave-group-out folds, metrics) is in
``tests/fixtures/simfeatup_oracle.py``, shared with the test that checks the
result; see this folder's README for the numbers.
"""
import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()
sys.path.insert(0, osp.join(REPO_ROOT, 'tests'))

from fixtures import simfeatup_oracle as oracle  # noqa: E402

DATA_ROOT = osp.join(REPO_ROOT, '..', 'shared', 'data', 'rs')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data-root', default=DATA_ROOT)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--scalar-lr', type=float, default=5e-2,
                   help='lr of sigma_spatial and range_temp')
    p.add_argument('--crop', type=int, default=64)
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--folds', default='0,1,2',
                   help='indices into FOLDS to run')
    p.add_argument('--no-ablation', action='store_true',
                   help='skip the constant-guidance ablation')
    args = p.parse_args(argv)
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    import ovseg_plugins.seg2d  # noqa: F401
    rows = oracle.run(args.data_root,
                      folds=[int(f) for f in args.folds.split(',')],
                      steps=args.steps, crop=args.crop, batch=args.batch,
                      lr=args.lr, scalar_lr=args.scalar_lr,
                      ablation=not args.no_ablation)
    print(oracle.format_table(
        rows, f'SimFeatUp trained {args.steps} steps (batch {args.batch}, '
        f'crops {args.crop}, lr {args.lr}, scalar lr {args.scalar_lr}) on the '
        'other tiles; features = GT one-hot pooled by 16'))
    return rows


if __name__ == '__main__':
    main()
