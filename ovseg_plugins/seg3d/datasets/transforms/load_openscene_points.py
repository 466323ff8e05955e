import os.path as osp

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from mmdet3d.structures import DepthPoints

from ovseg_plugins.utils.checkpoint import (UnsafeCheckpointError,
                                            load_torch_file)

from ...io.cloud import choose_origin

_COLOR_RANGES = {'[-1,1]': (-1., 1.), '[0,1]': (0., 1.), '[0,255]': (0., 255.)}


def _as_array(x, path, field):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f'{path}: field {field!r} is not an array '
                         f'({type(x).__name__}).') from e


def load_openscene_tuple(path: str) -> dict:
    """Read and check an OpenScene / GeoPurify scene file.

    Accepted tuples (numpy arrays or tensors): ``(coords, colors)``,
    ``(coords, colors, labels)``, ``(coords, colors, normals, labels)``.

    Returns:
        dict: ``coords`` (N, 3) float64 (cast to float32 by the callers
        after subtracting a local origin), ``colors`` (N, 3) float32 as
        stored, optional ``normals`` (N, 3) float32 and ``labels`` (N,)
        int64.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Unreadable file, wrong tuple length or field shape,
            non-finite values, non-integer labels.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'scene file not found: {path!r}; check '
                                'data_root / data_prefix.pts / pts_template.')
    try:
        # numpy arrays load with weights_only=True (the safe loader's
        # allow-list); pickled objects of other classes are refused
        data = load_torch_file(path, 'scene file')
    except UnsafeCheckpointError:
        raise  # names the file; nothing in it ran
    except Exception as e:  # noqa: BLE001
        raise ValueError(f'could not read scene file {path!r} '
                         f'({type(e).__name__}: {e}); it may be truncated '
                         '- re-run the preprocessing.') from e
    if isinstance(data, dict):
        raise ValueError(
            f'{path}: holds a dict (keys {sorted(data)[:6]}), expected an '
            'OpenScene tuple (coords, colors[, normals], labels).')
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3, 4):
        raise ValueError(
            f'{path}: expected a tuple (coords, colors[, normals], labels) '
            f'of 2-4 arrays, got {type(data).__name__}'
            f'{"" if not isinstance(data, (tuple, list)) else " of length " + str(len(data))}.')  # noqa: E501
    names = {2: ('coords', 'colors'), 3: ('coords', 'colors', 'labels'),
             4: ('coords', 'colors', 'normals', 'labels')}[len(data)]
    out = {n: _as_array(v, path, n) for n, v in zip(names, data)}
    n_pts = out['coords'].shape[0] if out['coords'].ndim == 2 else -1
    for f in ('coords', 'colors', 'normals'):
        if f not in out:
            continue
        a = out[f]
        if a.ndim != 2 or a.shape[1] != 3 or a.shape[0] != n_pts:
            raise ValueError(
                f'{path}: field {f!r} has shape {a.shape}, expected (N, 3) '
                f'with N = len(coords) = {n_pts}.')
        if not np.issubdtype(a.dtype, np.number) or \
                not np.isfinite(a).all():
            raise ValueError(f'{path}: field {f!r} has non-finite or '
                             'non-numeric values.')
        # coordinates stay float64 until a local origin is subtracted
        out[f] = a.astype(np.float64 if f == 'coords' else np.float32)
    if n_pts == 0:
        raise ValueError(f'{path}: the scene has no points.')
    if 'labels' in out:
        lab = out['labels'].reshape(-1) if out['labels'].ndim == 2 and \
            out['labels'].shape[1] == 1 else out['labels']
        if lab.ndim != 1 or lab.shape[0] != n_pts:
            raise ValueError(f'{path}: field \'labels\' has shape '
                             f'{out["labels"].shape}, expected ({n_pts},).')
        if not np.issubdtype(lab.dtype, np.integer):
            if not np.all(np.isfinite(lab)) or np.any(lab != np.round(lab)):
                raise ValueError(f'{path}: field \'labels\' holds '
                                 'non-integer values.')
        out['labels'] = lab.astype(np.int64)
    return out


def load_label_file(path: str) -> np.ndarray:
    """Per-point label ids from ``.txt`` (one per line), ``.npy`` or
    int64 ``.bin`` (mmdet3d ``semantic_mask``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'label file not found: {path!r}; check data_prefix.'
            'pts_semantic_mask / label_template (ScanNet200 needs '
            'scannet_3d_200/<split>/<scene>.txt with raw ScanNet ids).')
    if path.endswith('.npy'):
        from ovseg_plugins.utils.validation import file_errors
        with file_errors(path, 'label file', 're-run the preprocessing'):
            lab = np.load(path)
    elif path.endswith('.bin'):
        lab = np.fromfile(path, dtype=np.int64)
    else:
        try:
            lab = np.loadtxt(path, dtype=np.float64, ndmin=1)
        except ValueError as e:
            raise ValueError(f'{path}: not a text file of one integer label '
                             'id per line.') from e
    lab = np.asarray(lab).reshape(-1)
    if not np.issubdtype(lab.dtype, np.integer) and \
            np.any(lab != np.round(lab)):
        raise ValueError(f'{path}: label ids must be integers.')
    return lab.astype(np.int64)


@TRANSFORMS.register_module()
class LoadOpenScenePoints(BaseTransform):
    """Load an OpenScene-format scene file into mmdet3d results.

    Required keys: ``lidar_points.lidar_path``; optional
    ``pts_semantic_mask_path`` (labels from a separate file, taking
    precedence over the tuple's), ``seg_label_mapping`` (for range checks).

    Added keys:

    - ``points`` (:obj:`DepthPoints`): ``(N, 6)`` ``[x, y, z, r, g, b]``
      with rgb in 0..255 (same as mmdet3d ScanNet ``.bin`` points).
    - ``coord_origin`` ``(3,)`` float64: the local origin subtracted from
      the file's coordinates before the float32 cast (zeros unless some
      coordinate is beyond ``io.cloud.LOCAL_LIMIT`` m, e.g. UTM).
    - ``normals`` ``(N, 3)`` float32 when the file has them (4-tuple).
    - ``pts_semantic_mask`` ``(N,)`` int64 raw file ids (map them with
      ``PointSegClassMapping``), also into ``eval_ann_info``.

    Args:
        color_range (str): Range of the stored colours: ``'[-1,1]'``
            (OpenScene, default), ``'[0,1]'`` or ``'[0,255]'``.
        with_seg (bool): Load labels. Defaults to True.
        color_tol (float): Tolerance of the colour range check.
    """

    def __init__(self, color_range: str = '[-1,1]', with_seg: bool = True,
                 color_tol: float = 1e-3):
        if color_range not in _COLOR_RANGES:
            raise ValueError(f'color_range must be one of '
                             f'{list(_COLOR_RANGES)}, got {color_range!r}.')
        self.color_range = color_range
        self.with_seg = with_seg
        self.color_tol = color_tol

    def transform(self, results: dict) -> dict:
        path = results['lidar_points']['lidar_path']
        d = load_openscene_tuple(path)
        lo, hi = _COLOR_RANGES[self.color_range]
        c = d['colors']
        tol = self.color_tol * (hi - lo)
        if c.min() < lo - tol or c.max() > hi + tol:
            guess = ('[0,255]' if c.max() > 1.5 else '[0,1]'
                     if c.min() >= 0 else '[-1,1]')
            raise ValueError(
                f'{path}: colors span [{c.min():.3g}, {c.max():.3g}], outside '
                f'color_range={self.color_range!r}; the file is not in that '
                f'format (try LoadOpenScenePoints(color_range={guess!r})).')
        rgb = np.clip((c - lo) / (hi - lo), 0., 1.) * 255.
        # georeferenced coordinates: subtract a float64 local origin before
        # the float32 cast (zeros for scenes near 0, e.g. ScanNet)
        origin = choose_origin(d['coords'])
        pts = np.concatenate([d['coords'] - origin, rgb], 1).astype(
            np.float32)
        results['coord_origin'] = origin
        results['points'] = DepthPoints(pts, points_dim=6,
                                        attribute_dims=dict(color=[3, 4, 5]))
        results['num_pts_feats'] = 6
        if 'normals' in d:
            results['normals'] = d['normals']
        if not self.with_seg:
            return results
        if results.get('pts_semantic_mask_path'):
            src = results['pts_semantic_mask_path']
            lab = load_label_file(src)
            if lab.shape[0] != len(pts):
                raise ValueError(
                    f'{src}: {lab.shape[0]} labels for the {len(pts)} points '
                    f'of {path}; the label file belongs to another scene or '
                    'mesh version.')
        elif 'labels' in d:
            src, lab = path, d['labels']
        else:
            raise ValueError(
                f'{path}: no labels (a 2-tuple) and no label file; set '
                'LoadOpenScenePoints(with_seg=False) for unlabelled scenes '
                'or give the dataset a label_template.')
        mapping = results.get('seg_label_mapping')
        if mapping is not None and len(lab) and (
                lab.min() < 0 or lab.max() >= len(mapping)):
            raise ValueError(
                f'{src}: label ids span [{lab.min()}, {lab.max()}], outside '
                f'0..{len(mapping) - 1} of the dataset\'s label mapping; the '
                'file uses another label convention (OpenScene: 0..K-1 and '
                '255; ScanNet200: raw ScanNet ids) - fix the dataset type or '
                'metainfo.max_label_id.')
        results['pts_semantic_mask'] = lab
        if 'eval_ann_info' in results:
            results['eval_ann_info']['pts_semantic_mask'] = lab
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(color_range={self.color_range!r}, '
                f'with_seg={self.with_seg})')
