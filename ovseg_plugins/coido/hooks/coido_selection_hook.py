"""After phase 1: score all N samples and write the CoIDO selection."""
import os.path as osp
import time
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dist import barrier, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..utils.data_list import check_hash, data_list_hash
from ..utils.io import atomic_write_json
from ..utils.safeguards import (NOISE_SIGNALS, load_exclude_pairs,
                                noise_outliers, noise_signal)
from ..utils.selection import budget_count, select_lowest


def group_labels(dataset, group_key: str) -> list:
    """``group_key`` of every data info (``'dirname'``: the image/lidar
    file's parent folder, e.g. LoveDA's Urban/Rural)."""
    out = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if group_key == 'dirname':
            p = info.get('img_path') or info.get('lidar_points', {}).get(
                'lidar_path') or info.get('lidar_path')
            if p is None:
                raise KeyError('group_key="dirname" needs img_path or '
                               'lidar_path in the data infos.')
            out.append(osp.basename(osp.dirname(p)))
        elif group_key not in info:
            raise KeyError(f'group_key {group_key!r} is not a field of the '
                           f'data infos (fields: {sorted(info)}); use one of '
                           'them or "dirname".')
        else:
            out.append(str(info[group_key]))
    return out


@torch.no_grad()
def per_sample_model_ce(model, dataset, batch_size: int = 8,
                        collate_fn=None, seed: int = 0,
                        indices: Optional[Sequence[int]] = None
                        ) -> np.ndarray:
    """The trained model's per-sample loss on every sample of ``dataset``
    (its own pipeline, a fixed seed for random transforms, the model in
    eval mode); ``(N,)``, NaN where a sample has no labelled element (and,
    with ``indices``, everywhere outside them: only those are run)."""
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader, Subset
    n = len(dataset)
    out = np.full(n, np.nan)
    src = dataset if indices is None else Subset(dataset, list(indices))
    loader = DataLoader(src, batch_size=batch_size, shuffle=False,
                        num_workers=0,
                        collate_fn=collate_fn or pseudo_collate)
    was, np_state = model.training, np.random.get_state()
    model.eval()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            np.random.seed(seed)
            for batch in loader:
                data = model.data_preprocessor(batch, True)
                ce, valid = model.per_sample_losses(data['inputs'],
                                                    data['data_samples'])
                idx = model._sample_indices(data['data_samples']).cpu()
                out[idx.numpy()] = np.where(valid.cpu().numpy(),
                                            ce.float().cpu().numpy(), np.nan)
    finally:
        np.random.set_state(np_state)
        model.train(was)
    return out


def write_selection(scores: np.ndarray, budget: Union[int, float],
                    out_dir: str, data_hash: str,
                    groups: Optional[Sequence] = None,
                    eligible: Optional[Sequence[bool]] = None,
                    extra: Optional[dict] = None,
                    selected_name: str = 'selected.json',
                    scores_name: str = 'coido_scores.json') -> dict:
    """Select the lowest scores and write ``scores_name`` (all N) and
    ``selected_name`` (sorted indices) atomically, both with the hash."""
    sel = select_lowest(scores, budget, groups, eligible)
    n = len(scores)
    summary = dict(n_total=n, n_selected=int(sel.size),
                   budget=budget_count(budget, n), rule='lowest score '
                   '(difficulty = -score), ties by lower index')
    if groups is not None:
        g = np.asarray(groups, dtype=object).astype(str)
        summary['per_group'] = {
            k: dict(total=int((g == k).sum()),
                    selected=int((g[sel] == k).sum()))
            for k in sorted(set(g.tolist()))}
    summary.update(extra or {})
    atomic_write_json(osp.join(out_dir, scores_name),
                      dict(data_list_hash=data_hash,
                           scores=np.asarray(scores, float).tolist()))
    atomic_write_json(osp.join(out_dir, selected_name),
                      dict(data_list_hash=data_hash, indices=sel.tolist(),
                           **summary))
    return summary


@HOOKS.register_module()
class CoIDOSelectionHook(Hook):
    """Writes CoIDO's selection at the end of phase 1 (``after_train``).

    On the main process: unwrap the model (a :class:`CoIDOSegmentor`),
    check that its feature bank belongs to the training dataset, score all
    N bank rows with the scorer in eval mode, keep the ``budget`` lowest
    scores (optionally with per-group quotas) and write ``coido_scores.json``
    and ``selected.json`` (both carrying the data-list hash) atomically into
    ``out_dir``; then all ranks meet at a barrier.

    Two optional safeguards (spec §11.5 / §14; NOT in CoIDO, flagged
    deviations; see :mod:`ovseg_plugins.coido.utils.safeguards`):
    ``noise_guard`` drops likely mislabelled samples before ranking ("hard"
    must not mean "mislabelled"), ``cluster_quotas`` splits the budget over
    the clusters in proportion to their size (lowest scores within each), so
    the selection covers every cluster. Both off = CoIDO's rule.

    Args:
        budget (float | int): Ratio of N or a count. Defaults to 0.2.
        out_dir (str, optional): Defaults to the runner's work_dir.
        group_key (str, optional): Data-info field giving per-group quotas
            (``'dirname'``: the file's parent folder). Defaults to None.
        min_valid (bool): Never select samples without labelled elements.
            Defaults to True.
        min_valid_fraction (float): Spec §11.5's τ: never select samples
            whose labelled fraction of pixels / points (the bank's
            ``valid_frac``) is below it. Defaults to 0 (off, CoIDO).
        noise_guard (dict, optional): ``dict(signal='knn_label' | 'score'
            | 'knn_model_ce', k=10, z_max=3.5, batch_size=8,
            exclude=None)``: exclude
            samples whose signal has a modified z-score > ``z_max``
            (``knn_label``: class-histogram disagreement with the k nearest
            bank neighbours; ``score``: the low tail of the scores;
            ``knn_model_ce``: the phase-1 segmentor's per-sample CE (one
            inference pass over all N, in ``batch_size`` batches, counted in
            the scoring time) above the median of its k nearest bank
            neighbours'). ``exclude``: a JSON file of sample pairs that may
            not be each other's neighbours (``{"pairs": [[i, j], ...],
            "data_list_hash": ...}``; e.g. overlapping crops of one scene,
            whose agreement is no evidence). Defaults to None (off, CoIDO).
        sanity_check (bool): Spec §11.5's check that the scorer learned
            what L_I asks: after scoring, one inference pass of the phase-1
            model over the phase-1 subset (the train sampler's
            ``indices``; counted in the scoring time) and the Spearman
            correlation between the scores and the per-sample CE there
            (negative = hard samples get low scores, as intended), written
            to the summary as ``sanity``. Defaults to False.
        cluster_quotas (bool): Per-cluster quotas over the all-N
            nearest-centroid assignment of ``clusters.json`` (combined with
            ``group_key`` groups if both are set). Defaults to False (CoIDO).
        selected_name (str): Defaults to ``'selected.json'``.
        scores_name (str): Defaults to ``'coido_scores.json'``.
    """
    priority = 'LOW'

    def __init__(self, budget: Union[float, int] = 0.2,
                 out_dir: Optional[str] = None,
                 group_key: Optional[str] = None, min_valid: bool = True,
                 min_valid_fraction: float = 0.,
                 noise_guard: Optional[dict] = None,
                 cluster_quotas: bool = False,
                 sanity_check: bool = False,
                 selected_name: str = 'selected.json',
                 scores_name: str = 'coido_scores.json'):
        budget_count(budget, 10**12)  # validates the type / range early
        if noise_guard is not None:
            noise_guard = dict(noise_guard)
            bad = set(noise_guard) - {'signal', 'k', 'z_max', 'batch_size',
                                      'exclude'}
            if bad or noise_guard.get('signal', 'knn_label') not in \
                    NOISE_SIGNALS:
                raise ValueError(
                    'noise_guard must be dict(signal=one of '
                    f'{NOISE_SIGNALS}, k=int, z_max=float, batch_size=int, '
                    'exclude=pairs file or None), '
                    'got '
                    f'{noise_guard}.')
            if noise_guard.get('exclude') is not None and \
                    noise_guard.get('signal', 'knn_label') == 'score':
                raise ValueError('noise_guard.exclude removes k-NN '
                                 'neighbours; signal="score" has none. Use '
                                 'a k-NN signal or drop exclude.')
        self.noise_guard = noise_guard
        self.cluster_quotas = bool(cluster_quotas)
        self.sanity_check = bool(sanity_check)
        self.budget = budget
        self.out_dir = out_dir
        self.group_key = group_key
        self.min_valid = min_valid
        if not 0 <= float(min_valid_fraction) <= 1:
            raise ValueError('min_valid_fraction is a fraction in [0, 1], '
                             f'got {min_valid_fraction}.')
        self.min_valid_fraction = float(min_valid_fraction)
        self.selected_name = selected_name
        self.scores_name = scores_name

    def select(self, model, dataset, out_dir: str,
               collate_fn=None, subset: Optional[Sequence[int]] = None
               ) -> dict:
        """Score and write; returns the summary (also in the JSON).
        ``collate_fn``: the train dataloader's (for ``knn_model_ce`` and the
        sanity check); ``subset``: the phase-1 indices (sanity check)."""
        if not hasattr(model, 'score_bank'):
            raise TypeError('CoIDOSelectionHook needs a CoIDOSegmentor model '
                            f'(with score_bank()), got {type(model).__name__}.')
        t0 = time.perf_counter()
        h = data_list_hash(dataset)
        check_hash(model.data_list_hash, h,
                   f'feature bank {model.bank_path!r}', 'Re-run '
                   'tools/coido/extract_features.py on this training set.')
        scores = model.score_bank().numpy()
        n = len(scores)
        eligible = model.bank_valid.cpu().numpy().astype(bool) \
            if self.min_valid else np.ones(n, bool)
        extra = dict(score_seconds=0.)
        model_ce = None  # the phase-1 model's CE of all N, if a guard ran it
        if self.min_valid_fraction > 0:
            f = getattr(model, 'bank_valid_frac', None)
            if f is None:
                raise ValueError(
                    f'min_valid_fraction={self.min_valid_fraction} needs the '
                    'labelled fraction of every sample (valid_frac), which '
                    f'feature bank {model.bank_path!r} lacks: re-run '
                    'tools/coido/extract_features.py.')
            low = f.cpu().numpy() < self.min_valid_fraction
            eligible = eligible & ~low
            extra['min_valid_fraction'] = dict(
                tau=self.min_valid_fraction, n_excluded=int(low.sum()))
        if self.noise_guard is not None:
            g = self.noise_guard
            kind = g.get('signal', 'knn_label')
            if kind == 'knn_model_ce':
                t1 = time.perf_counter()
                model_ce = per_sample_model_ce(
                    model, dataset, int(g.get('batch_size', 8)), collate_fn)
                extra['model_ce_seconds'] = time.perf_counter() - t1
            sig = noise_signal(
                kind, scores, model.bank_embed.cpu(),
                None if getattr(model, 'bank_hist', None) is None else
                model.bank_hist.cpu(), int(g.get('k', 10)),
                model_ce=model_ce, valid=eligible,
                exclude=None if g.get('exclude') is None else
                load_exclude_pairs(g['exclude'], n, h))
            out = noise_outliers(sig, float(g.get('z_max', 3.5)))
            eligible = eligible & ~out
            extra['noise_guard'] = dict(
                g, n_excluded=int(out.sum()),
                excluded=np.flatnonzero(out).tolist())
        if self.sanity_check:
            extra['sanity'] = self._sanity(model, dataset, scores, subset,
                                           collate_fn, model_ce)
        groups = group_labels(dataset, self.group_key) \
            if self.group_key else None
        if self.cluster_quotas:
            a = getattr(model, 'cluster_assign', None)
            a = None if a is None else a.cpu().numpy()
            if a is None or (a < 0).all():
                raise ValueError(
                    'cluster_quotas=True needs the all-N cluster assignment '
                    '("assignments" in clusters.json): re-run '
                    'tools/coido/cluster.py and give the file as the '
                    'model\'s clusters=.')
            c = a.astype(str)
            groups = c if groups is None else np.char.add(
                np.asarray(groups, dtype=str), np.char.add('|', c))
            extra['cluster_quotas'] = True
        summary = write_selection(
            scores, self.budget, out_dir, h, groups, eligible,
            extra=extra, selected_name=self.selected_name,
            scores_name=self.scores_name)
        summary['score_seconds'] = time.perf_counter() - t0
        return summary

    @staticmethod
    def _sanity(model, dataset, scores, subset, collate_fn,
                model_ce=None) -> dict:
        """Spearman(score, phase-1 CE) on the subset; ``model_ce``: the
        all-N CE of the ``knn_model_ce`` guard (reused, no second pass)."""
        from scipy.stats import spearmanr
        if subset is None or len(subset) < 3:
            raise ValueError(
                'sanity_check=True needs the phase-1 subset (the train '
                'sampler\'s indices, IndexSubsetSampler) with >= 3 samples; '
                f'got {None if subset is None else len(subset)}.')
        idx = np.asarray(sorted(set(int(i) for i in subset)))
        ce = (model_ce if model_ce is not None else per_sample_model_ce(
            model, dataset, collate_fn=collate_fn, indices=idx))[idx]
        ok = np.isfinite(ce)
        rho = float(spearmanr(scores[idx][ok], ce[ok])[0]) \
            if ok.sum() >= 3 else float('nan')
        return dict(spearman_score_vs_phase1_ce=rho, n=int(ok.sum()),
                    note='negative = high-CE (hard) samples score low, '
                    'as CoIDO intends; near 0 = the scorer learned little')

    def after_train(self, runner) -> None:
        out_dir = self.out_dir or runner.work_dir
        if is_main_process():
            model = runner.model.module if is_model_wrapper(runner.model) \
                else runner.model
            dataset = runner.train_dataloader.dataset
            s = self.select(model, dataset, out_dir,
                            runner.train_dataloader.collate_fn,
                            getattr(runner.train_dataloader.sampler,
                                    'indices', None))
            atomic_write_json(osp.join(out_dir, 'selection_summary.json'), s)
            print_log(
                f'CoIDO: selected {s["n_selected"]}/{s["n_total"]} samples '
                f'-> {osp.join(out_dir, self.selected_name)} (scoring '
                f'{s["score_seconds"]:.2f} s)' + (
                    '; Spearman(score, phase-1 CE) on the subset = '
                    f'{s["sanity"]["spearman_score_vs_phase1_ce"]:.3f}'
                    if 'sanity' in s else ''), logger='current')
        barrier()
