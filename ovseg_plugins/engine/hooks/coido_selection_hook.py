"""After phase 1: score all N samples and write the CoIDO selection."""
import os.path as osp
import time
from typing import Optional, Sequence, Union

import numpy as np
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

    Args:
        budget (float | int): Ratio of N or a count. Defaults to 0.2.
        out_dir (str, optional): Defaults to the runner's work_dir.
        group_key (str, optional): Data-info field giving per-group quotas
            (``'dirname'``: the file's parent folder). Defaults to None.
        min_valid (bool): Never select samples without labelled elements.
            Defaults to True.
        selected_name (str): Defaults to ``'selected.json'``.
        scores_name (str): Defaults to ``'coido_scores.json'``.
    """
    priority = 'LOW'

    def __init__(self, budget: Union[float, int] = 0.2,
                 out_dir: Optional[str] = None,
                 group_key: Optional[str] = None, min_valid: bool = True,
                 selected_name: str = 'selected.json',
                 scores_name: str = 'coido_scores.json'):
        budget_count(budget, 10**12)  # validates the type / range early
        self.budget = budget
        self.out_dir = out_dir
        self.group_key = group_key
        self.min_valid = min_valid
        self.selected_name = selected_name
        self.scores_name = scores_name

    def select(self, model, dataset, out_dir: str) -> dict:
        """Score and write; returns the summary (also in the JSON)."""
        if not hasattr(model, 'score_bank'):
            raise TypeError('CoIDOSelectionHook needs a CoIDOSegmentor model '
                            f'(with score_bank()), got {type(model).__name__}.')
        t0 = time.perf_counter()
        h = data_list_hash(dataset)
        check_hash(model.data_list_hash, h,
                   f'feature bank {model.bank_path!r}', 'Re-run '
                   'tools/coido/extract_features.py on this training set.')
        scores = model.score_bank().numpy()
        eligible = model.bank_valid.cpu().numpy() if self.min_valid else None
        groups = group_labels(dataset, self.group_key) \
            if self.group_key else None
        summary = write_selection(
            scores, self.budget, out_dir, h, groups, eligible,
            extra=dict(score_seconds=0.), selected_name=self.selected_name,
            scores_name=self.scores_name)
        summary['score_seconds'] = time.perf_counter() - t0
        return summary

    def after_train(self, runner) -> None:
        out_dir = self.out_dir or runner.work_dir
        if is_main_process():
            model = runner.model.module if is_model_wrapper(runner.model) \
                else runner.model
            dataset = runner.train_dataloader.dataset
            s = self.select(model, dataset, out_dir)
            atomic_write_json(osp.join(out_dir, 'selection_summary.json'), s)
            print_log(
                f'CoIDO: selected {s["n_selected"]}/{s["n_total"]} samples '
                f'-> {osp.join(out_dir, self.selected_name)} (scoring '
                f'{s["score_seconds"]:.2f} s)', logger='current')
        barrier()
