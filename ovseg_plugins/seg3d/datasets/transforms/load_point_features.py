import os.path as osp
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from ovseg_plugins.utils.validation import check_int, file_errors

from .point_checks import check_point_columns


@TRANSFORMS.register_module()
class LoadPointFeatures(BaseTransform):
    """Append per-point features from a file to the points' columns.

    Reads ``<feature_root>/<stem>.npz`` (``feat`` (N, C), optional ``mask``
    (N,) visibility) or ``<stem>.npy`` (N, C) for the scene's point file
    (falling back to ``<scene_name>.npz/.npy``, e.g. for OpenScene
    ``<scene>_vh_clean_2.pth`` files), and
    appends the C columns (as float32) to ``results['points']``: fused 2D
    features from ``tools/geopurify/lift_features.py``, or teacher features
    from ``tools/geopurify/export_teacher_features.py`` (or a teacher's own
    export, e.g. Sonata). Points without 2D coverage
    (``mask == 0``) get zero features.

    Args:
        feature_root (str): Folder of per-scene files.
        expected_dim (int, optional): Required C (clear error otherwise).
    """

    def __init__(self, feature_root: str,
                 expected_dim: Optional[int] = None):
        self.feature_root = feature_root
        self.expected_dim = None if expected_dim is None else check_int(
            'expected_dim', expected_dim, 'LoadPointFeatures', lo=1)

    def transform(self, results: dict) -> dict:
        stem = osp.splitext(osp.basename(results['lidar_points']
                                         ['lidar_path']))[0]
        base = osp.join(self.feature_root, stem)
        scene = results.get('scene_name')
        if scene and scene != stem and not osp.isfile(base + '.npz') and \
                not osp.isfile(base + '.npy'):
            base = osp.join(self.feature_root, scene)  # e.g. OpenScene .pth
        if osp.isfile(base + '.npz'):
            with file_errors(base + '.npz', 'point features', 'regenerate '
                             'it (tools/geopurify/lift_features.py)'), \
                    np.load(base + '.npz') as z:
                if 'feat' not in z:
                    raise KeyError(
                        f'{base}.npz has no "feat" array (has '
                        f'{sorted(z.files)[:6]}); write the features as '
                        'np.savez(path, feat=(N, C)[, mask=(N,)]).')
                feat = z['feat'].astype(np.float32)
                if 'mask' in z:
                    mask = z['mask'].reshape(-1)
                    if feat.ndim != 2 or mask.shape[0] != feat.shape[0]:
                        raise ValueError(
                            f'{base}.npz: mask has {mask.shape[0]} entries '
                            f'for features {feat.shape}; regenerate it.')
                    feat[~mask.astype(bool)] = 0
        elif osp.isfile(base + '.npy'):
            with file_errors(base + '.npy', 'point features', 'regenerate '
                             'it (tools/geopurify/lift_features.py)'):
                feat = np.load(base + '.npy').astype(np.float32)
        else:
            raise FileNotFoundError(
                f'point features not found: {base}.npz/.npy; run '
                'tools/geopurify/lift_features.py (teacher features: '
                'tools/geopurify/export_teacher_features.py) for this '
                'scene, or fix feature_root.')
        pts = results['points']
        lidar_path = results['lidar_points']['lidar_path']
        if len(pts) == 0:
            raise ValueError(
                f'{lidar_path}: the point cloud is empty (0 points); remove '
                'the scene from the info file / scene list or regenerate it.')
        if len(pts) < 2:
            raise ValueError(
                f'{lidar_path}: the point cloud has only {len(pts)} point; '
                'GeoPurify\'s neighbourhoods (normals, kNN pooling) need at '
                'least 2: remove the scene from the info file / scene list '
                'or regenerate it.')
        if not np.isfinite(pts.tensor.numpy()).all():
            raise ValueError(
                f'{lidar_path}: points contain NaN/inf (coordinates or '
                'colours); regenerate the point file.')
        if feat.ndim != 2 or feat.shape[0] != len(pts):
            raise ValueError(
                f'{base}: features {feat.shape} do not match the scene\'s '
                f'{len(pts)} points; regenerate them for this point file '
                '(or fix load_dim/use_dim of LoadPointsFromFile: a point file '
                'without colours read with load_dim=6 gives half the points).')
        # (after the row check: a misread file is diagnosed by its width)
        check_point_columns(pts, lidar_path)
        if self.expected_dim is not None and feat.shape[1] != \
                self.expected_dim:
            raise ValueError(f'{base}: {feat.shape[1]} channels, expected '
                             f'{self.expected_dim}.')
        if not np.isfinite(feat).all():
            raise ValueError(f'{base}: features contain NaN/inf; '
                             'regenerate them (tools/geopurify/'
                             'lift_features.py or the teacher export).')
        merged = np.concatenate([pts.tensor.numpy(), feat], axis=1)
        results['points'] = type(pts)(merged, points_dim=merged.shape[1],
                                      attribute_dims=pts.attribute_dims)
        return results
