"""Posed RGB-D frames of a scene, in the two layouts users have.

* ScanNet's export (``SensReader``, also GeoPurify's and OpenScene's):
  ``SCENE/color/<id>.jpg|png``, ``SCENE/depth/<id>.png`` (uint16, millimetres
  by default; optional), ``SCENE/pose/<id>.txt`` (4×4 camera-to-world) and
  ``SCENE/intrinsic/intrinsic_color.txt`` (3×3 or 4×4).
* mmdetection3d's ``data/scannet/extract_posed_images.py``:
  ``posed_images/<scene>/<id>.jpg``, ``<id>.txt`` (pose) and
  ``intrinsic.txt`` side by side, no depth (its ids are renumbered
  ``00000..`` over the frames it sampled, so use every frame: ``every=1``).

Frame ids are integers; every ``every``-th id is used (ScanNet exports are
usually lifted at every 20th frame).
"""
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

__all__ = [
    'frame_layout', 'list_frames', 'load_matrix', 'load_frame', 'color_path',
    'depth_path', 'pose_path'
]


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


def frame_layout(scene_dir: str) -> Dict[str, Optional[str]]:
    """Where the frames of ``scene_dir`` are (see the module docstring).

    Returns:
        dict: ``color``, ``pose`` and ``depth`` folders (``depth`` None when
        the layout has none), the ``intrinsic`` file and the layout ``name``.

    Raises:
        FileNotFoundError: Neither layout, naming both and the renderer.
    """
    j = lambda *p: osp.join(scene_dir, *p)  # noqa: E731
    if osp.isdir(j('color')):
        return dict(name='ScanNet export', color=j('color'), pose=j('pose'),
                    depth=j('depth'),
                    intrinsic=j('intrinsic', 'intrinsic_color.txt'))
    if osp.isfile(j('intrinsic.txt')):
        return dict(name='mmdet3d extract_posed_images', color=scene_dir,
                    pose=scene_dir, depth=None, intrinsic=j('intrinsic.txt'))
    raise FileNotFoundError(
        f'no posed frames in {scene_dir!r}: expected the ScanNet export '
        'layout (color/<id>.jpg, pose/<id>.txt, intrinsic/'
        'intrinsic_color.txt, optional depth/<id>.png) or mmdet3d\'s '
        'extract_posed_images.py layout (<id>.jpg, <id>.txt, intrinsic.txt). '
        'A cloud without frames: render views from it with '
        'tools/geopurify/render_views.py.')


def list_frames(scene_dir: str, every: int = 20) -> List[str]:
    """Frame ids (strings) of ``scene_dir`` whose integer id is a multiple
    of ``every``, in numeric order."""
    cdir = frame_layout(scene_dir)['color']
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


def color_path(layout: Dict[str, Optional[str]], stem: str) -> str:
    """The colour image of frame ``stem`` (``.jpg``, ``.png`` or ``.jpeg``)
    in a :func:`frame_layout`."""
    cdir = layout['color']
    cpath = next((osp.join(cdir, stem + e) for e in ('.jpg', '.png', '.jpeg')
                  if osp.isfile(osp.join(cdir, stem + e))), None)
    if cpath is None:
        raise FileNotFoundError(f'no colour image {stem}.jpg/.png in {cdir}')
    return cpath


def depth_path(layout: Dict[str, Optional[str]], stem: str) -> Optional[str]:
    """The depth map of frame ``stem`` in a :func:`frame_layout`, or None
    when there is none."""
    ddir = layout['depth']
    p = ddir and osp.join(ddir, stem + '.png')
    return p if p and osp.isfile(p) else None


def pose_path(layout: Dict[str, Optional[str]], stem: str) -> str:
    """The camera-to-world pose file of frame ``stem`` in a
    :func:`frame_layout`."""
    return osp.join(layout['pose'], stem + '.txt')


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
    layout = frame_layout(scene_dir)
    color = np.array(Image.open(color_path(layout, stem)).convert('RGB'))
    H, W = color.shape[:2]
    K = load_matrix(layout['intrinsic'], (3, 3)).copy()
    if abs(2 * K[0, 2] - W) > 0.1 * W or abs(2 * K[1, 2] - H) > 0.1 * H:
        sx, sy = W / (2 * K[0, 2]), H / (2 * K[1, 2])
        K[0, 0] *= sx
        K[0, 2] *= sx
        K[1, 1] *= sy
        K[1, 2] *= sy
    pose = load_matrix(pose_path(layout, stem), (4, 4))
    depth = None
    dpath = depth_path(layout, stem)
    if dpath is not None:
        d = Image.open(dpath)
        if d.size != (W, H):
            d = d.resize((W, H), Image.NEAREST)
        depth = np.asarray(d).astype(np.float32) / depth_scale
    return dict(color=color, depth=depth, pose=pose, intrinsic=K, id=stem)
