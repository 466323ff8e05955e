"""GeoPurify purification check on procedurally generated labelled rooms.

    python experiments/geopurify_procedural_room/geopurify_procedural_room.py \
        [--seeds 0 1 2] [--steps 60] [--spacing 0.05] [--json]

Prints, per seed, the mIoU of the raw noisy features, after pooling with the
untrained student and after pooling with the distilled student. The
procedure is ``tests/fixtures/procedural_room.py`` (shared with the test);
see this folder's README for the numbers.
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()
os.environ.setdefault('OMP_NUM_THREADS', '1')  # before torch is imported
sys.path.insert(0, osp.join(REPO_ROOT, 'tests'))

from fixtures.procedural_room import run_seed  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--steps', type=int, default=60)
    p.add_argument('--spacing', type=float, default=0.05,
                   help='point spacing of the room (m)')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    rows = [run_seed(s, args.steps, spacing=args.spacing,
                     log=(lambda *a: None) if args.json else print)
            for s in args.seeds]
    if args.json:
        print(json.dumps(rows, indent=2))
        return rows
    print('| seed | points | mIoU raw | pooled, untrained student | '
          'pooled, trained student | train s |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["seed"]} | {r["points"]} | {100 * r["miou_raw"]:.1f} | '
              f'{100 * r["miou_pooled_untrained"]:.1f} | '
              f'{100 * r["miou_pooled_trained"]:.1f} | {r["train_s"]:.0f} |')
    return rows


if __name__ == '__main__':
    main()
