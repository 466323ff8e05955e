"""Posed RGB-D frames in the ScanNet export layout.

``SCENE/color/<id>.jpg|png``, ``SCENE/depth/<id>.png`` (uint16, millimetres
by default; optional), ``SCENE/pose/<id>.txt`` (4×4 camera-to-world) and
``SCENE/intrinsic/intrinsic_color.txt`` (3×3 or 4×4). Frame ids are
integers; every ``every``-th id is used (ScanNet exports are usually
lifted at every 20th frame).
"""
import os
import os.path as osp
from typing import Dict, List

import numpy as np

__all__ = ['list_frames', 'load_matrix', 'load_frame']


def load_matrix(path: str, shape) -> np.ndarray:
    """A whitespace-separated matrix file (a 4×4 file for a 3×3 request
    gives its top-left block)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'matrix file not found: {path!r}')
    m = np.loadtxt(path, dtype=np.float64)
    if m.shape == (4, 4) and tuple(shape) == (3, 3):
        m = m[:3, :3]
    if m.shape != tuple(shape):
        raise ValueError(f'{path}: expected a {tuple(shape)} matrix, got '
                         f'{m.shape}')
    return m


def list_frames(scene_dir: str, every: int = 20) -> List[str]:
    """Frame ids (strings) of ``scene_dir/color`` whose integer id is a
    multiple of ``every``, in numeric order."""
    cdir = osp.join(scene_dir, 'color')
    if not osp.isdir(cdir):
        raise FileNotFoundError(
            f'no color/ folder in {scene_dir!r}: posed frames need the '
            'ScanNet layout color/<id>.jpg, depth/<id>.png, pose/<id>.txt, '
            'intrinsic/intrinsic_color.txt')
    stems = []
    for f in os.listdir(cdir):
        stem, ext = osp.splitext(f)
        if ext.lower() in ('.jpg', '.jpeg', '.png') and stem.isdigit() and \
                int(stem) % every == 0:
            stems.append(stem)
    if not stems:
        raise FileNotFoundError(f'no frames with an integer id divisible by '
                                f'{every} in {cdir} (set every=1 to use all)')
    return sorted(stems, key=int)


def load_frame(scene_dir: str, stem: str, depth_scale: float = 1000.
               ) -> Dict[str, np.ndarray]:
    """One frame.

    The intrinsic is rescaled to the colour image when the file describes
    another resolution (ScanNet's ``intrinsic_color.txt`` is for the
    1296×968 sensor image while exports are often smaller): when the image
    width differs from ``2·cx`` by more than 10 %, ``fx, cx`` are scaled by
    ``W / (2·cx)`` and ``fy, cy`` by ``H / (2·cy)``. Depth maps of another
    size are resized (nearest) to the colour image.

    Returns:
        dict: ``color (H, W, 3)`` uint8, ``depth (H, W)`` float32 metres or
        None, ``pose (4, 4)``, ``intrinsic (3, 3)``, ``id``.
    """
    from PIL import Image
    cdir = osp.join(scene_dir, 'color')
    cpath = next((osp.join(cdir, stem + e) for e in ('.jpg', '.png', '.jpeg')
                  if osp.isfile(osp.join(cdir, stem + e))), None)
    if cpath is None:
        raise FileNotFoundError(f'no colour image {stem}.jpg/.png in {cdir}')
    color = np.array(Image.open(cpath).convert('RGB'))
    H, W = color.shape[:2]
    K = load_matrix(osp.join(scene_dir, 'intrinsic', 'intrinsic_color.txt'),
                    (3, 3)).copy()
    if abs(2 * K[0, 2] - W) > 0.1 * W or abs(2 * K[1, 2] - H) > 0.1 * H:
        sx, sy = W / (2 * K[0, 2]), H / (2 * K[1, 2])
        K[0, 0] *= sx
        K[0, 2] *= sx
        K[1, 1] *= sy
        K[1, 2] *= sy
    pose = load_matrix(osp.join(scene_dir, 'pose', stem + '.txt'), (4, 4))
    depth = None
    dpath = osp.join(scene_dir, 'depth', stem + '.png')
    if osp.isfile(dpath):
        d = Image.open(dpath)
        if d.size != (W, H):
            d = d.resize((W, H), Image.NEAREST)
        depth = np.asarray(d).astype(np.float32) / depth_scale
    return dict(color=color, depth=depth, pose=pose, intrinsic=K, id=stem)
