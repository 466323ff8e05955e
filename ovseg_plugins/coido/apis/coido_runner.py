"""CoIDO on any mmengine training config: phase 1, selection and phase 2
built from the user's config, without rewriting its pipeline or model.

Selection happens between runs, so each train loop keeps one sampler:

1. ``extract``  feature bank of the full training set
   (:func:`~.feature_extraction.extract_feature_bank`) -> ``feature_bank.pt``
2. ``cluster``  p % subset + global spectral clusters
   (:func:`~.subset_clustering.cluster_subset`) -> ``subset.json``,
   ``clusters.json``
3. ``phase1``   the user's model wrapped by ``CoIDOSegmentor`` (scorer +
   per-sample loss), trained a few passes over the subset; its
   ``CoIDOSelectionHook`` scores all N samples -> ``selected.json``
4. ``phase2``   the user's config unchanged except for the sampler
   (``IndexSubsetSampler`` / ``IndexSubsetEpochSampler`` on
   ``selected.json``)
"""
import copy
import json
import math
import os.path as osp
import time
from typing import Callable, Dict, Optional, Sequence

PHASES = ('extract', 'cluster', 'phase1', 'phase2')
COIDO_KEYS = ('files_dir', 'extract', 'cluster', 'model', 'selection',
              'phase1')
MODEL_KEYS = ('scorer', 'per_sample_loss', 'scorer_warmup_iters')
SELECTION_KEYS = ('budget', 'cluster_quotas', 'sanity_check', 'group_key',
                  'min_valid', 'min_valid_fraction')
PHASE1_KEYS = ('passes', 'warmup_passes', 'log_sigma_lr_mult', 'cfg_options')
DEFAULTS = dict(
    files_dir=None,
    extract=dict(),
    cluster=dict(ratio=0.2, seed=0, n_clusters=20, knn=30, hist_weight=0.3),
    model=dict(scorer=dict(type='CoIDOScorer'), per_sample_loss='auto'),
    selection=dict(budget=0.2),
    phase1=dict(passes=5, warmup_passes=1, log_sigma_lr_mult=30.,
                cfg_options=None))
SAMPLERS = dict(InfiniteSampler='IndexSubsetSampler',
                IndexSubsetSampler='IndexSubsetSampler',
                DefaultSampler='IndexSubsetEpochSampler',
                IndexSubsetEpochSampler='IndexSubsetEpochSampler')


def coido_paths(d: str) -> Dict[str, str]:
    """Locations of CoIDO's files in the folder ``d``."""
    return dict(bank=osp.join(d, 'feature_bank.pt'),
                subset=osp.join(d, 'subset.json'),
                clusters=osp.join(d, 'clusters.json'),
                selected=osp.join(d, 'selected.json'),
                scores=osp.join(d, 'coido_scores.json'),
                summary=osp.join(d, 'selection_summary.json'),
                cost=osp.join(d, 'cost.json'))


def coido_settings(cfg, overrides: Optional[dict] = None) -> dict:
    """The config's ``coido`` section (optional: every key has a default)
    merged over :data:`DEFAULTS` and ``overrides`` (``{section: {key:
    value}}``), with unknown keys refused by name."""
    from ..hooks.coido_selection_hook import CoIDOSelectionHook
    from .feature_extraction import EXTRACT_KEYS
    from .subset_clustering import check_cluster_options
    user = cfg.get('coido') or {}
    if not isinstance(user, dict):
        raise TypeError('the config\'s `coido` must be a dict, got '
                        f'{type(user).__name__}.')
    bad = set(user) - set(COIDO_KEYS)
    if bad:
        raise KeyError(f'coido: unknown keys {sorted(bad)}; allowed: '
                       f'{", ".join(COIDO_KEYS)}.')
    s = copy.deepcopy(DEFAULTS)
    for src in (user, overrides or {}):
        for k, v in src.items():
            if k == 'files_dir':
                s[k] = v
            elif v is not None:
                if not isinstance(v, dict):
                    raise TypeError(f'coido.{k} must be a dict, got '
                                    f'{type(v).__name__}.')
                s[k].update(copy.deepcopy(dict(v)))
    for sec, keys in (('extract', EXTRACT_KEYS), ('model', MODEL_KEYS),
                      ('selection', SELECTION_KEYS),
                      ('phase1', PHASE1_KEYS)):
        bad = set(s[sec]) - set(keys)
        if bad:
            raise KeyError(f'coido.{sec}: unknown keys {sorted(bad)}; '
                           f'allowed: {", ".join(keys)}.')
    check_cluster_options(s['cluster'])
    p = s['phase1']
    for k in ('passes', 'warmup_passes'):
        v = p[k]
        if isinstance(v, bool) or not isinstance(v, int) or \
                v < (1 if k == 'passes' else 0):
            raise ValueError(f'coido.phase1.{k} must be an integer >= '
                             f'{1 if k == "passes" else 0}, got {v!r}.')
    CoIDOSelectionHook(**s['selection'])  # validates budget & co. early
    return s


def files_dir(cfg, settings: dict) -> str:
    """``coido.files_dir`` or ``<work_dir>/coido``."""
    d = settings.get('files_dir')
    if d:
        return d
    return osp.join(cfg.get('work_dir') or osp.join('work_dirs', 'coido'),
                    'coido')


def _check_plain_dataset(dcfg: dict, where: str) -> None:
    if 'dataset' in dcfg or 'datasets' in dcfg:
        raise TypeError(
            f'{where} is a dataset wrapper ({dcfg.get("type")}); CoIDO keys '
            'its files by the global sample index of ONE dataset, which '
            'wrappers renumber. Give the plain dataset (repeat epochs with '
            'the schedule instead of RepeatDataset).')


def add_sample_idx(dataset_cfg: dict, scope: Optional[str] = None) -> tuple:
    """Make the pack transform of a dataset config keep ``sample_idx``.

    The last transform of the pipeline whose type contains ``'Pack'``
    (``PackSegInputs``, ``Pack3DDetInputs``) gets ``meta_keys`` = its own
    (the given ones or the class defaults, read from the built transform)
    plus ``'sample_idx'``; nothing else of the pipeline changes.

    Returns:
        tuple: the new ``meta_keys``.
    """
    from mmengine.registry import TRANSFORMS, DefaultScope
    _check_plain_dataset(dataset_cfg, 'train_dataloader.dataset')
    pipe = dataset_cfg.get('pipeline') or []
    packs = [i for i, t in enumerate(pipe)
             if 'Pack' in str(t.get('type', ''))]
    if not packs:
        raise KeyError('train_dataloader.dataset.pipeline has no pack '
                       'transform (PackSegInputs / Pack3DDetInputs): CoIDO '
                       'cannot pass sample_idx to the model.')
    t = pipe[packs[-1]]
    keys = t.get('meta_keys')
    if keys is None:
        with DefaultScope.overwrite_default_scope(scope):
            keys = TRANSFORMS.build(copy.deepcopy(t)).meta_keys
    keys = tuple(keys)
    if 'sample_idx' not in keys:
        keys = keys + ('sample_idx', )
    t['meta_keys'] = keys
    return keys


def _sampler_type(cfg, where: str) -> str:
    s = cfg.train_dataloader.get('sampler') or {}
    t = s.get('type')
    t = t if isinstance(t, str) else getattr(t, '__name__', str(t))
    t = t.split('.')[-1]
    if t not in SAMPLERS:
        raise ValueError(
            f'{where}: train_dataloader.sampler type {t!r} is not supported '
            f'by CoIDO (supported: {sorted(SAMPLERS)}); CoIDO replaces the '
            'sampler by a subset sampler of the same kind.')
    return SAMPLERS[t]


def set_subset_sampler(cfg, indices_file: str, where: str = 'config') -> None:
    """Replace the train sampler by the subset sampler of the same kind
    (infinite -> ``IndexSubsetSampler``, epoch -> ``IndexSubsetEpochSampler``)
    on ``indices_file``; shuffle and seed are kept."""
    new_type = _sampler_type(cfg, where)
    old = cfg.train_dataloader.sampler
    new = dict(type=new_type, indices_file=indices_file,
               shuffle=old.get('shuffle', True))
    if old.get('seed') is not None:
        new['seed'] = old['seed']
    cfg.train_dataloader.sampler = new


def _is_epoch_based(cfg) -> bool:
    tc = cfg.get('train_cfg') or {}
    t = str(tc.get('type', ''))
    return 'Epoch' in t or bool(tc.get('by_epoch', False))


def build_phase1_config(cfg, settings: dict, files: str, n_subset: int):
    """Phase 1 from a plain training config (returns a new Config).

    The model is wrapped by ``CoIDOSegmentor`` (the wrapped model keeps its
    own data preprocessor), the pack transform keeps ``sample_idx``, the
    sampler draws from ``subset.json``, the schedule is ``phase1.passes``
    passes over the subset at the optimizer's base LR (no LR schedule, no
    validation), log σ gets ``lr_mult=phase1.log_sigma_lr_mult``, and
    ``CoIDOSelectionHook`` writes the selection into ``files``;
    ``phase1.cfg_options`` are merged last.
    """
    from mmengine.config import ConfigDict
    if str(cfg.model.get('type')) == 'CoIDOSegmentor':
        raise ValueError('give the plain training config (the model to '
                         'train); CoIDO wraps it in CoIDOSegmentor itself.')
    P = coido_paths(files)
    p1 = copy.deepcopy(cfg)
    m = dict(settings['model'])
    ph = settings['phase1']
    opts = dict(ph.get('cfg_options') or {})
    bs = opts.get('train_dataloader.batch_size',
                  (opts.get('train_dataloader') or {}).get(
                      'batch_size', p1.train_dataloader.get('batch_size', 1)))
    world = 1  # iterations per pass are counted for one process
    per_pass = max(1, math.ceil(n_subset / (int(bs) * world)))
    m.setdefault('scorer_warmup_iters', ph['warmup_passes'] * per_pass)
    p1.model = ConfigDict(type='CoIDOSegmentor', segmentor=p1.model,
                          feature_bank=P['bank'], clusters=P['clusters'],
                          **m)
    add_sample_idx(p1.train_dataloader.dataset, p1.get('default_scope'))
    set_subset_sampler(p1, P['subset'], 'phase 1')
    if _is_epoch_based(p1):
        p1.train_cfg = dict(type='EpochBasedTrainLoop',
                            max_epochs=ph['passes'], val_interval=10**9)
        ckpt = dict(by_epoch=True, interval=ph['passes'])
    else:
        iters = ph['passes'] * per_pass
        p1.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters,
                            val_interval=10**9)
        ckpt = dict(by_epoch=False, interval=iters)
    p1.param_scheduler = None
    for k in ('val_dataloader', 'val_cfg', 'val_evaluator'):
        p1[k] = None
    if p1.get('default_hooks') and p1.default_hooks.get('checkpoint'):
        p1.default_hooks.checkpoint.update(ckpt)
    ow = p1.optim_wrapper
    pc = ow.setdefault('paramwise_cfg', {})
    pc.setdefault('custom_keys', {})['log_sigma'] = dict(
        lr_mult=float(ph['log_sigma_lr_mult']), decay_mult=0.)
    hooks = [h for h in (p1.get('custom_hooks') or [])
             if h.get('type') != 'CoIDOSelectionHook']
    hooks.append(dict(type='CoIDOSelectionHook', out_dir=files,
                      **settings['selection']))
    p1.custom_hooks = hooks
    _add_import(p1)
    if ph.get('cfg_options'):
        p1.merge_from_dict(copy.deepcopy(dict(ph['cfg_options'])))
    return p1


def build_phase2_config(cfg, selected: str):
    """Phase 2: the user's config with the subset sampler on
    ``selected`` (returns a new Config; the schedule is the user's)."""
    p2 = copy.deepcopy(cfg)
    set_subset_sampler(p2, selected, 'phase 2')
    _add_import(p2)
    return p2


def _add_import(cfg) -> None:
    ci = cfg.get('custom_imports') or dict(imports=[],
                                           allow_failed_imports=False)
    imports = list(ci.get('imports', []))
    if 'ovseg_plugins.coido' not in imports:
        imports.append('ovseg_plugins.coido')
    ci['imports'] = imports
    cfg.custom_imports = ci


def _train(cfg, work_dir: str):
    from mmengine.runner import Runner
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    t0 = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    return time.perf_counter() - t0, runner


def check_phase_inputs(phase: str, P: dict) -> str:
    """Before ``phase``: the files it reads exist and carry the stamp of
    the current feature bank (a stale or foreign file is refused).

    Returns:
        str: the current bank's stamp.
    """
    from ..utils import check_file_stamp, load_feature_bank, load_json
    from ..utils.validation import CLUSTER_FIX, SELECT_FIX
    bank = load_feature_bank(P['bank'])
    if phase == 'phase1':
        for k in ('subset', 'clusters'):
            obj = load_json(P[k], f'CoIDO {k} file')
            check_file_stamp(obj if isinstance(obj, dict) else {}, P[k],
                             f'{k} file', CLUSTER_FIX, bank.data_list_hash,
                             bank.stamp, phase='cluster')
    if phase == 'phase2':
        obj = load_json(P['selected'], 'CoIDO selection file')
        if not isinstance(obj, dict) or 'bank_stamp' not in obj:
            raise ValueError(f'selection file {P["selected"]!r} has no '
                             '\'bank_stamp\' field: it was not written by '
                             f'this phase 1. {SELECT_FIX}')
        check_file_stamp(obj, P['selected'], 'selection file', SELECT_FIX,
                         bank.data_list_hash, bank.stamp, phase='selection')
    return bank.stamp


def run_coido(cfg, phases: Sequence[str] = PHASES,
              overrides: Optional[dict] = None, full_baseline: bool = False,
              log: Callable[[str], None] = print) -> dict:
    """Run the CoIDO phases on a plain training config.

    Args:
        cfg (Config): The user's training config (``work_dir`` set); its
            optional ``coido = dict(...)`` section holds the settings.
        phases: Any of :data:`PHASES`, run in that order.
        overrides (dict, optional): ``{section: {key: value}}`` over the
            ``coido`` section (the command-line options).
        full_baseline (bool): Also train the config on all samples to
            measure the cost fraction.
        log (callable): Progress messages.

    Returns:
        dict: wall seconds per phase and the cost summary (also written
        to ``cost.json``).
    """
    from ..utils import load_indices_file
    from .feature_extraction import extract_feature_bank
    from .subset_clustering import cluster_subset
    bad = [p for p in phases if p not in PHASES]
    if bad:
        raise ValueError(f'unknown phases {bad}; choose from {PHASES}.')
    S = coido_settings(cfg, overrides)
    d = files_dir(cfg, S)
    P = coido_paths(d)
    wd = cfg.work_dir
    cost = {}
    t_all = time.perf_counter()
    if 'extract' in phases:
        log(f'1/4 extract: feature bank of the full training set -> '
            f'{P["bank"]}')
        ex_cfg = copy.deepcopy(cfg)
        ex_cfg.coido = dict(extract=S['extract'])
        cost['extract'] = extract_feature_bank(ex_cfg, P['bank'],
                                               log=log)['seconds']
    if 'cluster' in phases:
        log(f'2/4 cluster: subset + spectral clusters ({S["cluster"]}) -> '
            f'{d}')
        cost['cluster'] = cluster_subset(P['bank'], d, log=log,
                                         **S['cluster'])['seconds']
    if 'phase1' in phases:
        check_phase_inputs('phase1', P)
        n_sub = len(load_indices_file(P['subset'])[0])
        p1 = build_phase1_config(cfg, S, d, n_sub)
        log(f'3/4 phase 1: segmentor + scorer on the {n_sub}-sample subset, '
            'then scoring of all samples')
        sec, _ = _train(p1, osp.join(wd, 'phase1'))
        with open(P['summary']) as f:
            summ = json.load(f)
        cost['scoring'] = summ['score_seconds']
        cost['phase1'] = sec - summ['score_seconds']
        log(f'selected {summ["n_selected"]}/{summ["n_total"]} -> '
            f'{P["selected"]}')
    if 'phase2' in phases:
        check_phase_inputs('phase2', P)
        p2 = build_phase2_config(cfg, P['selected'])
        log(f'4/4 phase 2: the config on the selection ({P["selected"]})')
        cost['phase2'], _ = _train(p2, osp.join(wd, 'phase2'))
    if full_baseline:
        log('baseline: the config on the full training set')
        cf = copy.deepcopy(cfg)
        _add_import(cf)
        cost['full'], _ = _train(cf, osp.join(wd, 'full'))
    cost['total'] = time.perf_counter() - t_all
    cost_summary(cost, cfg, P, log)
    return cost


def cost_summary(cost: dict, cfg, P: dict, log=print) -> dict:
    """Print each phase's wall time and the CoIDO overhead (phase 1 +
    scoring, and with extract + cluster) as a fraction of full-data
    training: measured (``--full-baseline``) or estimated from phase 2
    (iteration-based: the same iterations; epoch-based: x N/|selected|);
    written atomically to ``cost.json``."""
    from ..utils import atomic_write_json
    full, how = cost.get('full'), 'measured (--full-baseline)'
    if full is None and 'phase2' in cost:
        full, how = cost['phase2'], 'estimated: phase 2 x 1 (same iters)'
        if _is_epoch_based(cfg):
            with open(P['selected']) as f:
                s = json.load(f)
            full = cost['phase2'] * s['n_total'] / s['n_selected']
            how = 'estimated: phase 2 x N/|selected| (epoch-based)'
    overhead = sum(cost.get(k, 0.) for k in ('phase1', 'scoring'))
    prep = sum(cost.get(k, 0.) for k in ('extract', 'cluster'))
    lines = ['cost summary', f'{"phase":<10}{"seconds":>10}'
             f'{"/ full":>10}']
    for k in ('extract', 'cluster', 'phase1', 'scoring', 'phase2', 'full'):
        if k in cost:
            frac = f'{cost[k] / full:9.3f}' if full else '      n/a'
            lines.append(f'{k:<10}{cost[k]:>10.2f}{frac:>10}')
    if full:
        lines.append(f'phase-1 + scoring = {overhead:.2f} s = '
                     f'{overhead / full:.3f} of full-data training '
                     f'({full:.2f} s, {how}); with extract + cluster: '
                     f'{(overhead + prep) / full:.3f}')
    log('\n'.join(lines))
    cost.update(full_reference=full, full_reference_how=how,
                phase1_plus_scoring_fraction=(overhead / full) if full
                else None)
    atomic_write_json(P['cost'], cost)
    return cost
