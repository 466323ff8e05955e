"""CoIDO on any training config, all phases in one command.

    python tools/coido/run.py CONFIG [--work-dir DIR]
        [--phases extract,cluster,phase1,phase2] [--budget 0.2]
        [--ratio 0.2] [--n-clusters 20] [--phase1-passes 5]
        [--full-baseline] [--cfg-options k=v ...]

CONFIG is an ordinary training config (a path, or an installed package
config such as ``mmseg::pspnet/pspnet_r18-d8_4xb4-80k_loveda-512x512.py``);
an optional ``coido = dict(...)`` section in it holds the settings
(``docs/user_guides/coido.md``). ``--cfg-options`` apply to the config
(both phases). Files go to ``coido.files_dir`` or ``<work_dir>/coido``,
runs to ``<work_dir>/phase1`` and ``<work_dir>/phase2``; a final table
gives each phase's time and CoIDO's overhead as a fraction of full-data
training (measured with ``--full-baseline``, else estimated from phase 2).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _common import load_cfg  # noqa: E402


def _budget(v: str):
    """A ratio in (0, 1] (float) or a sample count (integer > 1)."""
    f = float(v)
    return int(f) if f > 1 and f.is_integer() else f


def parse_args(argv=None):
    from mmengine.config import DictAction

    from ovseg_plugins.coido.apis import PHASES
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='a training config (path or pkg::path)')
    p.add_argument('--work-dir')
    p.add_argument('--phases', default=','.join(PHASES),
                   help=f'comma list out of {PHASES}')
    p.add_argument('--budget', type=_budget,
                   help='selected fraction of N, or a count '
                   '(coido.selection.budget)')
    p.add_argument('--ratio', type=float,
                   help='phase-1 subset fraction (coido.cluster.ratio)')
    p.add_argument('--n-clusters', type=int,
                   help='clusters of the subset (coido.cluster.n_clusters)')
    p.add_argument('--phase1-passes', type=int,
                   help='passes over the subset (coido.phase1.passes)')
    p.add_argument('--full-baseline', action='store_true',
                   help='also train on all samples to measure the cost')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='overrides of the config (both phases)')
    a = p.parse_args(argv)
    a.phases = [x for x in a.phases.split(',') if x]
    bad = [x for x in a.phases if x not in PHASES]
    if bad:
        p.error(f'unknown phases {bad}; choose from {PHASES}')
    return a


def overrides(a) -> dict:
    o = dict(selection={}, cluster={}, phase1={})
    if a.budget is not None:
        o['selection']['budget'] = a.budget
    if a.ratio is not None:
        o['cluster']['ratio'] = a.ratio
    if a.n_clusters is not None:
        o['cluster']['n_clusters'] = a.n_clusters
    if a.phase1_passes is not None:
        o['phase1']['passes'] = a.phase1_passes
    return o


def main(argv=None):
    from ovseg_plugins.coido.apis import run_coido
    a = parse_args(argv)
    cfg = load_cfg(a.config, a.cfg_options, a.work_dir)
    run_coido(cfg, a.phases, overrides(a), a.full_baseline,
              log=lambda m: print(f'[coido] {m}', flush=True))


if __name__ == '__main__':
    main()
