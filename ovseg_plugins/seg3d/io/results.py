"""Per-point results written back next to the input's own format."""
import os.path as osp
from typing import Dict, Sequence

import numpy as np

from .cloud import PointCloud
from .las import write_las_labels
from .ply import write_ply

__all__ = ['write_cloud_results']


def write_cloud_results(stem: str, cloud: PointCloud, labels: np.ndarray,
                        scores: np.ndarray, classes: Sequence[str],
                        colours: np.ndarray) -> Dict[str, str]:
    """Write ``<stem>_labels.ply`` (points coloured by class, ``label`` /
    ``score`` properties, world coordinates: double when the cloud has a
    local origin) and, for a LAS / LAZ input, ``<stem>_labels.las|laz``
    (the input file plus ``pred_class`` / ``pred_score``, see
    :mod:`ovseg_plugins.seg3d.io.las`). Each file is written atomically.

    Args:
        stem (str): Output path without the suffix.
        cloud (PointCloud): The input the results belong to.
        labels (ndarray): ``(N,)`` class indices.
        scores (ndarray): ``(N,)`` scores.
        classes (list[str]): Class names.
        colours (ndarray): ``(N, 3)`` 0..255 colours of the points (e.g.
            the class palette at ``labels``).

    Returns:
        dict: ``{'ply': path[, 'las': path]}``.
    """
    files = {'ply': stem + '_labels.ply'}
    write_ply(files['ply'], cloud.xyz, colours,
              dict(label=np.asarray(labels).astype(np.int32),
                   score=np.asarray(scores, np.float32)),
              origin=cloud.origin)
    if cloud.source.get('format') == 'las':
        ext = osp.splitext(cloud.source['path'])[1].lower()
        files['las'] = stem + '_labels' + ext
        write_las_labels(files['las'], cloud.source['path'], labels, scores,
                         list(classes))
    return files
