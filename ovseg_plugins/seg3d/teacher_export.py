"""Export per-point teacher features for GeoPurify configs that read them.

A config whose training pipeline appends teacher columns with
``LoadPointFeatures(feature_root=<teacher_root>)`` (e.g.
``configs/geopurify/scannet.py``) needs one ``<points stem>.npy`` ``(N, C)``
per training scene. :func:`export_teacher_features` writes them with any
registered teacher (``GeometricTeacher``: training-free; or
``PointBackboneTeacher`` around an mmdet3d point backbone and its
checkpoint), reading the scenes exactly as training does (the config's
dataset and its ``LoadPointsFromFile``), so the rows follow the training
point order. Teachers outside mmdet3d (e.g. Sonata) can write the same
files themselves: ``np.save(<teacher_root>/<stem>.npy, (N, C) float)``.
"""
import copy
import os.path as osp
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch

from ovseg_plugins.utils.io import atomic_write

_LOADERS = ('LoadPointsFromFile', 'LoadOpenScenePoints')


def _abs(p: str) -> str:
    return osp.normpath(osp.abspath(p))


def teacher_feature_slot(cfg, split: str = 'train'
                         ) -> Tuple[Optional[int], Optional[str],
                                    Optional[int]]:
    """Where the config reads teacher features.

    Returns:
        tuple: ``(pipeline index, feature_root, expected_dim)`` of the
        ``LoadPointFeatures`` entry of the ``split`` pipeline whose
        ``feature_root`` is ``cfg.teacher_root`` (else the second
        ``LoadPointFeatures``: fused first, teacher second), or
        ``(None, None, None)`` when the pipeline reads no teacher features.
    """
    pipe = cfg[f'{split}_dataloader']['dataset']['pipeline']
    loads = [(i, t) for i, t in enumerate(pipe)
             if t.get('type') == 'LoadPointFeatures']
    root = cfg.get('teacher_root')
    for i, t in loads:
        if root is not None and _abs(t['feature_root']) == _abs(root):
            return i, t['feature_root'], t.get('expected_dim')
    if len(loads) >= 2:
        i, t = loads[1]
        return i, t['feature_root'], t.get('expected_dim')
    return None, None, None


def build_points_dataset(cfg, split: str = 'train'):
    """The ``split`` dataloader's dataset with only its point loading
    (``LoadPointsFromFile`` / ``LoadOpenScenePoints``) in the pipeline,
    fully initialised."""
    from mmengine.registry import DATASETS, DefaultScope
    key = f'{split}_dataloader'
    if key not in cfg:
        raise KeyError(f'the config has no {key}; choose --split among '
                       f'{[k[:-11] for k in cfg if k.endswith("_dataloader")]}')
    dcfg = copy.deepcopy(cfg[key]['dataset'])
    pipe = [t for t in dcfg['pipeline'] if t.get('type') in _LOADERS]
    if not pipe:
        raise ValueError(
            f'{key}.dataset.pipeline has none of {_LOADERS}: the teacher '
            'export reads the points as training does; add it.')
    dcfg['pipeline'] = pipe[:1]
    # the config's scope for the build only: the caller's scope stays
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet3d')):
        ds = DATASETS.build(dcfg)
        ds.full_init()
    return ds


def export_teacher_features(dataset, teacher: torch.nn.Module, out_dir: str,
                            protected: Tuple[str, ...] = (),
                            fp16: bool = False, skip_existing: bool = False,
                            device: str = 'cpu',
                            progress: Optional[Callable] = None
                            ) -> List[Tuple[str, int, int]]:
    """Run ``teacher`` on every scene of ``dataset`` and write its features.

    Args:
        dataset: An mmdet3d dataset whose pipeline yields ``points``
            ``(N, >=6)`` xyz rgb (0..255) and ``lidar_points.lidar_path``
            (:func:`build_points_dataset`).
        teacher (nn.Module): ``(N, 6)`` -> ``(N, C)`` (``GeometricTeacher``,
            ``PointBackboneTeacher``, ...).
        out_dir (str): Writes ``<out_dir>/<points stem>.npy`` ``(N, C)``
            (float32, or float16 with ``fp16``), each atomically.
        protected (tuple[str]): Folders that must not receive the files
            (the points and the fused features): refused with a clear error.
        fp16 (bool): Halve the files (``LoadPointFeatures`` reads float32).
        skip_existing (bool): Keep files already there with N rows (resume
            an interrupted export).
        device (str): Where the teacher runs.
        progress (callable, optional): Called with ``(done, total, stem)``
            after each scene.

    Returns:
        list[tuple[str, int, int]]: ``(path, N, C)`` per scene.
    """
    out_abs = _abs(out_dir)
    for p in protected:
        if p and _abs(p) == out_abs:
            raise ValueError(
                f'the teacher features would be written into {p!r}, a '
                'folder the config reads other inputs from; give another '
                'output folder (--out-dir or the config\'s teacher_root).')
    if len(dataset) == 0:
        raise ValueError('the dataset has no scenes: check ann_file / '
                         'scene_list of the config.')
    teacher = teacher.to(device).eval()
    written, dims = [], set()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        path = info['lidar_points']['lidar_path']
        stem = osp.splitext(osp.basename(path))[0]
        dst = osp.join(out_dir, stem + '.npy')
        if _abs(dst) == _abs(path):
            raise ValueError(f'{dst} is the scene\'s point file; give '
                             'another output folder.')
        pts = dataset[i]['points'].tensor
        if pts.shape[1] < 6:
            raise ValueError(
                f'{path}: {pts.shape[1]} columns per point; the teacher '
                'needs xyz + rgb (LoadPointsFromFile use_color=True, '
                'load_dim >= 6).')
        if skip_existing and osp.isfile(dst):
            old = np.load(dst, mmap_mode='r')
            if old.ndim == 2 and old.shape[0] == pts.shape[0]:
                written.append((dst, old.shape[0], old.shape[1]))
                dims.add(old.shape[1])
                if progress is not None:
                    progress(i + 1, len(dataset), stem)
                continue
        with torch.no_grad():
            feat = teacher(pts[:, :6].to(device)).float().cpu()
        if feat.ndim != 2 or feat.shape[0] != pts.shape[0]:
            raise ValueError(
                f'{path}: the teacher returned {tuple(feat.shape)} for '
                f'{pts.shape[0]} points; it must give one row per point.')
        if not torch.isfinite(feat).all():
            raise ValueError(f'{path}: the teacher returned NaN/inf '
                             'features; check its weights and the points.')
        arr = feat.numpy().astype(np.float16 if fp16 else np.float32)

        def write(tmp, arr=arr):
            with open(tmp, 'wb') as f:
                np.save(f, arr)

        atomic_write(dst, write, suffix='.npy')
        written.append((dst, arr.shape[0], arr.shape[1]))
        dims.add(arr.shape[1])
        if progress is not None:
            progress(i + 1, len(dataset), stem)
    if len(dims) > 1:
        raise ValueError(
            f'{out_dir} holds teacher features of {sorted(dims)} channels: '
            'files of another teacher were kept (skip_existing); export '
            'again without it.')
    return written
