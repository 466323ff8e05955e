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
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from .posed_view import PosedView

__all__ = [
    'frame_layout', 'list_frames', 'load_matrix', 'load_frame', 'RGBDFrames',
    'color_path', 'depth_path', 'pose_path'
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


def load_frame(scene_dir: str, stem: str, depth_scale: float = 1000.,
               intrinsics: Optional[str] = None,
               intrinsic_hw: Optional[Tuple[int, int]] = None,
               layout: Optional[Dict[str, Optional[str]]] = None,
               intrinsic: Optional[np.ndarray] = None) -> PosedView:
    """One frame as a :class:`PosedView`, as read: the intrinsics are those
    of the file (the lifting rescales them to the frame it projects into,
    the depth map when there is one: one rule for every door, see
    :func:`ovseg_plugins.seg3d.lifting.view_intrinsics`), the depth map
    keeps its own size (it must have the colour image's aspect ratio).

    Args:
        scene_dir (str): The scene's frame folder (either layout).
        stem (str): Frame id.
        depth_scale (float): Depth PNG units per metre.
        intrinsics (str, optional): Intrinsics file instead of the
            layout's.
        intrinsic_hw (tuple, optional): ``(H0, W0)`` of the frame the
            intrinsics belong to (default: implied by the principal point).
        layout (dict, optional): :func:`frame_layout` of ``scene_dir``
            (resolved once by the caller).
        intrinsic (ndarray, optional): The intrinsics already read.

    Returns:
        PosedView: ``image``, ``depth`` (metres) or None, ``cam2world``,
        ``intrinsic``, ``id``.
    """
    from PIL import Image
    layout = layout or frame_layout(scene_dir)
    cpath = color_path(layout, stem)
    color = np.array(Image.open(cpath).convert('RGB'))
    ipath = intrinsics or layout['intrinsic']
    K = intrinsic if intrinsic is not None else load_matrix(ipath, (3, 3))
    pose = load_matrix(pose_path(layout, stem), (4, 4))
    depth = None
    dpath = depth_path(layout, stem)
    if dpath is not None:
        depth = np.asarray(Image.open(dpath)).astype(np.float32) / \
            depth_scale
    return PosedView(cam2world=pose, intrinsic=K, image_hw=color.shape[:2],
                     image=color, depth=depth, intrinsic_hw=intrinsic_hw,
                     id=stem, name=dpath or cpath, intrinsic_source=ipath)


class RGBDFrames:
    """The posed frames of a scene folder as a lazily read view source
    (``len`` and iteration over :class:`PosedView`).

    Args:
        scene_dir (str): Either layout (see the module docstring).
        every (int): Use frames whose integer id is a multiple of this.
        depth_scale (float): Depth PNG units per metre.
        intrinsics (str, optional): Intrinsics file instead of the
            layout's.
        intrinsic_hw (tuple, optional): ``(H0, W0)`` of the frame the
            intrinsics belong to (default: implied by the principal point).
    """

    def __init__(self, scene_dir: str, every: int = 20,
                 depth_scale: float = 1000.,
                 intrinsics: Optional[str] = None,
                 intrinsic_hw: Optional[Tuple[int, int]] = None):
        self.scene_dir = scene_dir
        self.layout = frame_layout(scene_dir)
        self.ids = list_frames(scene_dir, every)
        self.depth_scale = depth_scale
        self.intrinsics = intrinsics or self.layout['intrinsic']
        self.intrinsic = load_matrix(self.intrinsics, (3, 3))
        self.intrinsic_hw = intrinsic_hw

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[PosedView]:
        for stem in self.ids:
            yield load_frame(self.scene_dir, stem, self.depth_scale,
                             self.intrinsics, self.intrinsic_hw, self.layout,
                             self.intrinsic)
