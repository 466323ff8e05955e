"""After phase 1: score all N samples and write the CoIDO selection."""
import os
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
                    scores_name: str = 'coido_scores.json',
                    bank_stamp: Optional[str] = None) -> dict:
    """Select the lowest scores and write ``scores_name`` (all N) and
    ``selected_name`` (sorted indices) atomically, both stamped with the
    data-list hash, the feature bank's stamp and ``phase='selection'``."""
    sel = select_lowest(scores, budget, groups, eligible)
    if sel.size == 0:
        raise ValueError('CoIDO selection: no sample is eligible (every '
                         'sample lacks labelled pixels/points or is below '
                         'min_valid_fraction); nothing was written.')
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
    stamp = dict(phase='selection', data_list_hash=data_hash,
                 bank_stamp=bank_stamp)
    atomic_write_json(osp.join(out_dir, scores_name),
                      dict(stamp, scores=np.asarray(scores, float).tolist()))
    atomic_write_json(osp.join(out_dir, selected_name),
                      dict(stamp, indices=sel.tolist(), **summary))
    return summary


@HOOKS.register_module()
class CoIDOSelectionHook(Hook):
    """Writes CoIDO's selection at the end of phase 1 (``after_train``).

    On the main process: unwrap the model (a :class:`CoIDOSegmentor`),
    check that its feature bank belongs to the training dataset, score all
    N bank rows with the scorer in eval mode, keep the ``budget`` lowest
    scores (optionally with per-group quotas) and write ``coido_scores.json``
    and ``selected.json`` atomically into ``out_dir``, stamped with the
    data-list hash and the bank's stamp; then all ranks meet at a barrier.
    ``before_train`` removes any selection files a previous run left in
    ``out_dir``, so a phase 1 that fails leaves no ``selected.json`` that
    phase 2 could trust.

    ``cluster_quotas`` (NOT in CoIDO, a flagged deviation) splits the budget
    over the clusters of ``clusters.json`` (all N samples assigned to the
    nearest subset-cluster mean) in proportion to their size, lowest scores
    within each. Off = CoIDO's published rule.

    Args:
        budget (float | int): Ratio of N or a count. Defaults to 0.2.
        out_dir (str, optional): Defaults to the runner's work_dir.
        group_key (str, optional): Data-info field giving per-group quotas
            (CoIDO's per-source allocation; ``'dirname'``: the file's parent
            folder). Defaults to None.
        min_valid (bool): Never select samples without labelled elements.
            Defaults to True.
        min_valid_fraction (float): Never select samples whose labelled
            fraction of pixels / points (the bank's ``valid_frac``) is below
            it. Defaults to 0 (off, CoIDO).
        cluster_quotas (bool): Per-cluster quotas (see above; combined with
            ``group_key`` groups if both are set). Defaults to False.
        sanity_check (bool): After scoring, one inference pass of the
            phase-1 model over the phase-1 subset (the train sampler's
            ``indices``; counted in the scoring time) and the Spearman
            correlation between the scores and the per-sample loss there
            (negative = hard samples get low scores, as CoIDO intends),
            written to the summary as ``sanity``. Defaults to False.
        selected_name (str): Defaults to ``'selected.json'``.
        scores_name (str): Defaults to ``'coido_scores.json'``.
    """
    priority = 'LOW'

    def __init__(self, budget: Union[float, int] = 0.2,
                 out_dir: Optional[str] = None,
                 group_key: Optional[str] = None, min_valid: bool = True,
                 min_valid_fraction: float = 0.,
                 cluster_quotas: bool = False,
                 sanity_check: bool = False,
                 selected_name: str = 'selected.json',
                 scores_name: str = 'coido_scores.json'):
        budget_count(budget, 10**12)  # validates the type / range early
        self.cluster_quotas = bool(cluster_quotas)
        self.sanity_check = bool(sanity_check)
        self.budget = budget
        self.out_dir = out_dir
        self.group_key = group_key
        self.min_valid = min_valid
        if isinstance(min_valid_fraction, bool) or not isinstance(
                min_valid_fraction, (int, float)) or \
                not 0 <= float(min_valid_fraction) <= 1:
            raise ValueError('CoIDOSelectionHook: min_valid_fraction is a '
                             'fraction in [0, 1], got '
                             f'{min_valid_fraction!r}.')
        self.min_valid_fraction = float(min_valid_fraction)
        self.selected_name = selected_name
        self.scores_name = scores_name

    def select(self, model, dataset, out_dir: str,
               collate_fn=None, subset: Optional[Sequence[int]] = None
               ) -> dict:
        """Score and write; returns the summary (also in the JSON).
        ``collate_fn``: the train dataloader's (sanity check); ``subset``:
        the phase-1 indices (sanity check)."""
        if not hasattr(model, 'score_bank'):
            raise TypeError('CoIDOSelectionHook needs a CoIDOSegmentor model '
                            f'(with score_bank()), got {type(model).__name__}.')
        t0 = time.perf_counter()
        n_ds = len(dataset)
        n_bank = len(model.bank_valid) if hasattr(model, 'bank_valid') \
            else None
        if n_bank is not None and n_bank != n_ds:
            raise ValueError(
                f'feature bank {model.bank_path!r} has {n_bank} rows '
                f'(field \'embeddings\') but the training dataset has {n_ds} '
                'samples: it was made for another data list. Re-run '
                'tools/coido/extract_features.py on this training set.')
        h = data_list_hash(dataset)
        check_hash(model.data_list_hash, h,
                   f'feature bank {model.bank_path!r}', 'Re-run '
                   'tools/coido/extract_features.py on this training set.')
        scores = model.score_bank().numpy()
        n = len(scores)
        eligible = model.bank_valid.cpu().numpy().astype(bool) \
            if self.min_valid else np.ones(n, bool)
        extra = dict(score_seconds=0.)
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
        if self.sanity_check:
            extra['sanity'] = self._sanity(model, dataset, scores, subset,
                                           collate_fn)
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
            scores_name=self.scores_name,
            bank_stamp=getattr(model, 'bank_stamp', None))
        summary['score_seconds'] = time.perf_counter() - t0
        summary.update(phase='selection', data_list_hash=h,
                       bank_stamp=getattr(model, 'bank_stamp', None))
        return summary

    @staticmethod
    def _sanity(model, dataset, scores, subset, collate_fn) -> dict:
        """Spearman(score, phase-1 per-sample loss) on the subset."""
        from scipy.stats import spearmanr
        if subset is None or len(subset) < 3:
            raise ValueError(
                'sanity_check=True needs the phase-1 subset (the train '
                'sampler\'s indices, IndexSubsetSampler) with >= 3 samples; '
                f'got {None if subset is None else len(subset)}.')
        idx = np.asarray(sorted(set(int(i) for i in subset)))
        ce = per_sample_model_ce(model, dataset, collate_fn=collate_fn,
                                 indices=idx)[idx]
        ok = np.isfinite(ce)
        rho = float(spearmanr(scores[idx][ok], ce[ok])[0]) \
            if ok.sum() >= 3 else float('nan')
        return dict(spearman_score_vs_phase1_ce=rho, n=int(ok.sum()),
                    note='negative = high-CE (hard) samples score low, '
                    'as CoIDO intends; near 0 = the scorer learned little')

    def before_train(self, runner) -> None:
        """Remove the selection files of an earlier run from ``out_dir``:
        until this run writes its own, phase 2 finds none to trust."""
        out_dir = self.out_dir or runner.work_dir
        if is_main_process():
            for name in (self.selected_name, self.scores_name,
                         'selection_summary.json'):
                p = osp.join(out_dir, name)
                if osp.isfile(p):
                    os.remove(p)
                    print_log(f'CoIDO: removed the previous run\'s {p}',
                              logger='current')
        barrier()

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
