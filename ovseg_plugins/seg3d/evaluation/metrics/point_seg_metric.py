"""mIoU / mAcc / allAcc of point labels from a confusion matrix over a split.

Protocols (as the GeoPurify authors evaluate, tj12323/GeoPurify
``run/validation.py``):

* per-class intersection / union / target are accumulated over the whole
  split (not averaged per scene): ``IoU_c = TP_c / (GT_c + Pred_c - TP_c)``,
  ``Acc_c = TP_c / GT_c``;
* ``ignore_classes``: points whose GT is one of these classes are dropped
  and the classes leave the means (ScanNet 19-class protocol:
  ``ignore_classes=['otherfurniture']``). Predictions OF an ignored class on
  other points still count as errors of the true class (as upstream's
  ``histc`` over classes 0..18);
* ``absent_classes``: classes without GT points in the split are counted as
  IoU = Acc = 0 (``'zero'``, GeoPurify upstream), left out (``'skip'``,
  OpenScene), or left out only where undefined (``'mmdet3d'``: IoU skipped
  when GT + Pred = 0, Acc when GT = 0 - mmdet3d ``seg_eval``);
* ``class_groups``: extra means over class subsets, e.g. ScanNet200
  head / common / tail and foreground f-mIoU / f-mAcc (all but wall, floor,
  ceiling) with the preset ``'scannet200'``.
"""
import os.path as osp
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmdet3d.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ovseg_plugins.utils.io import atomic_write
from ...datasets.label_constants import (SCANNET200_BACKGROUND,
                                         SCANNET200_COMMON, SCANNET200_HEAD,
                                         SCANNET200_TAIL)
from ...datasets.scene_list import scene_name_of

CLASS_GROUP_PRESETS = {
    'scannet200':
    dict(head=SCANNET200_HEAD, common=SCANNET200_COMMON, tail=SCANNET200_TAIL,
         f=dict(exclude=SCANNET200_BACKGROUND)),
}
ABSENT_MODES = ('zero', 'skip', 'mmdet3d')


def confusion_matrix(gt: np.ndarray, pred: np.ndarray,
                     num_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts, rows = GT class, columns = prediction.

    GT outside ``0..K-1`` (the ignore index) is skipped.

    Raises:
        ValueError: Shapes differ, or a prediction on a kept point is outside
            ``0..K-1``.
    """
    gt = np.asarray(gt).reshape(-1).astype(np.int64)
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    if gt.shape != pred.shape:
        raise ValueError(f'{pred.shape[0]} predicted labels for '
                         f'{gt.shape[0]} ground-truth points.')
    keep = (gt >= 0) & (gt < num_classes)
    gt, pred = gt[keep], pred[keep]
    if len(pred) and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(
            f'predicted labels span [{pred.min()}, {pred.max()}], outside the '
            f'{num_classes} classes of the dataset; the model vocabulary and '
            'the dataset classes differ.')
    return np.bincount(gt * num_classes + pred,
                       minlength=num_classes**2).reshape(
                           num_classes, num_classes)


def _indices(items, class_names, what) -> list:
    names = list(class_names)
    out = []
    for c in items:
        if isinstance(c, (int, np.integer)):
            if not 0 <= c < len(names):
                raise ValueError(f'{what}: class index {c} outside '
                                 f'0..{len(names) - 1}.')
            out.append(int(c))
        elif c in names:
            out.append(names.index(c))
        else:
            raise ValueError(f'{what}: {c!r} is not a dataset class (have '
                             f'{names[:5]}...).')
    return sorted(set(out))


def _resolve_groups(class_groups, class_names) -> Dict[str, list]:
    if class_groups is None:
        return {}
    groups = {}
    specs = class_groups if isinstance(class_groups, (list, tuple)) else \
        [class_groups]
    for spec in specs:
        if isinstance(spec, str):
            if spec not in CLASS_GROUP_PRESETS:
                raise ValueError(f'unknown class_groups preset {spec!r}; '
                                 f'have {sorted(CLASS_GROUP_PRESETS)}.')
            spec = CLASS_GROUP_PRESETS[spec]
        for name, members in dict(spec).items():
            what = f'class_groups[{name!r}]'
            if isinstance(members, dict):
                if set(members) != {'exclude'}:
                    raise ValueError(f'{what}: a dict group must be '
                                     "dict(exclude=[...]).")
                drop = _indices(members['exclude'], class_names, what)
                groups[name] = [
                    i for i in range(len(class_names)) if i not in drop
                ]
            else:
                groups[name] = _indices(members, class_names, what)
    return groups


def _mean(x: np.ndarray, mask: np.ndarray) -> float:
    return float(x[mask].mean()) if mask.any() else float('nan')


def metrics_from_confusion(
        cm: np.ndarray,
        class_names: Sequence[str],
        ignore_classes: Sequence[Union[str, int]] = (),
        absent_classes: str = 'zero',
        class_groups=None) -> Dict[str, Union[float, np.ndarray]]:
    """Metrics of a split from its ``(K, K)`` confusion matrix.

    Returns:
        dict: ``mIoU``, ``mAcc``, ``allAcc`` (fractions), ``<group>_mIoU``
        and ``<group>_mAcc`` per class group, and per-class arrays ``iou``,
        ``acc``, ``gt_count`` ``(K,)`` (NaN where undefined or ignored) and
        boolean ``in_miou`` / ``in_macc`` masks of the classes averaged.
    """
    if absent_classes not in ABSENT_MODES:
        raise ValueError(f'absent_classes must be one of {ABSENT_MODES}, '
                         f'got {absent_classes!r}.')
    K = len(class_names)
    cm = np.asarray(cm, np.float64)
    if cm.shape != (K, K):
        raise ValueError(f'confusion matrix {cm.shape} for {K} classes.')
    ign = _indices(ignore_classes, class_names, 'ignore_classes')
    kept = np.ones(K, bool)
    kept[ign] = False
    cm = cm.copy()
    cm[~kept] = 0  # drop points whose GT is an ignored class
    tp = np.diag(cm)
    gt_n = cm.sum(1)
    union = gt_n + cm.sum(0) - tp
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(gt_n > 0, tp / gt_n, np.nan)
    iou[~kept] = np.nan
    acc[~kept] = np.nan
    if absent_classes == 'zero':
        in_iou = in_acc = kept
        iou_m, acc_m = np.nan_to_num(iou), np.nan_to_num(acc)
    elif absent_classes == 'skip':
        in_iou = in_acc = kept & (gt_n > 0)
        iou_m, acc_m = np.nan_to_num(iou), acc
    else:
        in_iou, in_acc = kept & (union > 0), kept & (gt_n > 0)
        iou_m, acc_m = iou, acc
    total = cm.sum()
    out = dict(
        mIoU=_mean(iou_m, in_iou),
        mAcc=_mean(acc_m, in_acc),
        allAcc=float(tp.sum() / total) if total > 0 else float('nan'))
    for name, idx in _resolve_groups(class_groups, class_names).items():
        m = np.zeros(K, bool)
        m[idx] = True
        out[f'{name}_mIoU'] = _mean(iou_m, in_iou & m)
        out[f'{name}_mAcc'] = _mean(acc_m, in_acc & m)
    out.update(iou=iou, acc=acc, gt_count=gt_n.astype(np.int64),
               in_miou=in_iou, in_macc=in_acc)
    return out


@METRICS.register_module()
class PointSegMetric(BaseMetric):
    """Point-level mIoU / mAcc / allAcc accumulated over a split.

    Reads ``pred_pts_seg.pts_semantic_mask`` and
    ``eval_ann_info.pts_semantic_mask`` (class indices; the dataset's
    ``ignore_index`` and any id outside ``0..K-1`` are ignored) and keeps one
    ``(K, K)`` confusion matrix per scene. See the module docstring for the
    protocol options.

    Args:
        ignore_classes (list[str | int]): Classes whose GT points are dropped
            and which leave the means (ScanNet 19-class protocol:
            ``['otherfurniture']``).
        absent_classes (str): ``'zero'`` (GeoPurify upstream), ``'skip'``
            (OpenScene) or ``'mmdet3d'``. Defaults to ``'zero'``.
        class_groups (str | dict | list, optional): ``{name: [classes]}`` or
            ``{name: dict(exclude=[classes])}`` or a preset name
            (``'scannet200'``: head, common, tail, f), or a list of these;
            adds ``<name>_mIoU`` / ``<name>_mAcc``.
        per_class (bool): Also return ``IoU.<class>`` / ``Acc.<class>``.
            The per-class table is always logged. Defaults to False.
        output_dir (str, optional): Also save each scene's predicted labels
            as ``<output_dir>/<scene>.npy`` (``(N,)`` int64 class indices of
            the dataset, aligned with the scene's loaded points; ``<scene>``
            is the point file's stem without ``_vh_clean_2``) and, when the
            model gives logits, their scores as ``<scene>_scores.npy``
            (``(N,)`` float32, the label's softmax probability: the rule of
            ``GeoPurifyInferencer``'s ``pts_scores``), written atomically.
            ``tools/test.py --out DIR`` sets it.
        format_only (bool): Only save the predictions (needs
            ``output_dir``); no ground truth is read and no metric is
            computed, for test splits without labels. Defaults to False.
        keep_results (bool): Accepted for the ``tools/test.py --out``
            contract of mmseg (whose ``IoUMetric`` takes it); the saved
            files are always kept.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric name prefix.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 ignore_classes: Sequence[Union[str, int]] = (),
                 absent_classes: str = 'zero',
                 class_groups=None,
                 per_class: bool = False,
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 keep_results: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if absent_classes not in ABSENT_MODES:
            raise ValueError(f'absent_classes must be one of {ABSENT_MODES}, '
                             f'got {absent_classes!r}.')
        if format_only and not output_dir:
            raise ValueError('PointSegMetric(format_only=True) saves the '
                             'predictions only: give output_dir too '
                             '(tools/test.py --out DIR).')
        self.output_dir = output_dir
        self.format_only = format_only
        self._saved = 0
        self.ignore_classes = list(ignore_classes)
        self.absent_classes = absent_classes
        self.class_groups = class_groups
        self.per_class = per_class

    @property
    def class_names(self) -> list:
        meta = self.dataset_meta or {}
        if meta.get('classes') is None:
            raise ValueError('PointSegMetric needs dataset_meta["classes"] '
                             '(set by the evaluator from the dataset).')
        return list(meta['classes'])

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        K = len(self.class_names)
        for ds in data_samples:
            pred = ds['pred_pts_seg']['pts_semantic_mask']
            if hasattr(pred, 'cpu'):
                pred = pred.cpu().numpy()
            if self.output_dir:
                self._save(ds, np.asarray(pred),
                           (ds.get('pts_seg_logits') or {}).get(
                               'pts_seg_logits'))
            if self.format_only:
                self.results.append(np.zeros((K, K), np.int64))
                continue
            gt = ds['eval_ann_info']['pts_semantic_mask']
            if hasattr(gt, 'cpu'):
                gt = gt.cpu().numpy()
            self.results.append(confusion_matrix(gt, pred, K))

    def _save(self, data_sample: dict, pred: np.ndarray,
              logits=None) -> None:
        """``<output_dir>/<scene>.npy`` (and ``<scene>_scores.npy`` from
        ``logits``), the scene named after its point file
        (``lidar_path``), else its ``sample_idx``."""
        path = data_sample.get('lidar_path')
        if path:
            name = scene_name_of(path)
        elif data_sample.get('sample_idx') is not None:
            name = f'{int(data_sample["sample_idx"]):06d}'
        else:
            raise KeyError(
                'PointSegMetric(output_dir=...) names each saved scene by '
                'its lidar_path or sample_idx, but the data sample has '
                "neither: keep them in Pack3DDetInputs' meta_keys.")
        out = osp.join(self.output_dir, f'{name}.npy')
        labels = pred.reshape(-1).astype(np.int64)
        atomic_write(out, lambda tmp: np.save(tmp, labels), suffix='.npy')
        if logits is not None:
            from ovseg_plugins.seg3d.models.decode_heads.\
                text_embedding_classifier import point_scores
            scores = point_scores(torch.as_tensor(logits))[0].cpu().numpy()
            atomic_write(out[:-4] + '_scores.npy',
                         lambda tmp: np.save(tmp, scores), suffix='.npy')
        self._saved += 1

    def compute_metrics(self, results: list) -> Dict[str, float]:
        if self.output_dir:
            print_log(f'PointSegMetric: predicted labels of {self._saved} '
                      f'scene(s) saved to {self.output_dir}/<scene>.npy',
                      logger='current')
        if self.format_only:
            return {}
        names = self.class_names
        cm = np.sum(results, axis=0)
        m = metrics_from_confusion(cm, names, self.ignore_classes,
                                   self.absent_classes, self.class_groups)
        lines = [f'{"class":<28}{"IoU":>8}{"Acc":>8}{"points":>12}']
        for i, n in enumerate(names):
            iou = 'ign' if not np.isfinite(m['iou'][i]) and \
                n in self.ignore_classes else f'{m["iou"][i]:.4f}'
            lines.append(f'{n:<28}{iou:>8}{m["acc"][i]:>8.4f}'
                         f'{m["gt_count"][i]:>12d}')
        print_log(
            f'PointSegMetric (absent_classes={self.absent_classes!r}, '
            f'ignore_classes={self.ignore_classes}, {int(cm.sum())} points, '
            f'{len(results)} scenes):\n' + '\n'.join(lines),
            logger='current')
        out = {
            k: v
            for k, v in m.items() if not isinstance(v, np.ndarray)
        }
        if self.per_class:
            for i, n in enumerate(names):
                out[f'IoU.{n}'] = float(m['iou'][i])
                out[f'Acc.{n}'] = float(m['acc'][i])
        return out
