"""CoIDO, all phases in one command.

    python tools/coido/run.py PHASE1_CONFIG [--work-dir DIR]
        [--phases extract,cluster,phase1,phase2] [--full-baseline]
        [--cfg-options k=v ...]

Phases (spec §13, selection between runs):

1. ``extract``  feature bank of the full training set
   (``tools/coido/extract_features.py``) -> ``<coido dir>/feature_bank.pt``
2. ``cluster``  p % subset + global spectral clusters
   (``tools/coido/cluster.py``) -> ``subset.json``, ``clusters.json``
3. ``phase1``   the phase-1 config (``CoIDOSegmentor`` + scorer,
   ``IndexSubsetSampler(indices_file=subset.json)``); its
   ``CoIDOSelectionHook`` scores all N samples -> ``selected.json``
4. ``phase2``   ``coido.phase2_config`` (the unchanged model) on
   ``IndexSubsetSampler(indices_file=selected.json)``

The CoIDO files live in ``coido.files_dir`` or ``<work_dir>/coido``; the
runs in ``<work_dir>/phase1`` and ``<work_dir>/phase2``. At the end a table
gives each phase's wall time and the CoIDO overhead (extract + cluster +
phase 1 + scoring) as a fraction of the full-data training time: measured
with ``--full-baseline`` (phase-2 config on all samples, in
``<work_dir>/full``), otherwise estimated from phase 2 (iteration-based:
the same number of iterations, so the same time; epoch-based: scaled by
N / |selected|).
"""
import argparse
import copy
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _common import coido_dir, coido_section, paths  # noqa: E402

PHASES = ('extract', 'cluster', 'phase1', 'phase2')


def _log(msg):
    print(f'[coido] {msg}', flush=True)


def _set_sampler(cfg, indices_file=None, full=False):
    s = cfg.train_dataloader.sampler
    epoch = s.get('type') in ('IndexSubsetEpochSampler', 'DefaultSampler')
    if full:
        cfg.train_dataloader.sampler = dict(
            type='DefaultSampler' if epoch else 'InfiniteSampler',
            shuffle=True)
        return
    new = dict(type='IndexSubsetEpochSampler' if epoch else
               'IndexSubsetSampler', indices_file=indices_file,
               shuffle=s.get('shuffle', True))
    if s.get('seed') is not None:
        new['seed'] = s['seed']
    cfg.train_dataloader.sampler = new


def _train(cfg, work_dir):
    from mmengine.runner import Runner
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    t0 = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    return time.perf_counter() - t0, runner


def _set_hook_dir(cfg, d):
    hooks = cfg.get('custom_hooks') or []
    found = False
    for h in hooks:
        if h.get('type') == 'CoIDOSelectionHook':
            h['out_dir'] = d
            found = True
    if not found:
        raise KeyError('the phase-1 config has no CoIDOSelectionHook in '
                       'custom_hooks: nothing would write selected.json.')


def run(cfg, phases=PHASES, full_baseline=False, p2_opts=None) -> dict:
    import json

    from mmengine.config import Config

    from cluster import cluster
    from extract_features import extract
    c = coido_section(cfg)
    d = coido_dir(cfg)
    P = paths(d)
    wd = cfg.work_dir
    cost = {}
    t_all = time.perf_counter()
    if 'extract' in phases:
        _log(f'1/4 extract: feature bank of the full training set -> '
             f'{P["bank"]}')
        cost['extract'] = extract(cfg, P['bank'], log=_log)['seconds']
    if 'cluster' in phases:
        cc = dict(c.get('cluster', {}))
        _log(f'2/4 cluster: subset + spectral clusters ({cc}) -> {d}')
        cost['cluster'] = cluster(P['bank'], d, log=_log, **cc)['seconds']
    if 'phase1' in phases:
        cfg1 = copy.deepcopy(cfg)
        cfg1.model.feature_bank = P['bank']
        cfg1.model.clusters = P['clusters']
        _set_sampler(cfg1, P['subset'])
        _set_hook_dir(cfg1, d)
        _log('3/4 phase 1: segmentor + scorer on the subset, then scoring '
             'of all samples')
        sec, _ = _train(cfg1, osp.join(wd, 'phase1'))
        with open(osp.join(d, 'selection_summary.json')) as f:
            summ = json.load(f)
        cost['scoring'] = summ['score_seconds']
        cost['phase1'] = sec - summ['score_seconds']
        _log(f'selected {summ["n_selected"]}/{summ["n_total"]} -> '
             f'{P["selected"]}')
    p2 = c.get('phase2_config')
    cfg2 = None
    if 'phase2' in phases or full_baseline:
        if not p2:
            raise KeyError('coido.phase2_config is not set in the phase-1 '
                           'config.')
        cfg2 = Config.fromfile(p2)
        if cfg.get('coido_phase2_options'):
            cfg2.merge_from_dict(cfg.coido_phase2_options)
        if p2_opts:
            cfg2.merge_from_dict(p2_opts)
    if 'phase2' in phases:
        c2 = copy.deepcopy(cfg2)
        _set_sampler(c2, P['selected'])
        _log(f'4/4 phase 2: {p2} on the selection')
        cost['phase2'], _ = _train(c2, osp.join(wd, 'phase2'))
    if full_baseline:
        cf = copy.deepcopy(cfg2)
        _set_sampler(cf, full=True)
        _log('baseline: phase-2 config on the full training set')
        cost['full'], _ = _train(cf, osp.join(wd, 'full'))
    cost['total'] = time.perf_counter() - t_all
    _summary(cost, cfg2, d)
    return cost


def _summary(cost, cfg2, d):
    from ovseg_plugins.coido.utils import atomic_write_json
    full, how = cost.get('full'), 'measured (--full-baseline)'
    if full is None and 'phase2' in cost:
        loop = cfg2.train_cfg.get('type', '')
        full, how = cost['phase2'], 'estimated: phase 2 x 1 (same iters)'
        if 'Epoch' in loop:
            import json
            with open(paths(d)['selected']) as f:
                s = json.load(f)
            full = cost['phase2'] * s['n_total'] / s['n_selected']
            how = 'estimated: phase 2 x N/|selected| (epoch-based)'
    overhead = sum(cost.get(k, 0.) for k in ('phase1', 'scoring'))
    prep = sum(cost.get(k, 0.) for k in ('extract', 'cluster'))
    rows = [(k, cost[k]) for k in ('extract', 'cluster', 'phase1', 'scoring',
                                   'phase2', 'full') if k in cost]
    print('\n[coido] cost summary')
    print(f'{"phase":<10}{"seconds":>10}{"/ full":>10}')
    for k, v in rows:
        frac = f'{v / full:9.3f}' if full else '      n/a'
        print(f'{k:<10}{v:>10.2f}{frac:>10}')
    if full:
        print(f'phase-1 + scoring = {overhead:.2f} s = '
              f'{overhead / full:.3f} of full-data training ({full:.2f} s, '
              f'{how}); with extract + cluster: '
              f'{(overhead + prep) / full:.3f}')
    cost.update(full_reference=full, full_reference_how=how,
                phase1_plus_scoring_fraction=(overhead / full) if full
                else None)
    atomic_write_json(paths(d)['cost'], cost)


def main(argv=None):
    from mmengine.config import Config, DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the phase-1 config (has `coido=dict()`)')
    p.add_argument('--work-dir')
    p.add_argument('--phases', default=','.join(PHASES),
                   help=f'comma list out of {PHASES}')
    p.add_argument('--full-baseline', action='store_true',
                   help='also train on all samples to measure the cost')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='overrides of the phase-1 config')
    p.add_argument('--phase2-cfg-options', nargs='+', action=DictAction,
                   help='overrides of coido.phase2_config (also used by '
                   '--full-baseline)')
    a = p.parse_args(argv)
    phases = [x for x in a.phases.split(',') if x]
    bad = [x for x in phases if x not in PHASES]
    if bad:
        p.error(f'unknown phases {bad}; choose from {PHASES}')
    cfg = Config.fromfile(a.config)
    if a.cfg_options:
        cfg.merge_from_dict(a.cfg_options)
    if a.work_dir:
        cfg.work_dir = a.work_dir
    elif not cfg.get('work_dir'):
        cfg.work_dir = osp.join('work_dirs', osp.splitext(
            osp.basename(a.config))[0])
    run(cfg, phases, a.full_baseline, a.phase2_cfg_options)


if __name__ == '__main__':
    main()
